"""The data a run was trained on, read again for it: its data source's splits, checked against what the run
recorded of them."""

from __future__ import annotations

import numpy as np

from vae.data.datasets import Dataset, test_inputs
from vae.data.sources import source_of
from vae.run.directory import RunDir
from vae.run.records import read_manifest


def run_dataset(
    run_dir: RunDir | None,
    config,
    data_dir=None,
    *,
    test_only: bool = False,
    manifest: dict | None = None,
    progress=None,
) -> Dataset:
    """The data the run in `run_dir` was trained on (`vae.data.sources.DataSource.read`): its IDX data set, or the
    images of its folder that its manifest (`manifest`, else the run's data.json) lists, read from `data_dir` or
    else from where the run found them, and checked against it. With `test_only`, the test split alone."""

    def recorded() -> dict:
        return manifest if manifest is not None else read_manifest(run_dir)

    return source_of(config).read(data_dir, test_only=test_only, manifest=recorded, progress=progress)


def load_test_digits(config, data_dir=None, run_dir: RunDir | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The run's test images as the model saw them (binarized once under --binarize) and their labels. Only the test
    split is read: the IDX test files, or the test images of the run's folder (`run_dataset`)."""
    dataset = run_dataset(run_dir, config, data_dir, test_only=True)
    return test_inputs(dataset, config.binarize), dataset.test_labels
