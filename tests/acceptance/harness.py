"""The process harness of the hostile-input suite: it runs one command of the package in a subprocess, as a user
would, and judges what it did.

For each case, `run_case` copies the tiny base run and the data folder into a folder of the case's own, lets the
case damage the copies, fingerprints every file in them, and runs the case's command (or its scenario of several
commands). A case is clean when the command

- exits with the expected code: 1 for a bad file or run, 2 for a bad option (click's usage errors), 143 for SIGTERM,
  and 0 where the right behaviour is to work (then the case checks stdout or the files instead of a message);
- prints no traceback;
- says what is wrong in one line on stderr (a usage error prints "Usage:", a "Try ... --help" line and one "Error:"
  line: one "Error:" line counts as one line);
- names the real problem: the case's fragment appears in stderr, compared case-insensitively;
- leaves every file that was in the run and data copies before it ran as it was (SHA-256 of each file);
- and passes the case's own checks (a run directory that must not appear, a checkpoint that must survive, ...).

Each command runs with its output in files (a pipe could fill and block it), a timeout and a bound on its resident
memory, so that a command that tries to allocate tens of gigabytes is stopped before it takes the machine down.
The module also writes the Markdown table of the rows (`document`), atomically.

Cases of the Python API (`vae.open_run` and the `Run` it returns) have the module `PYTHON`: their one argument is a
snippet of Python, which `API_RUNNER` executes in a fresh interpreter with `np` (numpy) and `vae` imported, and
TensorFlow too, with its start-up notes on stderr silenced as the commands silence them. The placeholders are filled
in as in any argument, so a snippet doubles any brace it means, as str.format wants.
A typed error of the package (`vae.VAEError`) is what a caller of the API catches and reads: the runner prints it
as one line, "error: <type>: <first line of its message>", and exits with the error's exit code, 2 for a
UsageError and 1 for the others, as a command does. So such a case is judged by the same rules as a command: the
exit code, no traceback, one line, a fragment that names the type ("UsageError: ...") and the message, the files
unchanged. Any other exception escapes the runner with its traceback, exit 1, and the case is not clean. A snippet
that must work prints what the case looks for on stdout and asserts the rest (an AssertionError is a traceback).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUBSET_DIR = ROOT / "tests" / "data" / "mnist-subset"
# Where the full canonical MNIST files are by default: the shared folder beside the checkout.
DEFAULT_FULL_MNIST_DIR = ROOT.parent / "shared" / "datasets" / "mnist"

# The tiny run every case starts from: one epoch on 512 digits of the committed subset, about 20 s.
BASE_TRAINING = ["--epochs", "1", "--limit", "512", "--batch-size", "64", "--verbose", "0"]


def full_mnist_dir() -> Path | None:
    """The full MNIST files for the cases that need them: $VAE_FULL_MNIST_DIR, or by default
    ../shared/datasets/mnist beside the checkout; None when the folder is not there."""
    directory = Path(os.environ.get("VAE_FULL_MNIST_DIR") or DEFAULT_FULL_MNIST_DIR)
    return directory if directory.is_dir() else None


# --- Where a case runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The folders of one case: fresh copies of the base run and the data, a path that does not exist yet (`new`,
    for commands that create a run), the case folder itself, and the full MNIST files where there are some.

    Arguments of a case name them as {run}, {data}, {new}, {case} and {full}.
    """

    case: Path
    run: Path
    data: Path
    new: Path
    full: Path | None

    def fill(self, argument: str) -> str:
        return argument.format(case=self.case, run=self.run, data=self.data, new=self.new, full=self.full)


@dataclass
class Outcome:
    """What one command did. `code` is None when the harness had to kill it (`killed` says why); a command killed by
    a signal it did not handle has the negative signal number, as subprocess reports it."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float
    rss_mb: float | None
    killed: str = ""


@dataclass
class Settings:
    timeout: float
    rss_limit_mb: float


class Skipped(Exception):
    """A case that cannot run on this machine; the message says why."""


def child_env() -> dict[str, str]:
    # The ambient VAE_* variables would silently replace the copies a case damaged.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("VAE_DATA_DIR", None)
    env.pop("VAE_RUN_DIR", None)
    return env


# The module of a case that runs a snippet of the Python API rather than a command, and the program that runs it
# (the module docstring says how it is judged).
PYTHON = "python"
API_RUNNER = """
import sys

import numpy as np

