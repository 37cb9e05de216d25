"""Your own digits: reading images, MNIST-style preprocessing, `vae-encode` and `vae-reconstruct --images`."""

from __future__ import annotations

import csv
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from tests.conftest import files_of, invoke
from vae.config import IMAGE_SIDE
from vae.data.decode import MAX_IMAGE_PIXELS
from vae.data.images import preprocess, read_image
from vae.errors import DataError
from vae_scripts.encode import main as encode_command
from vae_scripts.reconstruct import main as reconstruct_command

HAND_DRAWN = Path(__file__).parent / "data" / "hand-drawn"


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, columns = np.indices(image.shape)
    return float((rows * image).sum() / image.sum()), float((columns * image).sum() / image.sum())


def test_a_dark_off_centre_drawing_becomes_a_centred_mnist_digit(tmp_path):
    drawing = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(drawing).ellipse((30, 20, 110, 150), outline=0, width=10)  # a "0" in the upper left
    drawing.save(tmp_path / "zero.png")
    digit = preprocess(read_image(tmp_path / "zero.png"))
    assert digit.shape == (IMAGE_SIDE, IMAGE_SIDE) and digit.dtype == np.float32
    assert 0.0 <= digit.min() and digit.max() <= 1.0 and digit.max() > 0.9
    middle = IMAGE_SIDE // 2  # where MNIST's digits have their centre of mass
    row, column = centre_of_mass(digit)
    assert abs(row - middle) <= 1 and abs(column - middle) <= 1
    ink = np.argwhere(digit > 0.05)
    assert ink.min() >= 4 and ink.max() <= 23  # inside the central 20 x 20 box
    # Light ink on a dark ground, as in MNIST: the corners are black, the ring is bright.
    assert digit[0, 0] == 0 and digit[-1, -1] == 0


def test_a_photo_with_an_uneven_gray_ground_keeps_only_the_ink():
    height, width = 240, 200
    ground = np.linspace(0.55, 0.85, width)[None, :].repeat(height, axis=0)
    ink = np.zeros((height, width))
    ink[60:180, 95:110] = 1  # a "1"
    photo = ground * (1 - ink) + 0.15 * ink
    digit = preprocess(photo.astype(np.float32))
    columns = np.flatnonzero(digit.max(axis=0) > 0.2)
    assert columns.max() - columns.min() <= 4  # only the stroke, not the brighter side of the ground
    assert digit[:, :8].max() < 0.05 and digit[:, -8:].max() < 0.05


def test_an_mnist_digit_saved_as_a_png_comes_back(tmp_path, subset):
    original = subset.test_images[0]
    Image.fromarray(original).save(tmp_path / "digit.png")
    from vae.data.images import load_digits

    _, as_is = load_digits([tmp_path / "digit.png"], preprocessed=False)
    np.testing.assert_array_equal(as_is[0, ..., 0], original / np.float32(255))
    _, prepared = load_digits([tmp_path / "digit.png"])
    # MNIST's digits went through the same procedure, so preprocessing one again changes it little.
    assert np.abs(prepared[0, ..., 0] - original / 255).mean() < 0.05
    assert np.corrcoef(prepared[0].ravel(), original.ravel())[0, 1] > 0.9
    # Over many test digits the procedure is the identity for most (docs/own-images.md says so), and what it gives is
    # on the 8-bit levels, where a likelihood of 8-bit levels and the input complexity measure the same image.
    prepared = [preprocess(digit / np.float32(255)) for digit in subset.test_images[:200]]
    changes = [
        np.abs(new - digit / np.float32(255)).mean()
        for new, digit in zip(prepared, subset.test_images[:200], strict=True)
    ]
    assert np.median(changes) == 0 and max(changes) < 0.1
    levels = np.stack(prepared) * 255
    np.testing.assert_array_equal(levels, np.round(levels))


