"""Hurt `vae-train` in four ways and check that nothing was lost each time.

    .venv/bin/python -m pytest -m acceptance tests/acceptance/test_fault_injection.py
    .venv/bin/python -m pytest -m acceptance tests/acceptance/test_fault_injection.py -k sigterm -s

One test per kind of fault_cases.FAULTS, with ids random, final-save, sigterm and concurrent: SIGKILL at random
moments, SIGKILL during the final save, SIGTERM, and a second training in the same directory (faults.py says what
each does and checks). All four take 10-20 minutes on two CPU cores, the random kills most of it. A kind fails
unless every try went right and every final run has the reference's weights; its lines, one per try, show in the
failure (and live with -s). Each kind works in a temporary folder of its own, which pytest keeps for the last few
sessions.

When all four ran (no -k), tests/acceptance/fault_injection.md gets one line per kind, e.g. `SIGTERM: survived 5/5`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .fault_cases import FAULTS
from .faults import Tally
from .harness import SUBSET_DIR, write_atomically

SUMMARY = Path(__file__).with_name("fault_injection.md")
COMMAND = ".venv/bin/python -m pytest -m acceptance tests/acceptance/test_fault_injection.py"


@dataclass
class Suite:
    started: float
    tallies: dict[str, Tally] = field(default_factory=dict)


def document(tallies: list[Tally], seconds: float) -> str:
    header = f"`{COMMAND}`, {time.strftime('%Y-%m-%d %H:%M')}, {seconds:.0f} s."
    return "\n\n".join(["# Fault injection", header, *(tally.line() for tally in tallies)]) + "\n"


@pytest.fixture(scope="session")
def suite(request: pytest.FixtureRequest):
    # The checks load runs in this process: TensorFlow's start-up notes would bury the lines of the tries.
    from vae_scripts.common import import_tensorflow_quietly

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import_tensorflow_quietly()
    suite = Suite(started=time.perf_counter())
    yield suite
    if not request.config.getoption("keyword") and all(fault.name in suite.tallies for fault in FAULTS):
        tallies = [suite.tallies[fault.name] for fault in FAULTS]
        write_atomically(SUMMARY, document(tallies, time.perf_counter() - suite.started))


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault_injection(fault, suite: Suite, tmp_path: Path) -> None:
    tally = fault.inject(tmp_path, SUBSET_DIR)
    suite.tallies[fault.name] = tally
    if not tally.ok:
        pytest.fail(f"{tally.line()} (the lines of the tries are under 'Captured stdout call')", pytrace=False)
