import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from vae.data import datasets as data
from vae.data import idx, pipeline
from vae.data.datasets import load_dataset
from vae.errors import DataError

from .conftest import SUBSET_DIR


def copy_subset(destination: Path, gunzip: bool = False) -> Path:
    """A copy of the committed subset: its IDX files, gunzipped or not, and its DATASET file."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in SUBSET_DIR.iterdir():
        if gunzip and path.suffix == ".gz":
            (destination / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
        else:
            shutil.copy(path, destination / path.name)
    return destination


def test_subset_parses_as_real_mnist(subset):
    assert subset.train_images.shape == (2000, 28, 28)
    assert subset.test_images.shape == (500, 28, 28)
    assert subset.train_images.dtype == np.uint8
    assert len(subset.train_labels) == 2000 and len(subset.test_labels) == 500
    assert set(np.unique(subset.train_labels)) == set(range(10))
    # The first MNIST training digit is a 5, and digits have ink: mean intensity near MNIST's 33.3.
    assert subset.train_labels[0] == 5
    assert 25 < subset.train_images.mean() < 40


def test_plain_and_gzipped_idx_give_the_same_arrays(tmp_path, subset):
    plain = load_dataset("mnist", copy_subset(tmp_path / "plain", gunzip=True))
    np.testing.assert_array_equal(plain.train_images, subset.train_images)
    np.testing.assert_array_equal(plain.test_labels, subset.test_labels)


def test_test_only_reads_no_training_file(tmp_path, subset):
    directory = copy_subset(tmp_path)
    (directory / "train-images-idx3-ubyte.gz").write_bytes(b"not read")
    loaded = load_dataset("mnist", directory, test_only=True)
    assert loaded.train_images.shape == (0, 28, 28)
    np.testing.assert_array_equal(loaded.test_images, subset.test_images)


def idx_header(magic: int, *shape: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in shape)


def truncate_data(raw: bytes) -> bytes:
    return raw[:-100]


def swap_magic(raw: bytes) -> bytes:
    return raw[:2] + (2051).to_bytes(2, "big") + raw[4:]  # an images magic number in a labels file


def drop_last_label(raw: bytes) -> bytes:
    return idx_header(2049, 499) + raw[8:-1]


def label_12(raw: bytes) -> bytes:
    return raw[:8] + bytes([12]) + raw[9:]


def images_14_by_56(raw: bytes) -> bytes:
    return raw[:8] + (14).to_bytes(4, "big") + (56).to_bytes(4, "big") + raw[16:]  # same byte count, wrong shape


def overflowing_dimensions(raw: bytes) -> bytes:
    return idx_header(2051, 2**32 - 1, 2**32 - 1, 2**32 - 1) + raw[16:]


@pytest.mark.parametrize(
    ("file", "damage", "message"),
    [
        ("t10k-images-idx3-ubyte", truncate_data, r"t10k-images-idx3-ubyte: truncated"),
        ("train-labels-idx1-ubyte", swap_magic, r"train-labels-idx1-ubyte: bad IDX magic number 2051, expected 2049"),
        ("t10k-labels-idx1-ubyte", drop_last_label, r"499 labels for 500 images"),
        ("t10k-labels-idx1-ubyte", label_12, r"label 12 is outside 0-9"),
        ("t10k-images-idx3-ubyte", images_14_by_56, r"t10k-images-idx3-ubyte: images are 14x56 pixels, expected 28x28"),
        ("t10k-images-idx3-ubyte", overflowing_dimensions, r"t10k-images-idx3-ubyte: images are 4294967295x4294967295"),
    ],
)
def test_damaged_idx_files_are_named(tmp_path, file, damage, message):
    directory = copy_subset(tmp_path, gunzip=True)
    path = directory / file
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", directory)


def test_truncated_gzip_names_the_file(tmp_path):
    directory = copy_subset(tmp_path)
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupted gzip"):
        load_dataset("mnist", directory)


def test_a_gzip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    directory = copy_subset(tmp_path)
    path = directory / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(idx_header(2051, 250_000, 28, 28))
        for _ in range(196):
            stream.write(bytes(1_000_000))
    assert path.stat().st_size < 300_000
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: refusing to decompress: its header claims"):
        load_dataset("mnist", directory)


def test_an_empty_test_split_is_refused_when_read(tmp_path, subset):
    write_npz(tmp_path / "mnist.npz", subset, x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8))
    with pytest.raises(DataError, match=r"mnist\.npz: holds no test digits"):
        load_dataset("mnist", tmp_path)


def test_empty_and_missing_directories(tmp_path):
    with pytest.raises(DataError, match="holds no mnist data"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    shutil.copy(SUBSET_DIR / "train-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(DataError, match="lacks train-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


def write_npz(path: Path, subset, **overrides):
    arrays = {
        "x_train": subset.train_images,
        "y_train": subset.train_labels,
        "x_test": subset.test_images,
        "y_test": subset.test_labels,
    }
    arrays.update(overrides)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    (path.parent / idx.DATASET_MARKER).write_text("mnist\n")


def test_npz_in_keras_layout(tmp_path, subset):
    write_npz(tmp_path / "mnist.npz", subset)
    loaded = load_dataset("mnist", tmp_path)
    np.testing.assert_array_equal(loaded.train_images, subset.train_images)
    assert loaded.source.endswith("mnist.npz")


def test_npz_missing_keys(tmp_path, subset):
    write_npz(tmp_path / "mnist.npz", subset, y_test=None)
    with pytest.raises(DataError, match=r"mnist\.npz: missing key\(s\) y_test"):
        load_dataset("mnist", tmp_path)


def test_npz_with_pickled_objects_is_refused(tmp_path, subset):
    labels = np.array([object()] * len(subset.test_labels), dtype=object)
    write_npz(tmp_path / "mnist.npz", subset, y_test=labels)
    with pytest.raises(DataError, match="pickled objects, which are refused"):
        load_dataset("mnist", tmp_path)


def test_random_bytes_are_no_npz(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DataError, match=r"mnist\.npz: not a valid npz archive \(not a zip file\)"):
        load_dataset("mnist", tmp_path)


def test_canonical_files_of_the_other_data_set_are_refused(monkeypatch, tmp_path, subset):
    """Canonical files are known by the MD5 of their IDX bytes, and an npz holding the same arrays by the same MD5.
    Here the subset's own digests stand in for MNIST's, so the test needs no full data."""
    paths = {key: SUBSET_DIR / (stem + ".gz") for key, stem in idx.IDX_FILES.items()}
    _, digests = idx.read_idx_files(paths)
    monkeypatch.setattr(idx, "CANONICAL_DIGESTS", {digest: ("mnist", key) for key, digest in digests.items()})
    idx_dir = copy_subset(tmp_path / "idx")
    (idx_dir / idx.DATASET_MARKER).unlink()
    assert load_dataset("mnist", idx_dir).test_images.shape == (500, 28, 28)
    with pytest.raises(DataError, match=r"holds mnist, not fashion-mnist: its files are the canonical mnist"):
        load_dataset("fashion-mnist", idx_dir)
    npz_dir = tmp_path / "npz"
    npz_dir.mkdir()
    write_npz(npz_dir / "fashion-mnist.npz", subset)
    (npz_dir / idx.DATASET_MARKER).unlink()
    with pytest.raises(DataError, match=r"holds mnist, not fashion-mnist"):
        load_dataset("fashion-mnist", npz_dir)


def test_files_of_unknown_origin_need_a_dataset_file(tmp_path):
    directory = copy_subset(tmp_path)
    (directory / idx.DATASET_MARKER).unlink()
    with pytest.raises(DataError, match=r"not the canonical mnist files, so their data set cannot be told"):
        load_dataset("mnist", directory)
    (directory / idx.DATASET_MARKER).write_text("fashion-mnist\n")
    with pytest.raises(DataError, match=r"holds fashion-mnist \(its DATASET file says so\), not mnist"):
        load_dataset("mnist", directory)
    assert load_dataset("fashion-mnist", directory).test_images.shape == (500, 28, 28)


def test_data_dir_from_environment(monkeypatch, subset):
    monkeypatch.setenv("VAE_DATA_DIR", str(SUBSET_DIR))
    assert load_dataset("mnist").train_images.shape == subset.train_images.shape


def test_fashion_mnist_from_debian_folder(monkeypatch, tmp_path):
    # The subset stands in for Debian's files, declared as Fashion-MNIST; the same folder is refused as MNIST.
    directory = copy_subset(tmp_path)
    (directory / idx.DATASET_MARKER).write_text("fashion-mnist\n")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", directory)
    assert load_dataset("fashion-mnist").source == str(directory)


def test_offline_download_says_how_to_use_local_files(monkeypatch):
    import keras

    def no_network():
        raise Exception("URL fetch failure on https://storage.googleapis.com/mnist.npz: None -- [Errno -3]")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(DataError, match=r"could not download mnist \(URL fetch failure.*point --data-dir"):
        load_dataset("mnist")


def test_download_path_is_the_default(monkeypatch, subset):
    import keras

    calls = []

    def fake_load_data():
        calls.append(1)
        return (subset.train_images, subset.train_labels), (subset.test_images, subset.test_labels)

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    loaded = load_dataset("mnist")
    assert calls == [1] and loaded.source == "keras.datasets.mnist"


def test_full_mnist_matches_its_readme(full_mnist_dir):
    full = load_dataset("mnist", full_mnist_dir)
    assert full.train_images.shape == (60000, 28, 28) and full.test_images.shape == (10000, 28, 28)
    assert np.bincount(full.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # The canonical files need no DATASET file, and are known for what they are.
    assert not (full_mnist_dir / idx.DATASET_MARKER).exists()
    with pytest.raises(DataError, match="holds mnist, not fashion-mnist"):
        load_dataset("fashion-mnist", full_mnist_dir)


def collect_batches(dataset):
    return [batch.numpy() for batch in dataset]


def test_training_batches_are_seeded_reshuffled_and_resumable(subset):
    images = subset.train_images[:100]
    full = collect_batches(pipeline.training_dataset(images, 32, seed=5, initial_epoch=0, epochs=2))
    assert [len(batch) for batch in full] == [32, 32, 32, 4] * 2
    assert full[0].shape[1:] == (28, 28, 1) and full[0].dtype == np.float32
    assert 0.0 <= min(b.min() for b in full) and max(b.max() for b in full) <= 1.0
    epoch_1 = np.concatenate(full[:4])
    epoch_2 = np.concatenate(full[4:])
    # Each epoch is a permutation of the same digits, in a different order.
    key = lambda x: np.sort(x.reshape(len(x), -1).sum(axis=1))  # noqa: E731
    np.testing.assert_allclose(key(epoch_1), key(epoch_2))
    assert not np.array_equal(epoch_1, epoch_2)
    # Same seed, same batches; starting at epoch 1 gives exactly the second epoch.
    again = collect_batches(pipeline.training_dataset(images, 32, seed=5, initial_epoch=0, epochs=2))
    assert all(np.array_equal(a, b) for a, b in zip(full, again, strict=True))
    resumed = collect_batches(pipeline.training_dataset(images, 32, seed=5, initial_epoch=1, epochs=2))
    assert all(np.array_equal(a, b) for a, b in zip(full[4:], resumed, strict=True))
    other_seed = collect_batches(pipeline.training_dataset(images, 32, seed=6, initial_epoch=0, epochs=1))
    assert not np.array_equal(np.concatenate(other_seed), epoch_1)


def test_binarized_test_set_is_fixed_and_binary(subset):
    first = data.test_inputs(subset, binarize=True)
    second = data.test_inputs(subset, binarize=True)
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) == {0.0, 1.0}
    # A Bernoulli sample keeps the mean intensity.
    assert abs(first.mean() - subset.test_images.mean() / 255) < 0.01


def test_a_run_s_data_source_is_chosen_from_its_config():
    from vae.config import VAEConfig
    from vae.data.sources import FolderSource, IDXSource, source_of

    digits = source_of(VAEConfig(dataset="fashion-mnist"))
    assert isinstance(digits, IDXSource) and digits.image_shape == (28, 28, 1) and len(digits.classes) == 10
    folder = source_of(VAEConfig(dataset="folder", image_size=16, channels=3, class_names=("a", "b")))
    assert isinstance(folder, FolderSource) and folder.image_shape == (16, 16, 3) and folder.classes == ("a", "b")
    assert "16 pixels" in folder.shape_preparation() and "MNIST" in digits.shape_preparation()
