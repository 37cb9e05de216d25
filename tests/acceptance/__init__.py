"""Acceptance suites that run the installed commands in subprocesses, as a user would: hostile inputs and injected
faults. They take minutes, so the default test run leaves them out; `-m acceptance` runs them (see conftest.py)."""
