"""A folder of your own images as a data set: layouts, classes, shapes, the test split, bad folders, and runs on it."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import files_of, invoke
from vae.data import decode, folders, layouts, manifests
from vae.errors import DataError, UsageError
from vae_scripts.train import main as train_command

SUBSET_DIR = Path(__file__).parent / "data" / "mnist-subset"


def write_images(folder: Path, count: int, size=(20, 20), mode="L", seed=0, suffix=".png") -> list[Path]:
    """`count` random images of `size` and `mode` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
        pixels = (rng.random((size[1], size[0], *channels)) * 255).astype(np.uint8)
        path = folder / f"image-{index:03d}{suffix}"
        Image.fromarray(pixels, mode=mode).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def classed(tmp_path) -> Path:
    """DIR/<class>/: three classes of 16x16 gray images, with a hidden file and a text file that are no images."""
    root = tmp_path / "classed"
    for index, name in enumerate(["wheel", "bolt", "gear"]):
        write_images(root / name, 10, size=(16, 16), seed=index)
    (root / "bolt" / ".hidden.png").write_text("not an image, and hidden")
    (root / "bolt" / "notes.txt").write_text("not an image")
    return root


def test_the_three_layouts_and_their_classes(tmp_path, classed):
    scan = layouts.scan_folder(classed)
    assert scan.layout == "classed" and scan.class_names == ("bolt", "gear", "wheel")
    assert len(scan.files) == 30 and scan.files[0].path == "bolt/image-000.png" and scan.files[0].label == 0
    split = tmp_path / "split"
    for part, count in (("train", 6), ("test", 2)):
        for name in ("b", "a"):
            write_images(split / part / name, count, seed=count)
    scan = layouts.scan_folder(split)
    assert scan.layout == "split" and scan.class_names == ("a", "b")
    assert [file.split for file in scan.files].count("test") == 4
    flat = tmp_path / "flat"
    write_images(flat, 5)
    scan = layouts.scan_folder(flat)
    assert scan.layout == "flat" and scan.class_names == () and {file.label for file in scan.files} == {-1}


def test_the_held_out_test_split_is_stratified_and_drawn_with_the_seed(classed):
    scan = layouts.scan_folder(classed)
    held = layouts.hold_out_test(scan, 0.2, seed=4)
    tests = [file for file in held.files if file.split == "test"]
    assert sorted(file.label for file in tests) == [0, 0, 1, 1, 2, 2]
    assert held == layouts.hold_out_test(scan, 0.2, seed=4)
    assert held != layouts.hold_out_test(scan, 0.2, seed=5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("empty", "holds no images"),
        ("empty-class", "holds no images (.png, .jpg, .jpeg, .bmp, .gif, .webp): a class needs some"),
        ("unknown-test-class", "names a class that"),
        ("single", "holds a single image"),
        ("mixed", "holds both images"),
        ("loop", "leads nowhere or round in a loop"),
        ("outside", "leads out of"),
    ],
)
def test_a_folder_that_cannot_be_a_data_set_is_named(tmp_path, make, message):
    root = tmp_path / "data"
    root.mkdir()
    if make == "empty-class":
        write_images(root / "full", 3)
        (root / "empty").mkdir()
    elif make == "unknown-test-class":
        write_images(root / "train" / "a", 3)
        write_images(root / "test" / "b", 3)
    elif make == "single":
        write_images(root, 1)
    elif make == "mixed":
        write_images(root, 2)
        write_images(root / "class", 2)
    elif make == "loop":
        write_images(root / "a", 2)
        os.symlink(root / "a" / "loop.png", root / "a" / "loop.png")
    elif make == "outside":
        write_images(root / "a", 2)
        outside = write_images(tmp_path / "elsewhere", 1)[0]
        os.symlink(outside, root / "a" / "linked.png")
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        layouts.scan_folder(root)


