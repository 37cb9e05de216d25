"""How long the README's pretrained quick start takes: its commands, as written, run one after the other.

    python benchmarks/quick_start.py            # in a fresh clone, after `pip install -e .`

Reads the first bash block of the README's section "Start from a pretrained model", runs each command in the
repository's root with a cold `outputs/pretrained-*` (removed first), and prints each one's wall seconds and the
total. The README promises a latent grid and a `vae-encode` row in under 15 s in all.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import click
from common import run_command

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Start from a pretrained model"


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    body = readme.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", body, re.DOTALL)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


@click.command()
def main() -> None:
    os.chdir(ROOT)  # the README's commands are typed at the project's root
    for folder in (ROOT / "outputs").glob("pretrained-*"):
        shutil.rmtree(folder)
    total = 0.0
    for command in quick_start_commands():
        seconds = run_command(shlex.split(command)).seconds
        total += seconds
        click.echo(f"{seconds:6.2f} s  {command}")
    click.echo(f"{total:6.2f} s  in all")


if __name__ == "__main__":
    main()
