"""Keeps the acceptance suites out of every test run that does not ask for them.

Each suite takes from ten to twenty minutes on two cores and runs the commands in subprocesses, so neither the
default run (`python -m pytest`, whose testpaths is tests/) nor `-m "not slow"` may pick them up. Every test in this
folder is marked `acceptance` and `slow`, and deselected unless the `-m` expression on the command line mentions
`acceptance`:

    .venv/bin/python -m pytest -m acceptance tests/acceptance/test_hostile_inputs.py
    .venv/bin/python -m pytest -m acceptance tests/acceptance/test_fault_injection.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MARKERS = {
    "acceptance": "runs the commands as a user would, for minutes; deselected unless -m names acceptance",
    "slow": "takes more than a few seconds",
}
DESELECTED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, meaning in MARKERS.items():
        if name not in registered:
            config.addinivalue_line("markers", f"{name}: {meaning}")


def asked_for(config: pytest.Config) -> bool:
    """Whether the `-m` expression mentions acceptance (in `-m "not acceptance"`, -m itself then deselects them)."""
    return "acceptance" in (config.getoption("markexpr", "") or "")


def is_ours(item: pytest.Item) -> bool:
    return HERE in Path(item.path).resolve().parents


# First, so that the marks are there when pytest's own -m selection looks at the items.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if is_ours(item)]
    for item in ours:
        item.add_marker(pytest.mark.acceptance)
        item.add_marker(pytest.mark.slow)
    if ours and not asked_for(config):
        config.hook.pytest_deselected(items=ours)
        removed = set(map(id, ours))
        items[:] = [item for item in items if id(item) not in removed]
        config.stash[DESELECTED] = len(ours)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    # Only where the command line named this folder: the default run says nothing about suites it never meant to run.
    deselected = config.stash.get(DESELECTED, 0)
    paths = [Path(argument.split("::")[0]).resolve() for argument in config.args]
    named = any(HERE == path or HERE in path.parents for path in paths)
    if deselected and named:
        terminalreporter.write_line(f"{deselected} acceptance tests deselected: run them with -m acceptance")