def test_vae_encode_writes_a_csv_row_per_image(run_copy, tmp_path):
    output = tmp_path / "scores.csv"
    saved = tmp_path / "prepared"
    result = invoke(encode_command, HAND_DRAWN, "--k", 20, "--run-dir", run_copy, "--output", output,
                    "--save-preprocessed", saved)  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert [Path(row["path"]).name for row in rows] == sorted(path.name for path in HAND_DRAWN.iterdir())
    assert list(rows[0]) == [
        "path", "z_mean_0", "z_mean_1", "z_log_var_0", "z_log_var_1", "negative_elbo", "importance_weighted_bce_bound",
    ]  # fmt: skip
    negative_elbo = np.array([float(row["negative_elbo"]) for row in rows])
    importance_weighted = np.array([float(row["importance_weighted_bce_bound"]) for row in rows])
    assert np.all(np.isfinite(negative_elbo)) and np.all(negative_elbo > 0)
    # The importance-weighted bound is the tighter one: lower on average (Burda et al. 2015, theorem 1).
    assert importance_weighted.mean() <= negative_elbo.mean()
    written = sorted(saved.iterdir())
    assert len(written) == len(rows)
    with Image.open(written[0]) as picture:
        assert picture.size == (IMAGE_SIDE, IMAGE_SIDE) and picture.mode == "L"


def test_vae_encode_scores_a_typical_digit_lower_than_noise(run_copy, tmp_path, subset):
    Image.fromarray(subset.test_images[3]).save(tmp_path / "digit.png")
    noise = (np.random.default_rng(0).random((IMAGE_SIDE, IMAGE_SIDE)) * 255).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    result = invoke(encode_command, tmp_path / "digit.png", tmp_path / "noise.png", "--no-preprocess", "--k", 10,
                    "--run-dir", run_copy)  # fmt: skip
    assert result.exit_code == 0, result.output
    digit, noise = csv.DictReader(io.StringIO(result.stdout))
    assert float(noise["negative_elbo"]) > float(digit["negative_elbo"]) + 100


def test_a_conditional_run_labels_each_image(conditional_run, tmp_path):
    result = invoke(encode_command, HAND_DRAWN / "digit-3.jpg", "--digit", 3, "--k", 5, "--run-dir", conditional_run)
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["label"] == "3"
    result = invoke(encode_command, HAND_DRAWN, "--k", 5, "--run-dir", conditional_run)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 10 and all(row["label"] in set("0123456789") for row in rows)


def test_the_best_label_is_the_argmax_of_log_p_x_given_y(conditional_run, subset):
    from vae.evaluation.scores import classify, score_images
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    model, _, _ = load_run(RunDir(conditional_run))
    images = (subset.test_images[:6][..., None] / 255).astype("float32")
    labels, log_likelihoods = classify(model, images, 300)
    assert log_likelihoods.shape == (6, 10)
    np.testing.assert_array_equal(labels, np.argmax(log_likelihoods, axis=1))
    # Each column is the importance-weighted log p(x|y) of that label, exactly as score_images estimates it: the
    # noise of an image is its own, whatever label or neighbours it is scored with.
    for label in (0, 7):
        scores = score_images(model, images, 300, labels=np.full(6, label))
        np.testing.assert_array_equal(-scores["importance_weighted_bce_bound"], log_likelihoods[:, label])