import vae
from vae.errors import VAEError, first_line
from vae_scripts.common import import_tensorflow_quietly

import_tensorflow_quietly()  # TensorFlow's start-up notes on stderr are not the API's to judge
try:
    exec(sys.argv[1], {"np": np, "vae": vae})
except VAEError as error:
    print(f"error: {type(error).__name__}: {first_line(error)}", file=sys.stderr)
    sys.exit(error.exit_code)
"""


def command_for(module: str, arguments: list[str]) -> list[str]:
    if module == PYTHON:
        return [sys.executable, "-c", API_RUNNER, *arguments]
    return [sys.executable, "-m", f"vae_scripts.{module}", *arguments]


def resident_mb(pid: int) -> float | None:
    """The current resident memory of a live process, from /proc; None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Child:
    """One command in a subprocess, its output in files in the case folder (pipes could fill and block it).

    It is reaped with os.wait4, which gives the peak RSS of this one child; RUSAGE_CHILDREN would give the largest of
    all children so far. While it runs, `poll` enforces the timeout and a memory bound, so that a command that tries
    to allocate tens of gigabytes is stopped before it takes the machine down.
    """

    def __init__(self, command: list[str], cwd: Path, stem: str, settings: Settings):
        self.stdout_path, self.stderr_path = cwd / f"{stem}.stdout", cwd / f"{stem}.stderr"
        self.settings = settings
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        self.started = time.monotonic()
        self.killed = ""
        self.outcome: Outcome | None = None

    def poll(self) -> bool:
        """Reap the child if it has ended; otherwise stop it when it runs too long or too large. True when done."""
        if self.outcome is not None:
            return True
        pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            self.process.returncode = code  # so that Popen never tries to reap it again
            self.outcome = Outcome(
                code=None if self.killed else code,
                stdout=self.stdout_path.read_text(errors="replace"),
                stderr=self.stderr_path.read_text(errors="replace"),
                seconds=time.monotonic() - self.started,
                rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
                killed=self.killed,
            )
            return True
        if not self.killed:
            rss = resident_mb(self.process.pid)
            if time.monotonic() - self.started > self.settings.timeout:
                self.kill(f"killed by the harness after {self.settings.timeout:.0f} s")
            elif rss is not None and rss > self.settings.rss_limit_mb:
                self.kill(f"killed by the harness at {rss:.0f} MB resident (limit {self.settings.rss_limit_mb:.0f})")
        return False

    def kill(self, reason: str) -> None:
        self.killed = reason
        # Not reaped yet, so the pid is still ours: no risk of signalling a stranger.
        os.kill(self.process.pid, signal.SIGKILL)

    def send(self, number: int) -> None:
        if self.outcome is None:
            os.kill(self.process.pid, number)

    def wait(self) -> Outcome:
        return wait_all([self])[0]


def wait_all(children: list[Child]) -> list[Outcome]:
    while True:
        finished = [child.poll() for child in children]  # every child polled each round, for its limits
        if all(finished):
            break
        time.sleep(0.1)
    return [child.outcome for child in children]


def run_command(place: Place, settings: Settings, module: str, arguments: list[str], stem: str = "command") -> Outcome:
    return Child(
        command_for(module, [place.fill(argument) for argument in arguments]), place.case, stem, settings
    ).wait()


# --- Cases --------------------------------------------------------------------------------------------------------


def keep(run: Path, data: Path) -> None:
    """Damage nothing."""


Check = Callable[[Place, Outcome], list[str]]  # returns the problems it found; empty when all is well


@dataclass
class Case:
    """One hostile input. `prepare(run, data)` damages the copies (the case folder is `run.parent`); `arguments`
    may name {run}, {data}, {new}, {case} and {full}. For `code` 0 the fragment is looked for in stdout, otherwise in
    stderr. `volatile` lists glob patterns (relative to the case folder) of files the command may change or remove.
    `special` replaces the one command by a scenario of its own (signals, two processes, a tmpfs) and returns the
    outcome to judge with extra problems. `exclusive` cases must never run beside another (they measure timing or
    memory); pytest runs the cases one at a time, in the table's order, so that holds as long as nobody runs the
    suite in parallel. `needs_full_mnist` cases use {full} and are skipped where those files are not there. A case
    whose `module` is `PYTHON` runs the snippet of Python in `arguments` instead of a command."""

    name: str
    module: str
    arguments: list[str]
    code: int
    fragment: str
    prepare: Callable[[Path, Path], None] = keep
    checks: tuple[Check, ...] = ()
    volatile: tuple[str, ...] = ()
    special: Callable[[Place, Settings], tuple[Outcome, list[str]]] | None = None
    exclusive: bool = False
    needs_full_mnist: bool = False


