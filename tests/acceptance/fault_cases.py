"""The four fault kinds of the fault-injection suite, one `Fault` each, with the counts and sizes each runs with.

faults.py says what each kind does and what it checks. The random kills need a reference run long enough that every
kill lands mid-run: 150 epochs on 1,024 digits, more on a machine that trains them faster than the kills take;
the other kinds use short runs of 512 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .faults import Tally, inject_concurrent, inject_final_save, inject_random, inject_sigterm


@dataclass(frozen=True)
class Fault:
    """One kind of fault: its name (the test's id) and `inject(work, data_dir)`, which returns its tally."""

    name: str
    inject: Callable[[Path, Path], Tally]


FAULTS: list[Fault] = [
    # 10 SIGKILLs, each 2-25 s after a start; the kill moments come from seed 0.
    Fault("random", partial(inject_random, kills=10, epochs=150, limit=1024, delays=(2.0, 25.0), seed=0)),
    # 5 SIGKILLs in the middle of the final save.
    Fault("final-save", partial(inject_final_save, count=5)),
    # 5 SIGTERMs; their moments come from seed 0.
    Fault("sigterm", partial(inject_sigterm, count=5, seed=0)),
    # 3 pairs of trainings in one directory.
    Fault("concurrent", partial(inject_concurrent, count=3)),
]
