"""Runs of earlier releases: they load, evaluate to the numbers they recorded, and resume; and every variant's weights
file keeps the layout that release wrote."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

import vae
from tests.conftest import SUBSET_DIR
from vae.config import VAEConfig
from vae.run.directory import EVAL_FILE, RunDir
from vae.run.records import ARCHIVE_WEIGHTS_MEMBER

DATA = SUBSET_DIR.parent
# Each committed run directory (its README says which command wrote it).
EARLIER_RUNS = ["run-from-0.1.0", "run-from-0.2.0-conditional", "run-from-0.2.0-vamp-iwae"]
# The HDF5 paths and shapes of the weights file of a tiny run of every variant, as release 0.2.0 wrote them.
WEIGHT_LAYOUTS = DATA / "weight-layouts-0.2.0.json"


@pytest.fixture(params=EARLIER_RUNS)
def earlier_run(request, tmp_path) -> Path:
    run_dir = tmp_path / request.param
    shutil.copytree(DATA / request.param, run_dir)
    return run_dir


@pytest.mark.slow
def test_an_earlier_run_evaluates_to_the_numbers_it_recorded(earlier_run):
    from vae.evaluation.workflow import evaluate_run

    recorded = json.loads((earlier_run / EVAL_FILE).read_text())
    record = evaluate_run(
        RunDir(earlier_run), SUBSET_DIR, k=recorded["k"], limit=recorded["digits"], batch_size=recorded["batch_size"],
        seed=recorded["seed"],
    )  # fmt: skip
    assert record["metrics"] == pytest.approx(recorded["metrics"], rel=1e-6)


@pytest.mark.slow
def test_an_earlier_run_resumes_for_another_epoch(earlier_run):
    from vae.training.loop import train

    run = vae.open_run(earlier_run)
    config, history = run.config, run.history
    longer = config.replace(epochs=config.epochs + 1)
    result = train(longer, vae.load_dataset("mnist", SUBSET_DIR), RunDir(earlier_run), resume=True, verbose=0)
    assert len(result.history["test_loss"]) == len(history["test_loss"]) + 1
    assert result.history["test_loss"][: len(history["test_loss"])] == history["test_loss"]
    assert vae.open_run(earlier_run).config == longer


@pytest.mark.parametrize("variant", sorted(json.loads(WEIGHT_LAYOUTS.read_text())))
def test_every_variant_saves_the_weights_layout_of_the_earlier_release(variant, tmp_path):
    """The paths of a weights file name the model's attributes and its layers in order: a model that laid them out
    differently could not read the runs saved before it."""
    import h5py

    from vae.training.setup import build_model

    layout = json.loads(WEIGHT_LAYOUTS.read_text())[variant]
    model = build_model(VAEConfig.from_dict(layout["config"]), steps_per_epoch=8)
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "model.keras")
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:
        (tmp_path / "weights.h5").write_bytes(archive.read(ARCHIVE_WEIGHTS_MEMBER))
    saved = {}
    with h5py.File(tmp_path / "weights.h5", "r") as weights:
        weights.visititems(
            lambda path, item: saved.update({path: list(item.shape)}) if hasattr(item, "shape") else None
        )
    assert saved == layout["weights"]