# --- Running and judging -----------------------------------------------------------------------------------------


@dataclass
class Row:
    """What became of one case: skipped (and why), or the outcome of its command and the verdict on it."""

    case: Case
    outcome: Outcome | None = None
    skipped: str = ""
    traceback: bool = False
    one_line: bool | None = None
    changed: list[str] = field(default_factory=list)
    matched: bool = False
    problems: list[str] = field(default_factory=list)
    clean: bool = False
    message: str = ""  # the line of stderr that says what happened, for the table
    folder: Path | None = None  # the case folder, kept for a look after a failure


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(place: Place) -> dict[str, str]:
    """SHA-256 of every file in the run and data copies, keyed by its path relative to the case folder."""
    digests = {}
    for root in (place.run, place.data):
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    digests[str(path.relative_to(place.case))] = sha256(path)
    return digests


# The run's lock file holds the pid of the training that holds it: rewriting it is its job, not damage.
ALWAYS_VOLATILE = ("run/.lock",)


def changed_files(before: dict[str, str], after: dict[str, str], volatile: tuple[str, ...]) -> list[str]:
    """Files that were there before and changed or vanished; new files are the commands' business."""
    patterns = (*volatile, *ALWAYS_VOLATILE)
    return [
        name
        for name, digest in before.items()
        if after.get(name) != digest and not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
    ]


def one_line(stderr: str, code: int | None) -> bool | None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if code == 0:
        return None
    if code == 2:  # click: "Usage: ...", "Try '... --help' for help.", then the one message that counts
        return sum(line.startswith(("Error:", "error:")) for line in lines) == 1
    return len(lines) == 1


