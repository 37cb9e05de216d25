"""Hostile inputs against every command: damaged runs, damaged data, absurd options, signals, a full disk.

    .venv/bin/python -m pytest -m acceptance tests/acceptance/test_hostile_inputs.py
    .venv/bin/python -m pytest -m acceptance tests/acceptance/test_hostile_inputs.py -k decode-z-underscore

One test per case of hostile_cases.CASES, with the case's name as its id, in the table's order. The session first
trains one tiny run (1 epoch on 512 digits of the committed subset, about 20 s); each case copies it and the data
folder, damages the copies and runs its command in a subprocess (harness.py says when a case is clean). A case that
is not clean fails with its exit code, the first line of stderr, the files it changed and the checks it failed.

The cases that need the full MNIST files find them at $VAE_FULL_MNIST_DIR or ../shared/datasets/mnist beside the
checkout, and are skipped where neither is there; the full-disk case is skipped where there is no root to mount its
tmpfs. At the end of a run of the whole suite (no -k, every case run), tests/acceptance/hostile_inputs.md gets the
table of every case, ending with the line `clean N/N` (skipped cases not counted); a selection leaves it alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .harness import (
    SUBSET_DIR,
    Row,
    Settings,
    describe,
    document,
    full_mnist_dir,
    run_case,
    train_base,
    write_atomically,
)
from .hostile_cases import CASES

TABLE = Path(__file__).with_name("hostile_inputs.md")
COMMAND = ".venv/bin/python -m pytest -m acceptance tests/acceptance/test_hostile_inputs.py"
# A command is stopped after 300 s, or once it grows past 8,000 MB resident, to protect the machine.
SETTINGS = Settings(timeout=300, rss_limit_mb=8000)


@dataclass
class Suite:
    """The base run every case copies, where the cases run, and the rows of the cases run so far."""

    base: Path
    work: Path
    full: Path | None
    started: float
    rows: dict[str, Row] = field(default_factory=dict)


def whole_suite_ran(config: pytest.Config, rows: dict[str, Row]) -> bool:
    return not config.getoption("keyword") and all(case.name in rows for case in CASES)


@pytest.fixture(scope="session")
def suite(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    started = time.perf_counter()
    work = tmp_path_factory.mktemp("hostile")
    train_base(work / "base", SUBSET_DIR, SETTINGS)
    suite = Suite(base=work / "base", work=work, full=full_mnist_dir(), started=started)
    yield suite
    if whole_suite_ran(request.config, suite.rows):
        rows = [suite.rows[case.name] for case in CASES]
        write_atomically(TABLE, document(rows, COMMAND, time.perf_counter() - suite.started))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case, suite: Suite) -> None:
    row = run_case(case, suite.base, SUBSET_DIR, suite.work, suite.full, SETTINGS)
    suite.rows[case.name] = row
    if row.skipped:
        pytest.skip(row.skipped)
    if not row.clean:
        pytest.fail(describe(row), pytrace=False)