def test_a_symbolic_link_inside_the_folder_is_followed(tmp_path):
    root = tmp_path / "data"
    paths = write_images(root / "a", 2)
    os.symlink(paths[0], root / "a" / "again.png")
    assert [file.path for file in layouts.scan_folder(root).files] == [
        "a/again.png",
        "a/image-000.png",
        "a/image-001.png",
    ]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims width x height gray pixels, then one tiny row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_damaged_images_are_refused_by_name_or_skipped_on_request(tmp_path):
    root = tmp_path / "data"
    write_images(root / "a", 4)
    (root / "a" / "text.png").write_text("not a picture")
    Image.new("L", (40, 40), 128).save(root / "a" / "cut.jpg")
    (root / "a" / "cut.jpg").write_bytes((root / "a" / "cut.jpg").read_bytes()[:200])
    (root / "a" / "bomb.png").write_bytes(png_claiming(50_000, 50_000))
    Image.new("L", (4, 4), 0).save(root / "a" / "tiny.png")
    scan = layouts.scan_folder(root)
    with pytest.raises(DataError) as refused:
        folders.read_folder(scan, 20, 1)
    message = str(refused.value)
    assert message.startswith("4 damaged images: ") and "(--skip-damaged leaves them out)" in message
    assert "bomb.png is 50000x50000 pixels" in message and "and 1 more" in message
    read = folders.read_folder(scan, 20, 1, skip_damaged=True)
    assert len(read.read.files) == 4 and sorted(Path(path).name for path, _ in read.read.damaged) == [
        "bomb.png", "cut.jpg", "text.png", "tiny.png",
    ]  # fmt: skip


def test_the_images_own_shape_is_the_default_and_a_mixed_folder_asks_for_one(tmp_path):
    root = tmp_path / "data"
    write_images(root / "a", 3, size=(24, 24))
    write_images(root / "b", 3, size=(24, 24), mode="RGB")
    scan = layouts.scan_folder(root)
    with pytest.raises(UsageError, match="the images are gray and colour .*: give --channels 1 or 3"):
        folders.read_folder(scan, None, None)
    read = folders.read_folder(scan, None, 3)
    assert (read.side, read.channels) == (24, 3) and read.read.pixels.shape == (6, 24, 24, 3)
    write_images(root / "c", 1, size=(30, 30), seed=9)
    with pytest.raises(UsageError, match="the images differ in size: .* is 24x24, .* is 30x30; give --image-size"):
        folders.read_folder(layouts.scan_folder(root), None, 3)
    wide = tmp_path / "wide"
    write_images(wide, 2, size=(40, 20))
    with pytest.raises(UsageError, match="is 40x20: give --image-size"):
        folders.read_folder(layouts.scan_folder(wide), None, None)


def test_fitting_crops_to_the_middle_square_and_keeps_images_of_the_run_shape_exactly(tmp_path):
    pixels = (np.arange(20 * 20) % 251).astype(np.uint8).reshape(20, 20)
    np.testing.assert_array_equal(decode.fit_image(Image.fromarray(pixels), 20, 1)[..., 0], pixels)
    wide = np.zeros((20, 60), np.uint8)
    wide[:, 20:40] = 255  # a white middle third, black sides
    fitted = decode.fit_image(Image.fromarray(wide), 20, 1)[..., 0]
    assert fitted.min() > 240  # the middle square is all that is kept
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red
    assert decode.fit_image(rgba, 20, 3).min() == 255  # onto white
    sixteen = Image.fromarray(pixels.astype(np.uint16) * 257)
    np.testing.assert_array_equal(decode.fit_image(sixteen, 20, 1)[..., 0], pixels)
    gray = decode.fit_image(Image.fromarray(pixels).convert("RGB"), 20, 1)
    np.testing.assert_array_equal(gray[..., 0], pixels)


