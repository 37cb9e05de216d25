"""What keeps `pytest -m "not slow"` the one-minute loop: the slow marks, and the guard that makes them honest.

A test is slow when it trains a model, starts a process, or uses a fixture that does. It says so with
`@pytest.mark.slow`, or through its fixtures: a fixture that trains asks for the `trains` fixture (tests/conftest.py),
and every test that uses it, directly or through other fixtures, is marked slow at collection. In a test not marked
slow, the guard fails the test, naming it, as soon as it trains a Keras model or starts Python or a vae command: a
forgotten mark, or a training reached through a helper, shows at the next run of the fast loop rather than as a
slower loop.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

# The fixtures that make every test using them slow, and why.
SLOW_FIXTURES = {
    "trains": "asked for by every fixture that trains a model, such as trained_run",
    "full_mnist_dir": "the full data set: 70,000 digits to read",
}
# Where every training goes through, whether a test calls vae.training.loop.train, a command or Keras itself: the
# module, the class in it, and the method.
TRAINING = ("keras", "Model", "fit")


def mark_slow_tests(items: list[pytest.Item]) -> None:
    """Mark slow every test that uses one of SLOW_FIXTURES, directly or through another fixture."""
    for item in items:
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls `then(module)` as soon as the module `name`, not imported yet, has been; it finds nothing itself."""

    def __init__(self, name: str, then) -> None:
        self.name = name
        self.then = then

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def load_then(module) -> None:
            load(module)
            self.then(module)

        spec.loader.exec_module = load_then
        return spec


def refuse(test: str, doing: str):
    """Fail `test` for `doing` what a test not marked slow may not."""
    pytest.fail(
        f"{test} {doing} but is not marked slow: mark it @pytest.mark.slow, or have the fixture that does it ask for "
        "`trains` (tests/fast_loop.py)",
        pytrace=False,
    )


def runs_python_or_the_package(command) -> bool:
    """Whether a process runs Python or one of the package's commands: what a test starts to train or to run vae."""
    words = [command] if isinstance(command, (str, bytes)) else list(command)
    names = [Path(str(word).split()[0]).name for word in words[:1]] + [Path(str(word)).name for word in words[1:2]]
    return any(name.startswith(("python", "vae")) for name in names) or sys.executable in map(str, words)


class Guard:
    """While it stands, training a model (TRAINING) or starting a process fails the test named `test`.

    The training module is not imported for it: importing Keras takes seconds. If it is not imported yet, it is
    guarded as soon as something imports it."""

    def __init__(self, test: str) -> None:
        self.monkeypatch = pytest.MonkeyPatch()
        self.finder = None

        original_start = subprocess.Popen.__init__

        def start(process, command, *arguments, **options):
            if not runs_python_or_the_package(command):
                # A library's own probe (`uname -p` from platform, on TensorFlow's first import) is not a test's work.
                return original_start(process, command, *arguments, **options)
            refuse(test, f"starts a process ({command!r:.100})")

        self.monkeypatch.setattr(subprocess.Popen, "__init__", start)
        module_name, class_name, method = TRAINING

        def guard_module(module) -> None:
            def train(*arguments, **options):
                refuse(test, "trains a model")

            self.monkeypatch.setattr(getattr(module, class_name), method, train)

        if module_name in sys.modules:
            guard_module(sys.modules[module_name])
        else:
            self.finder = AfterImport(module_name, guard_module)
            sys.meta_path.insert(0, self.finder)

    def remove(self) -> None:
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        self.monkeypatch.undo()


GUARD = pytest.StashKey[Guard]()


def start_guard(test: pytest.Item) -> None:
    """Guard `test` unless it is marked slow, from the start of its setup: the fixtures it is the first to use,
    of whatever scope, are set up under the guard too."""
    if test.get_closest_marker("slow") is None:
        test.stash[GUARD] = Guard(test.nodeid)


def end_guard(test: pytest.Item) -> None:
    """Lift the guard of `test`, after its teardown."""
    guard = test.stash.get(GUARD, None)
    if guard is not None:
        guard.remove()
        del test.stash[GUARD]