def test_vae_reconstruct_draws_your_images(run_copy, tmp_path):
    output = tmp_path / "mine.png"
    result = invoke(reconstruct_command, "--images", HAND_DRAWN, "--run-dir", run_copy, "--output", output)
    assert result.exit_code == 0, result.output
    with Image.open(output) as picture:
        assert picture.format == "PNG" and picture.size[0] > 500
    result = invoke(reconstruct_command, HAND_DRAWN, "--run-dir", run_copy, "--output", output)
    assert result.exit_code == 2 and "pass --images before their paths" in result.output


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and header that claim width x height gray pixels, with one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def write_case(directory: Path, case: str) -> Path:
    if case == "not an image":
        path = directory / "notes.png"
        path.write_text("these are my notes, not a picture\n")
    elif case == "empty folder":
        path = directory / "empty"
        path.mkdir()
    elif case == "no ink":
        path = directory / "blank.png"
        Image.new("L", (100, 80), 200).save(path)
    elif case == "1x1":
        path = directory / "dot.png"
        Image.new("L", (1, 1), 0).save(path)
    elif case == "50000x50000":
        path = directory / "bomb.png"
        path.write_bytes(png_claiming(50_000, 50_000))
    elif case == "truncated":
        path = directory / "cut.jpg"
        buffer = io.BytesIO()
        Image.new("L", (200, 200), 255).save(buffer, format="JPEG")
        path.write_bytes(buffer.getvalue()[:300])
    elif case == "missing":
        path = directory / "nowhere.png"
    else:
        raise AssertionError(case)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not an image", "notes.png is not an image that can be read (PNG, JPEG, BMP, GIF or WebP)"),
        ("empty folder", "empty/ holds no image files (.png, .jpg, .jpeg, .bmp, .gif, .webp)"),
        ("no ink", "blank.png holds no ink: it is all one shade"),
        ("1x1", "dot.png is 1x1 pixels, too small to hold a digit: give at least 8x8"),
        ("50000x50000", f"bomb.png is 50000x50000 pixels, more than the {MAX_IMAGE_PIXELS:,} read at most"),
        ("truncated", "cut.jpg could not be read as an image"),
        ("missing", "nowhere.png: no such file or folder"),
    ],
)
def test_bad_images_are_refused_in_one_line_and_nothing_is_written(run_copy, tmp_path, case, message):
    path = write_case(tmp_path, case)
    output, saved = tmp_path / "scores.csv", tmp_path / "prepared"
    before = files_of(run_copy)
    result = invoke(encode_command, path, "--run-dir", run_copy, "--output", output, "--save-preprocessed", saved)
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert message in result.output
    assert not output.exists() and not saved.exists() and files_of(run_copy) == before
    result = invoke(reconstruct_command, "--images", path, "--run-dir", run_copy, "--output", tmp_path / "r.png")
    assert result.exit_code == 1 and message in result.output and not (tmp_path / "r.png").exists()


def test_without_preprocessing_an_image_must_be_28_by_28(run_copy, tmp_path):
    Image.new("L", (300, 200), 0).save(tmp_path / "big.png")
    result = invoke(encode_command, tmp_path / "big.png", "--no-preprocess", "--run-dir", run_copy)
    assert result.exit_code == 1
    assert "big.png is 300x200: without preprocessing an image must be in MNIST form, 28x28" in result.output


