"""`vae-train --profile`'s phase log, without training: phases in order, the table, and the file written at exit."""

from __future__ import annotations

import json
import time

import vae.training.profiling
from vae.run.directory import RunDir
from vae.training.profiling import NO_PROFILE, PhaseLog


def test_phases_are_logged_in_order_and_written_at_exit(monkeypatch, tmp_path, capsys):
    handlers = []
    monkeypatch.setattr(vae.training.profiling.atexit, "register", handlers.append)
    log = PhaseLog()
    log.mark("data")
    time.sleep(0.01)
    log.close("data")
    with log.phase("model"):
        time.sleep(0.01)
    log.close("never marked")  # closing what was never opened logs nothing
    log.mark("exit")
    log.write_at_exit(RunDir(tmp_path))
    assert not (tmp_path / vae.training.profiling.PROFILE_FILE).exists()  # nothing before the exit
    (finish,) = handlers
    finish()
    phases = json.loads((tmp_path / vae.training.profiling.PROFILE_FILE).read_text())
    assert [phase["phase"] for phase in phases] == ["start-up", "data", "model", "exit"]
    assert all(phase["seconds"] >= 0 for phase in phases) and phases[1]["seconds"] >= 0.01
    for before, after in zip(phases, phases[1:], strict=False):
        assert before["start"] + before["seconds"] <= after["start"] + 0.002
    table = capsys.readouterr().err.splitlines()
    assert table[0].split() == ["phase", "start", "s", "seconds"] and len(table) == 1 + len(phases)


def test_without_profile_nothing_is_logged():
    callbacks = [object()]
    assert NO_PROFILE.callbacks(callbacks) is callbacks
    with NO_PROFILE.phase("anything"):
        NO_PROFILE.mark("x")
        NO_PROFILE.close("x")
