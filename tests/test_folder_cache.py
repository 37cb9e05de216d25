"""Reading a folder fast: the decode cache, the plain PNGs that TensorFlow decodes to Pillow's very pixels, and the
lines of progress while a folder is read and while an epoch trains."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tests.test_folders import write_images
from vae.data import cache, decode, folders, layouts
from vae.errors import DataError, ImageWarning, VAEWarning


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("VAE_CACHE_DIR", str(directory))
    return directory


def read(root: Path, side: int = 20, channels: int = 1, **options) -> folders.ReadImages:
    scan = layouts.scan_folder(root)
    return folders.read_images(scan.root, scan.files, side, channels, processes=1, **options)


def cache_files(directory: Path) -> list[Path]:
    return sorted((directory / cache.FOLDERS).glob("*.npz"))


def no_decoding(*arguments, **options):
    raise AssertionError("decoded again")


def test_a_second_read_comes_from_the_cache_with_the_same_arrays(tmp_path, cache_dir, monkeypatch):
    write_images(tmp_path / "images" / "a", 4)
    write_images(tmp_path / "images" / "b", 3, mode="RGB", seed=1)
    first = read(tmp_path / "images")
    assert not first.from_cache and len(cache_files(cache_dir)) == 1
    monkeypatch.setattr(folders, "_decode", no_decoding)
    second = read(tmp_path / "images")
    assert second.from_cache
    np.testing.assert_array_equal(second.pixels, first.pixels)
    assert second.pixels.dtype == np.uint8
    assert (second.files, second.headers, second.digests) == (first.files, first.headers, first.digests)
    # Another shape is another entry.
    monkeypatch.undo()
    monkeypatch.setenv("VAE_CACHE_DIR", str(cache_dir))
    assert not read(tmp_path / "images", side=12, channels=3).from_cache
    assert len(cache_files(cache_dir)) == 2


def test_a_changed_file_is_a_miss_even_with_its_size_and_time_kept(tmp_path, cache_dir):
    paths = write_images(tmp_path / "images", 4)
    first = read(tmp_path / "images")
    changed = paths[2]
    stat = changed.stat()
    new = np.full((20, 20), 7, np.uint8)
    Image.fromarray(new, mode="L").save(changed)
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = read(tmp_path / "images")
    assert not second.from_cache
    np.testing.assert_array_equal(second.pixels[2, ..., 0], new)
    np.testing.assert_array_equal(np.delete(second.pixels, 2, axis=0), np.delete(first.pixels, 2, axis=0))
    assert second.digests[2] != first.digests[2]
    # The folder's one entry was replaced, not joined by another.
    assert len(cache_files(cache_dir)) == 1
    assert read(tmp_path / "images").from_cache


def rewritten(path: Path, change) -> None:
    """The cache file at `path` written again with `change(arrays)` applied to its arrays, its record kept."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def another_record(**changes):
    def change(arrays) -> None:
        record = json.loads(arrays["record"].tobytes())
        arrays["record"] = np.frombuffer(json.dumps({**record, **changes}).encode(), np.uint8)

    return change


def one_pixel_changed(arrays) -> None:
    arrays["pixels"][0, 0, 0, 0] ^= 0xFF


def as_floats(arrays) -> None:
    arrays["pixels"] = arrays["pixels"].astype(np.float32)


def cut_in_half(arrays) -> None:
    arrays["pixels"] = arrays["pixels"][:, :10]