def test_the_memory_limit_is_checked_before_reading(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_images(root / "a", 3)
    monkeypatch.setattr(folders, "MAX_DATA_BYTES", 1000)
    with pytest.raises(DataError, match=r"3 images of 20x20x1 take 0.0 GiB, more than the 0 GiB held in memory"):
        folders.read_folder(layouts.scan_folder(root), 20, 1)


def test_names_with_spaces_and_accents_simply_work(tmp_path):
    root = tmp_path / "mes données"
    write_images(root / "pièces détachées", 3)
    write_images(root / "vis à bois", 3, seed=1)
    read = folders.read_folder(layouts.hold_out_test(layouts.scan_folder(root), 0.34, 0), None, None)
    assert read.scan.class_names == ("pièces détachées", "vis à bois") and len(read.read.pixels) == 6


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--image-size", "0"], "--image-size"),
        (["--image-size", "10000"], "--image-size"),
        (["--channels", "2"], "--channels"),
        (["--test-fraction", "0"], "--test-fraction"),
        (["--test-fraction", "1"], "--test-fraction"),
        (["--conditional", "--image-size", "12"], "the conv network needs an image_size that is a multiple of 4"),
        (["--dataset", "fashion-mnist"], "contradicts --data-dir"),
    ],
)
def test_bad_options_for_a_folder_are_refused_before_reading(classed, tmp_path, arguments, fragment):
    result = invoke(train_command, "--data-dir", classed, "--run-dir", tmp_path / "run", *arguments)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert not (tmp_path / "run").exists()


def test_a_conditional_run_needs_two_classes(tmp_path):
    root = tmp_path / "data"
    write_images(root / "only", 6)
    result = invoke(train_command, "--data-dir", root, "--conditional", "--run-dir", tmp_path / "run")
    assert result.exit_code == 2 and "a conditional run needs at least two classes of images, got 1" in result.output
    flat = tmp_path / "flat"
    write_images(flat, 6)
    result = invoke(train_command, "--data-dir", flat, "--conditional", "--run-dir", tmp_path / "run")
    assert result.exit_code == 2 and "needs at least two classes of images, got 0" in result.output


def test_more_classes_than_the_maximum_are_refused(tmp_path, monkeypatch):
    root = tmp_path / "data"
    for index in range(4):
        write_images(root / f"class-{index}", 1, seed=index)
    monkeypatch.setattr(layouts, "MAX_CLASSES", 3)
    with pytest.raises(DataError, match="holds 4 classes, more than the 3 allowed"):
        layouts.scan_folder(root)


@pytest.mark.slow
def test_a_run_on_a_folder_trains_resumes_only_on_the_same_files_and_scores_new_images(classed, tmp_path):
    from vae.run.directory import DATA_FILE
    from vae_scripts.encode import main as encode_command
    from vae_scripts.evaluate import main as evaluate_command

    run_dir = tmp_path / "run"
    options = ["--epochs", 1, "--batch-size", 8, "--conditional", "--verbose", 0, "--test-fraction", 0.2]
    result = invoke(train_command, "--data-dir", classed, "--run-dir", run_dir, *options)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("images of 16x16 gray (the images' own), 3 classes, 24 training and 6 test")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "folder" and config["class_names"] == ["bolt", "gear", "wheel"]
    manifest = json.loads((run_dir / DATA_FILE).read_text())
    assert manifest["layout"] == "classed" and len(manifest["files"]) == 30
    assert sum(split == "test" for _, _, split, _ in manifest["files"]) == 6

    scored = invoke(encode_command, classed / "gear", "--label", "GEAR", "--k", 2, "--run-dir", run_dir)
    assert scored.exit_code == 0, scored.output
    rows = scored.stdout.splitlines()
    assert rows[0].startswith("path,label,class,") and rows[1].split(",")[1:3] == ["1", "gear"] and len(rows) == 11
    assert invoke(evaluate_command, "--run-dir", run_dir, "--k", 2).exit_code == 0

    before = files_of(run_dir)
    write_images(classed / "gear", 1, seed=7, suffix=".bmp")
    resumed = invoke(train_command, "--resume", "--epochs", 2, "--run-dir", run_dir, "--data-dir", classed)
    assert resumed.exit_code == 1
    assert f"{classed} has changed since the run was trained on it: 1 file added (gear/image-000.bmp)" in resumed.output
    (classed / "gear" / "image-000.bmp").unlink()
    (classed / "wheel" / "image-009.png").unlink()
    resumed = invoke(train_command, "--resume", "--epochs", 2, "--run-dir", run_dir, "--data-dir", classed)
    assert resumed.exit_code == 1 and "1 file removed (wheel/image-009.png)" in resumed.output
    assert files_of(run_dir) == before
    test_file = next(path for path, _, split, _ in manifest["files"] if split == "test")
    (classed / test_file).unlink()
    # vae-eval reads the training split too, for its PCA baseline: both missing files are named.
    evaluated = invoke(evaluate_command, "--run-dir", run_dir, "--k", 2)
    removed = ", ".join(sorted([test_file, "wheel/image-009.png"]))
    assert evaluated.exit_code == 1 and f"2 files removed ({removed})" in evaluated.output, evaluated.output
    assert "--skip-damaged" not in evaluated.output


