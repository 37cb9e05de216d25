"""`pytest -m "not slow"` stays the one-minute loop: a test not marked slow that trains or starts a process fails,
naming itself, and a test marked slow, by hand or through a fixture that trains, may do both."""

import subprocess

from tests import fast_loop

# Read at import, before any test's guard replaces it.
START_A_PROCESS = subprocess.Popen.__init__

# A session of its own, with this suite's marks and guard, and a stand-in for Keras whose Model.fit trains nothing.
CONFTEST = """
from tests.conftest import pytest_collection_modifyitems, pytest_runtest_setup, pytest_runtest_teardown, trains
"""
TRAINER = """
class Model:
    def fit(self):
        return "trained"
"""
TESTS = """
import subprocess
import sys

import pytest


@pytest.fixture
def trained_model(trains):
    import trainer

    return trainer.Model().fit()


@pytest.fixture(scope="module")
def trained_without_saying_so():
    import trainer

    return trainer.Model().fit()


def test_fast_that_trains_first():
    import trainer  # not imported before: the guard waits for the import

    trainer.Model().fit()


def test_fast_that_trains_again():
    import trainer

    trainer.Model().fit()


def test_fast_that_starts_a_process():
    subprocess.run(["true"], check=True)  # not Python, nor a vae command: a library's probe, allowed
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_fast_that_does_neither():
    import trainer

    assert trainer.Model is not None


@pytest.mark.slow
def test_marked_slow_that_trains_and_starts_a_process():
    import trainer

    assert trainer.Model().fit() == "trained"
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_slow_by_its_fixture(trained_model):
    assert trained_model == "trained"


def test_fast_whose_module_fixture_trains(trained_without_saying_so):
    pass
"""


def test_a_fast_test_that_trains_or_starts_a_process_fails_and_names_itself(pytester, monkeypatch):
    # This test is fast, so the guard is on for it too: lift it, and let the inner session guard its own tests.
    monkeypatch.setattr(subprocess.Popen, "__init__", START_A_PROCESS)
    monkeypatch.setattr(fast_loop, "TRAINING", ("trainer", "Model", "fit"))
    pytester.makeini("[pytest]\nmarkers =\n    slow: trains or starts a process\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(trainer=TRAINER, test_loop=TESTS)
    pytester.syspathinsert()

    result = pytester.runpytest("-p", "no:cacheprovider", "test_loop.py")

    result.assert_outcomes(passed=3, failed=3, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_loop.py::test_fast_that_trains_first trains a model but is not marked slow: mark it*",
            "*test_loop.py::test_fast_that_trains_again trains a model but is not marked slow*",
            "*test_loop.py::test_fast_that_starts_a_process starts a process (?'*python*'*) but is not marked slow*",
            "*test_loop.py::test_fast_whose_module_fixture_trains trains a model but is not marked slow*",
        ]
    )
    deselected = pytester.runpytest("-p", "no:cacheprovider", "-m", "not slow", "test_loop.py")
    deselected.assert_outcomes(passed=1, failed=3, errors=1, deselected=2)