DAMAGE = {
    "garbage": lambda path: path.write_bytes(b"not a cache file"),
    "empty": lambda path: path.write_bytes(b""),
    "cut short": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "a pixel changed": lambda path: rewritten(path, one_pixel_changed),
    "floats": lambda path: rewritten(path, as_floats),
    "another shape": lambda path: rewritten(path, cut_in_half),
    "another version": lambda path: rewritten(path, another_record(version=0)),
    "another key": lambda path: rewritten(path, another_record(key="0" * 64)),
    "another Pillow": lambda path: rewritten(path, another_record(pillow="1.0")),
    "no record": lambda path: rewritten(path, lambda arrays: arrays.pop("record")),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_foreign_cache_file_is_a_miss_and_is_replaced(tmp_path, cache_dir, damage):
    write_images(tmp_path / "images", 4)
    first = read(tmp_path / "images")
    (path,) = cache_files(cache_dir)
    DAMAGE[damage](path)
    second = read(tmp_path / "images")
    assert not second.from_cache
    np.testing.assert_array_equal(second.pixels, first.pixels)
    third = read(tmp_path / "images")
    assert third.from_cache
    np.testing.assert_array_equal(third.pixels, first.pixels)


def test_the_cache_directory_comes_from_the_environment(tmp_path, monkeypatch):
    write_images(tmp_path / "images", 3)
    monkeypatch.delenv("VAE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "vae"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "vae"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "vae"
    read(tmp_path / "images")
    assert len(cache_files(tmp_path / "xdg" / "vae")) == 1
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    read(tmp_path / "images")
    assert len(cache_files(tmp_path / "mine")) == 1 and read(tmp_path / "images").from_cache
    monkeypatch.setenv("VAE_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    assert not read(tmp_path / "images").from_cache
    assert len(cache_files(tmp_path / "mine")) == 1


def test_a_cache_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path, monkeypatch):
    write_images(tmp_path / "images", 3)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VAE_CACHE_DIR", str(blocker))
    with pytest.warns(VAEWarning, match="were not cached in .*: the next read decodes them again"):
        first = read(tmp_path / "images")
    assert len(first.files) == 3 and not first.from_cache


def test_damaged_files_and_warnings_read_from_the_cache_as_they_were_decoded(tmp_path, cache_dir, monkeypatch):
    write_images(tmp_path / "images", 3)
    (tmp_path / "images" / "broken.png").write_text("not a picture")
    exif = tmp_path / "images" / "damaged-exif.jpg"
    Image.new("L", (20, 20), 128).save(exif, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x01\x01\x03\x00")
    with pytest.raises(DataError, match="broken.png"):
        read(tmp_path / "images")
    monkeypatch.setattr(folders, "_decode", no_decoding)
    with pytest.raises(DataError, match=r"1 damaged image: .*broken.png"):
        read(tmp_path / "images")
    with pytest.warns(ImageWarning, match="damaged-exif.jpg"):
        skipped = read(tmp_path / "images", skip_damaged=True)
    assert skipped.from_cache and [Path(path).name for path, _ in skipped.damaged] == ["broken.png"]
    assert len(skipped.files) == len(skipped.pixels) == len(skipped.headers) == len(skipped.digests) == 4


def test_a_resumed_runs_read_checks_the_files_it_took_from_the_cache(tmp_path, cache_dir):
    """The manifest's digests are what the cache gives back, so a file changed since is still named."""
    from vae.data import sources

    write_images(tmp_path / "images" / "a", 4, size=(16, 16))
    write_images(tmp_path / "images" / "b", 4, size=(16, 16), seed=1)
    made = sources.new_run_data({"test_fraction": 0.25, "seed": 0, "epochs": 1}, tmp_path / "images")
    again = sources.source_of(made.config).read(manifest=lambda: made.dataset.manifest)
    np.testing.assert_array_equal(again.train_images, made.dataset.train_images)
    Image.fromarray(np.zeros((16, 16), np.uint8), mode="L").save(tmp_path / "images" / "a" / "image-001.png")
    with pytest.raises(DataError, match=r"1 file changed \(a/image-001.png\)"):
        sources.source_of(made.config).read(manifest=lambda: made.dataset.manifest)


# --- plain PNGs: TensorFlow's pixels are Pillow's ------------------------------------------------------------------


def png(pixels: np.ndarray, mode: str, chunks=(), **options) -> bytes:
    info = PngImagePlugin.PngInfo()
    for kind, data in chunks:
        info.add(kind, data)
    stream = io.BytesIO()
    image = Image.fromarray(pixels) if mode == "I;16" else Image.fromarray(pixels, mode=mode if mode != "P" else "L")
    (image.convert("P") if mode == "P" else image).save(stream, "PNG", pnginfo=info, **options)
    return stream.getvalue()


def with_chunk(content: bytes, kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    """`content` with a chunk put just before IEND, its checksum right unless `crc` is given."""
    crc = zlib.crc32(kind + data) if crc is None else crc
    end = content.rindex(b"IEND") - 4
    return content[:end] + struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc) + content[end:]


RNG = np.random.default_rng(3)
GRAY = RNG.integers(0, 256, (20, 20), dtype=np.uint8)
RGB = RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)
PLAIN = {
    "gray": (png(GRAY, "L"), 1),
    "rgb": (png(RGB, "RGB"), 3),
    "gray with dpi, gamma, sRGB and chromaticities": (png(GRAY, "L", dpi=(72, 72), chunks=[
        (b"gAMA", struct.pack(">I", 20000)), (b"sRGB", b"\0"), (b"cHRM", bytes(32))]), 1),
    "rgb with an ICC profile": (png(RGB, "RGB", icc_profile=b"a profile" * 50), 3),
    "rgb with a time after its data": (with_chunk(png(RGB, "RGB"), b"tIME", b"\x07\xe4\x01\x01\0\0\0"), 3),
}  # fmt: skip
NOT_PLAIN = {
    "rgb for a gray run": (png(RGB, "RGB"), 1),
    "gray for an rgb run": (png(GRAY, "L"), 3),
    "another size": (png(GRAY[:16, :16], "L"), 1),
    "a palette": (png(GRAY // 64, "P"), 1),
    "16-bit gray": (png(GRAY.astype(np.uint16) * 257, "I;16"), 1),
    "a transparent colour": (png(GRAY, "L", transparency=0), 1),
    "an alpha channel": (png(np.dstack([RGB, GRAY]), "RGBA"), 3),
    "an EXIF block": (png(RGB, "RGB", exif=b"Exif\0\0II*\0\x08\0\0\0\0\0"), 3),
    "text": (png(GRAY, "L", chunks=[(b"tEXt", b"exif\0abc")]), 1),
    "a gamma of the wrong length": (png(GRAY, "L", chunks=[(b"gAMA", b"\0\0")]), 1),
    "a bad checksum": (with_chunk(png(GRAY, "L"), b"pHYs", bytes(9), crc=0), 1),
    "cut short": (png(GRAY, "L")[:-30], 1),
    "no end": (png(GRAY, "L")[:-12], 1),
    "a JPEG": (b"\xff\xd8\xff\xe0" + bytes(40), 1),
}  # fmt: skip


@pytest.mark.parametrize("name", PLAIN)
def test_a_plain_png_is_told_apart_by_its_chunks_alone(name):
    content, channels = PLAIN[name]
    assert decode.plain_png(content, 20, channels)


@pytest.mark.parametrize("name", NOT_PLAIN)
def test_a_png_that_pillow_would_change_or_refuse_is_not_plain(name):
    content, channels = NOT_PLAIN[name]
    assert not decode.plain_png(content, 20, channels)


def spy_on_tensorflow(monkeypatch) -> list[int]:
    """A list that gets the number of images TensorFlow decoded at each read (of files or of bytes)."""
    counts = []

    def counting(decoder):
        def counted(*arguments):
            counts.append(0)
            for indices, pixels in decoder(*arguments):
                counts[-1] += len(indices)
                yield indices, pixels

        return counted

    for name in ("_read_and_decode", "_decode_plain"):
        monkeypatch.setattr(folders, name, counting(getattr(folders, name)))
    return counts


@pytest.mark.filterwarnings("ignore::vae.errors.ImageWarning")  # the damaged EXIF block, alike both ways
def test_tensorflow_decodes_plain_pngs_to_pillows_pixels_and_leaves_the_rest_to_it(tmp_path, monkeypatch):
    import tensorflow  # noqa: F401  (loaded, as vae-train has it before reading)

    monkeypatch.setenv("VAE_CACHE_DIR", "off")
    decoded_by_tensorflow = spy_on_tensorflow(monkeypatch)
    for channels in (1, 3):
        root = tmp_path / f"images-{channels}"
        root.mkdir()
        cases = {**PLAIN, **NOT_PLAIN}
        for index, (name, (content, _)) in enumerate(cases.items()):
            (root / f"{index:02d}-{name.replace(' ', '-')}.png").write_bytes(content)
        # The first file is a plain PNG of the run's gray or colour, which has TensorFlow read them all.
        (root / "00-first.png").write_bytes(PLAIN["gray" if channels == 1 else "rgb"][0])
        # Too large to be a plain PNG of the run's shape: left unread until Pillow reads it.
        (root / "98-large.png").write_bytes(png(RNG.integers(0, 256, (200, 200, 3), dtype=np.uint8), "RGB"))
        # A plain PNG by its chunks whose data is damaged: TensorFlow fails, and Pillow names it.
        broken = bytearray(png(GRAY if channels == 1 else RGB, "L" if channels == 1 else "RGB"))
        start = broken.index(b"IDAT") + 4
        broken[start : start + 20] = bytes(20)
        (root / "99-broken-data.png").write_bytes(bytes(broken))
        assert decode.plain_png(bytes(broken), 20, channels)
        assert folders.tensorflow_decodes()
        fast = read(root, channels=channels, skip_damaged=True)
        with monkeypatch.context() as patch:
            patch.setattr(folders, "tensorflow_decodes", lambda: False)
            slow = read(root, channels=channels, skip_damaged=True)
        np.testing.assert_array_equal(fast.pixels, slow.pixels)
        assert (fast.files, fast.headers, fast.digests, fast.damaged) == (
            slow.files,
            slow.headers,
            slow.digests,
            slow.damaged,
        )
        assert "99-broken-data.png" in [Path(path).name for path, _ in fast.damaged]
        plain = sum(decode.plain_png(path.read_bytes(), 20, channels) for path in root.iterdir())
        assert decoded_by_tensorflow == [plain - 1]  # all of them, but the one whose data is damaged
        decoded_by_tensorflow.clear()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    assert not folders.tensorflow_decodes()


def test_with_tensorflow_a_changed_folder_is_read_again_as_pillow_reads_it(tmp_path, cache_dir, monkeypatch):
    import tensorflow  # noqa: F401  (loaded, as vae-train has it before reading)

    decoded_by_tensorflow = spy_on_tensorflow(monkeypatch)
    paths = write_images(tmp_path / "images", 6)
    first = read(tmp_path / "images")
    assert folders.tensorflow_decodes() and not first.from_cache and decoded_by_tensorflow == [6]
    Image.fromarray(np.full((20, 20), 9, np.uint8), mode="L").save(paths[1])
    Image.fromarray(np.full((30, 30), 9, np.uint8), mode="L").save(paths[4])  # fitted by Pillow
    second = read(tmp_path / "images")
    assert not second.from_cache and decoded_by_tensorflow == [6, 5]  # from the bytes read to check the cache
    assert read(tmp_path / "images").from_cache
    monkeypatch.setattr(folders, "tensorflow_decodes", lambda: False)
    monkeypatch.setenv("VAE_CACHE_DIR", "off")
    by_pillow = read(tmp_path / "images")
    np.testing.assert_array_equal(second.pixels, by_pillow.pixels)
    assert (second.headers, second.digests) == (by_pillow.headers, by_pillow.digests)


# --- progress -------------------------------------------------------------------------------------------------------


def test_reading_progress_in_a_log_is_a_line_every_ten_seconds_and_one_at_the_end(monkeypatch, capsys):
    import time

    from vae_scripts import common

    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    show = common.reading_progress()
    for done, seconds in ((100, 1), (200, 3), (300, 5), (400, 14), (500, 15)):
        now[0] = 1000.0 + seconds
        show(done, 500, "decoding")
    now[0] = 1016.0
    show(500, 500, "reading")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "decoding images: 400/500 (80 %)",
        "decoding images: 500/500 (100 %)",
        "reading images: 500/500 (100 %)",
    ]


def test_a_long_epoch_shows_a_line_of_progress_every_ten_seconds(capsys):
    from vae.training.progress import StepProgress

    now = [0.0]
    progress = StepProgress(epochs=30, steps=3000, clock=lambda: now[0])
    progress.on_epoch_begin(2)
    for step, seconds in ((0, 1.0), (999, 9.0), (1199, 10.5), (1500, 12.0), (2999, 21.0)):
        now[0] = seconds
        progress.on_train_batch_end(step, {"loss": 123.456})
    progress.on_epoch_begin(3)
    now[0] = 25.0
    progress.on_train_batch_end(0, {})
    now[0] = 32.0
    progress.on_train_batch_end(1, {"loss": float("nan")})
    assert capsys.readouterr().err.splitlines() == [
        "epoch 3/30: 1,200/3,000 steps (40 %), loss 123.46, 10 s",
        "epoch 3/30: 3,000/3,000 steps (100 %), loss 123.46, 21 s",
        "epoch 4/30: 2/3,000 steps (0 %), 11 s",
    ]