def message_line(outcome: Outcome, place: Place) -> str:
    """The first line of stderr, or for a usage error its "Error:" line (the first is click's "Usage: ..."); the
    case folder is shortened to {case} so that the table shows what the message says, not where it ran."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if outcome.code == 2:
        lines = [line for line in lines if line.startswith(("Error:", "error:"))] or lines
    if not lines and outcome.stdout.strip():
        lines = ["(stdout) " + outcome.stdout.strip().splitlines()[0]]
    return first_line(lines[0].replace(str(place.case), "{case}") if lines else "")


def judge(case: Case, place: Place, outcome: Outcome, changed: list[str], problems: list[str]) -> Row:
    row = Row(
        case, outcome, changed=changed, problems=list(problems), message=message_line(outcome, place), folder=place.case
    )
    if outcome.killed:
        row.problems.insert(0, outcome.killed)
    row.traceback = "Traceback" in outcome.stderr
    row.one_line = one_line(outcome.stderr, outcome.code)
    where = outcome.stdout if case.code == 0 else outcome.stderr
    row.matched = place.fill(case.fragment).lower() in where.lower()
    row.clean = (
        outcome.code == case.code
        and not row.traceback
        and (case.code == 0 or row.one_line is True)
        and not changed
        and row.matched
        and not row.problems
    )
    return row


def run_case(case: Case, base: Path, data_source: Path, work: Path, full: Path | None, settings: Settings) -> Row:
    """Copy the base run and the data into work/cases/NAME, damage the copies, run the case, and judge it."""
    case_dir = work / "cases" / case.name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    place = Place(case_dir, case_dir / "run", case_dir / "data", case_dir / "new-run", full)
    if case.needs_full_mnist and full is None:
        return Row(case, skipped="no full MNIST files at $VAE_FULL_MNIST_DIR or ../shared/datasets/mnist")
    shutil.copytree(base, place.run)
    shutil.copytree(data_source, place.data)
    case.prepare(place.run, place.data)
    before = fingerprint(place)
    try:
        if case.special is not None:
            outcome, problems = case.special(place, settings)
        else:
            outcome, problems = run_command(place, settings, case.module, case.arguments), []
    except Skipped as reason:
        return Row(case, skipped=str(reason), folder=case_dir)
    for check in case.checks:
        problems += check(place, outcome)
    return judge(case, place, outcome, changed_files(before, fingerprint(place), case.volatile), problems)


def train_base(base: Path, data_dir: Path, settings: Settings) -> None:
    """Train the tiny run every case copies into `base`, as `vae-train` does for a user."""
    base.parent.mkdir(parents=True, exist_ok=True)
    if base.exists():
        shutil.rmtree(base)
    command = command_for("train", [*BASE_TRAINING, "--data-dir", str(data_dir), "--run-dir", str(base)])
    outcome = Child(command, base.parent, "base", settings).wait()
    if outcome.code != 0:
        raise RuntimeError(f"the base run failed ({outcome.code}): {first_line(outcome.stderr, 300)}")


# --- The table ---------------------------------------------------------------------------------------------------


def first_line(text: str, width: int = 100) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def short_command(case: Case) -> str:
    """The command as a user would type it, without the copies every case points at; for a case of the Python API,
    its snippet."""
    if case.module == PYTHON:
        return "python: " + " ".join(case.arguments)
    words, arguments = [], list(case.arguments)
    while arguments:
        word = arguments.pop(0)
        if arguments and (word, arguments[0]) in {("--run-dir", "{run}"), ("--data-dir", "{data}"), ("--verbose", "0")}:
            arguments.pop(0)
            continue
        words.append(word)
    name = {"evaluate": "vae-eval"}.get(case.module, f"vae-{case.module}")
    return " ".join([name, *words])


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def table(rows: list[Row]) -> str:
    header = [
        "case",
        "command",
        "exit",
        "expected",
        "traceback",
        "one line",
        "files unchanged",
        "message",
        "other checks",
        "peak RSS MB",
        "clean",
        "first line of stderr",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        case, outcome = row.case, row.outcome
        if outcome is None:
            values = [
                case.name,
                short_command(case),
                "-",
                str(case.code),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                f"skipped: {row.skipped}",
                "",
            ]
        else:
            stderr_line = row.message
            values = [
                case.name,
                short_command(case),
                "killed" if outcome.code is None else str(outcome.code),
                str(case.code),
                yes_no(row.traceback),
                yes_no(row.one_line),
                "yes" if not row.changed else "no: " + ", ".join(row.changed[:3]),
                yes_no(row.matched) + (f" ({case.fragment!r})" if case.fragment else ""),
                "; ".join(row.problems) or "ok",
                "-" if outcome.rss_mb is None else f"{outcome.rss_mb:.0f}",
                "yes" if row.clean else "NO",
                stderr_line,
            ]
        lines.append("| " + " | ".join(cell(value) for value in values) + " |")
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """`clean N/M`: M counts the cases that ran, skipped ones left out."""
    counted = [row for row in rows if not row.skipped]
    return f"clean {sum(row.clean for row in counted)}/{len(counted)}"


def document(rows: list[Row], command: str, seconds: float) -> str:
    """The Markdown page of a whole run: a title, the line that says how and when it ran, the table, the skipped
    cases, and last the line `clean N/M`."""
    skipped = [f"{row.case.name} ({row.skipped})" for row in rows if row.skipped]
    notes = [f"skipped, not counted: {', '.join(skipped)}"] if skipped else []
    header = f"`{command}`, {time.strftime('%Y-%m-%d %H:%M')}, {len(rows)} cases, {seconds:.0f} s."
    return "\n\n".join(["# Hostile inputs", header, table(rows), *notes, summary(rows)]) + "\n"


def describe(row: Row) -> str:
    """Why a row is not clean, for the failure of its test: the command, each reason on a line of its own, the
    first line of stderr and the case folder to look at."""
    case, outcome = row.case, row.outcome
    assert outcome is not None
    reasons = []
    if outcome.code != case.code:
        reasons.append(f"exit {'killed' if outcome.code is None else outcome.code}, expected {case.code}")
    if row.traceback:
        reasons.append("a traceback on stderr")
    if case.code != 0 and row.one_line is not True:
        lines = len([line for line in outcome.stderr.splitlines() if line.strip()])
        reasons.append(f"stderr is not one message line ({lines} lines)")
    if not row.matched:
        reasons.append(f"{'stdout' if case.code == 0 else 'stderr'} lacks {case.fragment!r}")
    if row.changed:
        reasons.append(f"files changed: {', '.join(row.changed)}")
    reasons += [f"check: {problem}" for problem in row.problems]
    return "\n".join(
        [
            f"{case.name} is not clean: {short_command(case)}",
            *(f"  - {reason}" for reason in reasons),
            f"  first line of stderr: {row.message or '(empty)'}",
            f"  case folder: {row.folder}",
        ]
    )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it, so that a reader never sees half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; the table is for everyone to read
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