def test_the_bomb_is_refused_before_decoding(tmp_path):
    """The refusal comes from the header: reading a 2.5-gigapixel image would take 2.5 GB."""
    import resource

    path = write_case(tmp_path, "50000x50000")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError, match="more than the"):
        read_image(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB: under 100 MB more


@pytest.mark.slow
def test_the_hand_drawn_digits_are_made_by_their_script(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).parents[1] / "benchmarks" / "hand_drawn_digits.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    made, committed = sorted(tmp_path.iterdir()), sorted(HAND_DRAWN.iterdir())
    assert [path.name for path in made] == [path.name for path in committed]
    for new, old in zip(made, committed, strict=True):
        # PNGs agree to the byte; a JPEG encoder of another version may round a little differently.
        with Image.open(new) as first, Image.open(old) as second:
            difference = np.abs(np.asarray(first, np.int16) - np.asarray(second, np.int16))
        assert difference.max() <= (0 if new.suffix == ".png" else 8), new.name


def test_transparency_orientation_size_and_format(tmp_path):
    """What the README promises of reading: transparency onto white, a JPEG's EXIF orientation applied, large images
    shrunk to fit 1,024 pixels, and PNG and JPEG only."""
    drawing = Image.new("RGBA", (200, 100), (0, 0, 0, 0))  # transparent, with black strokes
    ImageDraw.Draw(drawing).line([(40, 20), (40, 80)], fill=(0, 0, 0, 255), width=8)
    drawing.save(tmp_path / "transparent.png")
    gray = read_image(tmp_path / "transparent.png")
    assert gray[0, 0] == 1.0 and gray[50, 40] == 0.0  # a white ground, the stroke black
    assert preprocess(gray).max() > 0.9

    photo = Image.new("L", (300, 100), 255)
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    photo.save(tmp_path / "turned.jpg", exif=exif)
    assert read_image(tmp_path / "turned.jpg").shape == (300, 100)

    Image.new("L", (3000, 2000), 255).save(tmp_path / "large.png")
    assert read_image(tmp_path / "large.png").shape == (683, 1024)

    Image.new("L", (50, 50), 255).save(tmp_path / "digit.tiff")
    with pytest.raises(DataError, match="digit.tiff is not an image that can be read"):
        read_image(tmp_path / "digit.tiff")


def test_a_16_bit_png_gives_the_digit_of_its_8_bit_twin(tmp_path):
    drawing = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(drawing).line((60, 15, 60, 105), fill=0, width=12)
    ImageDraw.Draw(drawing).line((40, 30, 60, 15), fill=90, width=8)  # a mid-gray stroke too
    drawing.save(tmp_path / "eight-bit.png")
    Image.fromarray(np.asarray(drawing, dtype=np.uint16) * 257).save(tmp_path / "sixteen-bit.png")
    with Image.open(tmp_path / "sixteen-bit.png") as sixteen:
        assert sixteen.mode == "I;16"
    eight = preprocess(read_image(tmp_path / "eight-bit.png"))
    sixteen = preprocess(read_image(tmp_path / "sixteen-bit.png"))
    assert np.abs(eight - sixteen).max() <= 1 / 255
    # Dark ink on lighter paper, both far above 255 as 16-bit values: a plainly visible digit.
    levels = np.full((80, 80), 60000, np.uint16)
    levels[15:65, 35:45] = 20000
    Image.fromarray(levels).save(tmp_path / "high-levels.png")
    digit = preprocess(read_image(tmp_path / "high-levels.png"))
    assert digit.max() > 0.9 and digit[0, 0] == 0


def test_a_damaged_exif_block_is_one_warning_line(tmp_path, run_copy):
    drawing = Image.new("L", (60, 60), 255)
    ImageDraw.Draw(drawing).ellipse((10, 10, 50, 50), outline=0, width=5)
    path = tmp_path / "damaged-exif.jpg"
    drawing.save(path, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x01\x01\x03\x00")
    result = CliRunner().invoke(encode_command, [str(path), "--k", "2", "--run-dir", str(run_copy)])
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.stderr.splitlines() if line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith(f"warning: {path}: Corrupt EXIF data")
    assert "site-packages" not in result.stderr
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert float(row["negative_elbo"]) > 0


def test_save_preprocessed_changes_nothing_when_the_output_cannot_be_written(tmp_path, run_copy):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "0000-digit-3.png").write_text("mine")
    (tmp_path / "a-file").write_text("in the way")
    output = tmp_path / "a-file" / "scores.csv"
    result = invoke(encode_command, HAND_DRAWN / "digit-3.jpg", "--save-preprocessed", prepared, "--output", output,
                    "--k", 2, "--run-dir", run_copy)  # fmt: skip
    assert result.exit_code == 1
    assert result.output == f"error: Not a directory: {tmp_path / 'a-file'}\n"
    assert (prepared / "0000-digit-3.png").read_text() == "mine"
    # Once the output can be written, the folder's file of the same name is replaced, as the README says.
    output = tmp_path / "missing-folder" / "scores.csv"
    result = invoke(encode_command, HAND_DRAWN / "digit-3.jpg", "--save-preprocessed", prepared, "--output", output,
                    "--k", 2, "--run-dir", run_copy)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert output.is_file() and len(output.read_text().splitlines()) == 2
    with Image.open(prepared / "0000-digit-3.png") as picture:
        assert picture.size == (IMAGE_SIDE, IMAGE_SIDE)


def test_a_file_name_that_is_not_utf8_goes_into_the_csv_file(tmp_path, run_copy):
    folder = tmp_path / "images"
    folder.mkdir()
    odd = os.fsdecode(os.fsencode(str(folder)) + b"/bad-\xff\xfe.png")
    Image.open(HAND_DRAWN / "digit-0.png").save(odd)
    output = tmp_path / "bad.csv"
    result = invoke(encode_command, folder, "--output", output, "--k", 2, "--run-dir", run_copy)
    assert result.exit_code == 0, result.output
    assert b"bad-\xff\xfe.png" in output.read_bytes()


def test_reconstruct_refuses_options_it_would_ignore(run_copy, tmp_path):
    image = HAND_DRAWN / "digit-2.png"
    for arguments, fragment in [
        (["--images", image, "--indices", "3,4", "--n", 7], "--n and --indices choose test digits"),
        (["--images", image, "--n", 7], "--n choose test digits"),
        (["--n", 2, "--digit", 3], "--digit 3 needs a conditional run"),
        (["--n", 2, "--save-preprocessed", tmp_path / "p"], "--save-preprocessed prepare your own images"),
        (["--n", 2, "--no-preprocess"], "--no-preprocess prepare your own images"),
    ]:
        result = invoke(reconstruct_command, *arguments, "--run-dir", run_copy, "--output", tmp_path / "r.png")
        assert result.exit_code == 2, (arguments, result.output)
        assert fragment in result.output, (arguments, result.output)
    assert not (tmp_path / "r.png").exists() and not (tmp_path / "p").exists()


def test_an_images_scores_do_not_depend_on_its_neighbours(subset, tiny_config):
    """The same digit scores the same alone, among 500 others and at another place among them: a property of how
    the noise is drawn and the batches are formed, which an untrained model shows as well as a trained one."""
    from vae.evaluation.scores import score_images
    from vae.model.autoencoder import VAE

    model = VAE(tiny_config.replace(architecture="mlp"))
    model.build()
    images = (subset.test_images[:500][..., None] / 255).astype(np.float32)
    k = 130  # more samples than the decoder takes at once (2,000 rows), so that they are combined over two calls
    alone = score_images(model, images[7:8], k)
    among = score_images(model, images, k)
    moved = score_images(model, np.roll(images[:40], 13, axis=0), k)  # another batch, at another place within it
    for name, values in alone.items():
        np.testing.assert_array_equal(values[0], among[name][7], err_msg=name)
        np.testing.assert_array_equal(values[0], moved[name][20], err_msg=name)
    # Different digits still draw different noise, and another seed other noise for the same digit.
    reseeded = score_images(model, images[7:8], k, seed=1)
    assert reseeded["negative_elbo"][0] != alone["negative_elbo"][0]


@pytest.mark.parametrize("mode", ["RGB", "L", "I;16"])
def test_a_trns_colour_key_is_transparent_onto_white_as_an_alpha_channel_is(tmp_path, mode):
    ground, ink = {"RGB": ((0, 0, 0), (90, 90, 90)), "L": (0, 90), "I;16": (0, 90 * 257)}[mode]
    image = Image.new(mode, (40, 40), ground)
    image.paste(ink, (10, 10, 30, 30))
    image.save(tmp_path / "keyed.png", transparency=ground)  # a tRNS chunk: pixels of this colour are transparent
    gray = read_image(tmp_path / "keyed.png")
    assert gray[0, 0] == 1.0 and gray[20, 20] == pytest.approx(90 / 255, abs=1e-3)