def test_each_split_is_in_the_same_shuffled_order_at_every_read(classed):
    from vae.data import sources
    from vae.run import dataset as run_data

    made = sources.new_run_data({"test_fraction": 0.2, "seed": 0}, classed)
    dataset = made.dataset
    # Listed class by class, the first images of a split, which --limit takes, would all be "bolt".
    assert len(set(dataset.train_labels[:6].tolist())) > 1 and len(set(dataset.test_labels[:3].tolist())) > 1
    again = run_data.run_dataset(None, made.config, classed, manifest=dataset.manifest)
    test_only = run_data.run_dataset(None, made.config, classed, test_only=True, manifest=dataset.manifest)
    for read in (again, test_only):
        np.testing.assert_array_equal(read.test_images, dataset.test_images)
        np.testing.assert_array_equal(read.test_labels, dataset.test_labels)
    np.testing.assert_array_equal(again.train_images, dataset.train_images)
    np.testing.assert_array_equal(again.train_labels, dataset.train_labels)


def test_what_pillow_warns_of_in_a_folder_is_a_warning_naming_the_file(tmp_path):
    from vae.errors import ImageWarning

    write_images(tmp_path / "images", 3)
    damaged = tmp_path / "images" / "damaged-exif.jpg"
    Image.new("L", (20, 20), 128).save(damaged, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x01\x01\x03\x00")
    scan = layouts.scan_folder(tmp_path / "images")
    with pytest.warns(ImageWarning) as caught:
        read = folders.read_images(scan.root, scan.files, 16, 1, processes=1)
    assert len(read.files) == 4
    assert [str(warning.message).split(": ")[0] for warning in caught] == [str(damaged)]


def test_skipping_damaged_images_takes_the_shape_from_the_first_that_reads(tmp_path):
    root = tmp_path / "data"
    write_images(root, 3, size=(20, 20))
    (root / "0-first.png").write_text("not a picture")
    scan = layouts.scan_folder(root)
    with pytest.raises(DataError, match="0-first.png"):
        folders.read_folder(scan, None, None)
    read = folders.read_folder(scan, None, None, skip_damaged=True)
    assert (read.side, read.channels, len(read.read.files)) == (20, 1, 3)
    assert [Path(path).name for path, _ in read.read.damaged] == ["0-first.png"]


def damaged(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a picture")


def test_a_split_or_class_that_skipping_leaves_empty_is_refused_before_training(tmp_path):
    from vae.data import sources

    root = tmp_path / "data"
    for name in ("a", "b"):
        write_images(root / "train" / name, 3, size=(16, 16))
        damaged(root / "test" / name / "broken.png")
    options = {"test_fraction": 0.1, "seed": 0}
    with pytest.raises(DataError, match=r"test: every image is damaged \(2 skipped\): a run needs images to train on"):
        sources.new_run_data(options, root, skip_damaged=True)
    write_images(root / "test" / "a", 2, size=(16, 16))
    with pytest.raises(DataError, match=r"test: every image of class b is damaged: both splits must hold images"):
        folders.read_folder(layouts.scan_folder(root), None, None, skip_damaged=True)
    write_images(root / "test" / "b", 2, size=(16, 16))
    read = folders.read_folder(layouts.scan_folder(root), None, None, skip_damaged=True)
    assert len(read.read.files) == 10 and len(read.read.damaged) == 2
    held_out = tmp_path / "classed"
    write_images(held_out / "a", 2, size=(16, 16))
    damaged(held_out / "a" / "z-broken.png")
    scan = layouts.hold_out_test(layouts.scan_folder(held_out), 0.34, seed=0)
    scan = layouts.Scan(scan.root, scan.layout, scan.class_names, tuple(
        layouts.ImageFile(file.path, file.label, "test" if file.path.endswith("z-broken.png") else "train")
        for file in scan.files
    ))  # fmt: skip
    with pytest.raises(DataError, match=r"every image of the held-out test split is damaged \(1 skipped\)"):
        folders.read_folder(scan, None, None, skip_damaged=True)


def test_the_damaged_files_a_run_skipped_are_no_part_of_it(tmp_path):
    from vae.data import sources
    from vae.run import dataset as run_data

    root = tmp_path / "data"
    for index, name in enumerate(("a", "b")):
        write_images(root / name, 4, size=(16, 16), seed=index)
    damaged(root / "a" / "broken.png")
    damaged(root / "b" / "broken.jpg")
    made = sources.new_run_data({"test_fraction": 0.25, "seed": 0}, root, skip_damaged=True)
    manifest = made.dataset.manifest
    assert sorted(path for path, _ in manifest["skipped"]) == ["a/broken.png", "b/broken.jpg"]
    assert manifests.changes(manifest, layouts.scan_folder(root)) == []  # still there, still damaged
    write_images(root / "a", 1, size=(16, 16), seed=5, suffix=".bmp")
    (root / "a" / "image-000.bmp").rename(root / "a" / "broken.png")  # repaired: the run still leaves it out
    (root / "b" / "broken.jpg").unlink()  # removed
    assert manifests.changes(manifest, layouts.scan_folder(root)) == []
    again = run_data.run_dataset(None, made.config, root, manifest=manifest)
    np.testing.assert_array_equal(again.train_images, made.dataset.train_images)
    write_images(root / "b", 1, size=(16, 16), seed=6, suffix=".gif")
    assert manifests.changes(manifest, layouts.scan_folder(root)) == ["1 file added (b/image-000.gif)"]


def test_a_test_split_lacking_a_class_of_the_training_split_is_refused(tmp_path):
    root = tmp_path / "data"
    for name in ("a", "b", "c"):
        write_images(root / "train" / name, 2)
    write_images(root / "test" / "a", 2)
    with pytest.raises(DataError, match=r"test lacks classes b, c of .*train: both splits must name the same classes"):
        layouts.scan_folder(root)


def test_train_alone_is_read_as_its_own_layout_with_a_test_split_held_out(tmp_path):
    from vae.data import sources

    root = tmp_path / "data"
    for index, name in enumerate(("b", "a")):
        write_images(root / "train" / name, 5, size=(16, 16), seed=index)
    scan = layouts.scan_folder(root)
    assert (scan.root, scan.layout, scan.class_names) == (root.resolve(), "classed", ("a", "b"))
    assert scan.files[0] == layouts.ImageFile("train/a/image-000.png", 0, "train")
    made = sources.new_run_data({"test_fraction": 0.2, "seed": 0}, root)
    first, second = made.description.splitlines()
    assert first == (
        f"{root.resolve()} holds train/ and no test/: its subfolders are read as the classes, and a test split is "
        "held out of its images"
    )
    assert second.startswith("images of 16x16 gray (the images' own), 2 classes, 8 training and 2 test images")
    assert made.config.class_names == ("a", "b")
    assert manifests.changes(made.dataset.manifest, layouts.scan_folder(root)) == []
    flat = tmp_path / "flat"
    write_images(flat / "train", 4)
    scan = layouts.scan_folder(flat)
    assert scan.layout == "flat" and scan.class_names == () and "read without classes" in scan.note


@pytest.mark.parametrize("mode", ["RGB", "L", "I;16", "P", "RGBA", "LA"])
def test_every_form_of_transparency_is_composited_onto_white(tmp_path, mode):
    """A tRNS colour key (RGB, L, 16-bit gray, palette) is transparency as an alpha channel is."""
    ink = {"RGB": (200, 10, 10), "L": 90, "I;16": 90 * 257, "P": 1, "RGBA": (200, 10, 10, 255), "LA": (90, 255)}
    ground = {"RGB": (0, 0, 0), "L": 0, "I;16": 0, "P": 0, "RGBA": (0, 0, 0, 0), "LA": (0, 0)}
    image = Image.new(mode, (20, 20), ground[mode])
    if mode == "P":
        image.putpalette([0, 0, 0, 90, 90, 90] + [0, 0, 0] * 254)
    image.paste(ink[mode], (5, 5, 15, 15))
    key = {"RGB": (0, 0, 0), "L": 0, "I;16": 0, "P": 0}  # the colour of the transparent pixels, in a tRNS chunk
    image.save(tmp_path / "image.png", **({"transparency": key[mode]} if mode in key else {}))
    with Image.open(tmp_path / "image.png") as opened:
        gray = decode.fit_image(opened, 20, 1)[..., 0]
        colour = decode.fit_image(opened, 20, 3)
    assert gray[0, 0] == 255 and gray[10, 10] < 200  # the transparent ground white, the ink kept
    assert (colour[0, 0] == 255).all() and not (colour[10, 10] == 255).all()


def test_a_damaged_first_image_is_named_with_every_other_damaged_one(tmp_path):
    root = tmp_path / "data"
    write_images(root, 3, size=(20, 20))
    damaged(root / "0-first.png")
    damaged(root / "z-last.png")
    scan = layouts.scan_folder(root)
    for image_size, channels in ((None, None), (20, 1)):
        with pytest.raises(DataError) as refused:
            folders.read_folder(scan, image_size, channels)
        message = str(refused.value)
        assert message.startswith("2 damaged images: ") and message.endswith("(--skip-damaged leaves them out)")
        assert "0-first.png is not an image" in message and "z-last.png is not an image" in message
    only_damaged = tmp_path / "only-damaged"
    for name in ("a.png", "b.png"):
        damaged(only_damaged / name)
    with pytest.raises(DataError, match=r"only-damaged: all 2 images are damaged: .*a.png is not an image"):
        folders.read_folder(layouts.scan_folder(only_damaged), None, None)


def test_data_dir_that_differs_from_the_runs_folder_is_named_as_such(tmp_path):
    from vae.data import sources
    from vae.run import dataset as run_data

    root = tmp_path / "data"
    for index, name in enumerate(("a", "b")):
        write_images(root / name, 3, size=(16, 16), seed=index)
    made = sources.new_run_data({"test_fraction": 0.34, "seed": 0}, root)
    copy = tmp_path / "copy"
    for index, name in enumerate(("a", "b")):
        write_images(copy / name, 3, size=(16, 16), seed=index)
    (copy / "b" / "image-002.png").unlink()
    with pytest.raises(DataError) as refused:
        run_data.run_dataset(None, made.config, copy, manifest=made.dataset.manifest)
    assert str(refused.value) == (
        f"--data-dir {copy} differs from the folder the run was trained on, {root}: 1 file removed (b/image-002.png)"
    )
    (root / "a" / "image-000.png").unlink()
    with pytest.raises(DataError, match=rf"^{root} has changed since the run was trained on it: 1 file removed"):
        run_data.run_dataset(None, made.config, None, manifest=made.dataset.manifest)


@pytest.mark.slow
def test_vae_data_dir_of_idx_files_leaves_a_folder_run_reading_its_own_folder(classed, tmp_path, monkeypatch):
    """VAE_DATA_DIR, set for offline MNIST, names IDX data: a run of a folder reads the folder of its data.json."""
    from vae_scripts.evaluate import main as evaluate_command
    from vae_scripts.reconstruct import main as reconstruct_command

    run_dir = tmp_path / "run"
    options = ["--epochs", 1, "--batch-size", 8, "--verbose", 0, "--test-fraction", 0.2]
    assert invoke(train_command, "--data-dir", classed, "--run-dir", run_dir, *options).exit_code == 0
    monkeypatch.setenv("VAE_DATA_DIR", str(SUBSET_DIR))
    outliers = write_images(tmp_path / "outliers", 4, size=(16, 16), seed=11)[0].parent
    for command, arguments in [
        (evaluate_command, ["--k", 2]),
        (evaluate_command, ["--k", 2, "--outliers", outliers]),
        (reconstruct_command, ["--n", 3, "--output", tmp_path / "reconstruction.png"]),
        (train_command, ["--resume", "--epochs", 2, "--verbose", 0]),
    ]:
        result = invoke(command, "--run-dir", run_dir, *arguments)
        assert result.exit_code == 0, (arguments, result.output)
    assert len(json.loads((run_dir / "history.json").read_text())["loss"]) == 2  # the resume trained its epoch
