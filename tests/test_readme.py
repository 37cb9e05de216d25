"""The README is the front door: short, its set-up and quick-start commands the ones that work, its links alive."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vae.config import FAST_RECIPE, command_options

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BANNED = re.compile(r"this session|the issue|before the fix|used to", re.IGNORECASE)


def code_blocks(section: str, language: str) -> list[str]:
    """The code blocks in `language` of the README's section whose heading is `section`."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", body, re.DOTALL)


def commands(block: str) -> list[list[str]]:
    return [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_the_readme_is_short_and_speaks_of_the_software():
    assert len(README.splitlines()) <= 150
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert not BANNED.search(page.read_text()), page


def test_its_two_set_up_commands_install_and_train_and_run_the_tests_ci_runs():
    train, tests = code_blocks("Set up", "bash")[:2]
    assert train.strip().endswith("&& .venv/bin/vae-train --epochs 30")
    assert train.strip().startswith("python3 -m venv .venv && .venv/bin/pip install -e .")
    assert tests.strip().endswith("&& .venv/bin/python -m pytest")
    assert ".venv/bin/python -m pytest\n" in (ROOT / ".ci" / "run").read_text()


def test_the_fast_recipe_it_shows_is_the_configs():
    assert " ".join([".venv/bin/vae-train", *command_options(FAST_RECIPE)]) in README


def test_every_file_it_links_to_exists():
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", README):
        assert (ROOT / target).exists(), target


@pytest.mark.slow
def test_its_pretrained_commands_draw_a_latent_grid_and_print_a_row(tmp_path):
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    grid, encode = commands(code_blocks("Start from a pretrained model", "bash")[0])
    assert grid[0] == ".venv/bin/vae-plot" and encode[0] == ".venv/bin/vae-encode"
    # The grid is drawn in a folder of its own, for its outputs/; the image the encoder reads is the repository's.
    for command, folder in ((grid, tmp_path), (encode, ROOT)):
        command = [str(Path(sys.executable).parent / Path(command[0]).name), *command[1:]]
        completed = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stderr
    with Image.open(tmp_path / "outputs" / "pretrained-mnist" / "latent-grid.png") as picture:
        assert picture.size[0] > 300 and np.asarray(picture.convert("L")).std() > 10
    header, row = completed.stdout.strip().splitlines()
    assert header.startswith("path,z_mean_0,z_mean_1") and row.startswith("tests/data/hand-drawn/digit-3.jpg,")


def test_its_notebook_lines_give_new_digits():
    (block,) = code_blocks("Start from a pretrained model", "python")
    namespace: dict = {}
    exec(block, namespace)
    digits = namespace["digits"]
    assert digits.shape == (16, 28, 28) and 0 <= digits.min() and digits.max() <= 1 and digits.std() > 0.05


@pytest.mark.slow
def test_its_export_command_writes_a_saved_model(tmp_path):
    (block,) = code_blocks("Out of the lab", "bash")
    (export,) = [command for command in commands(block) if command[0] == ".venv/bin/vae-export"]
    command = [str(Path(sys.executable).parent / "vae-export"), *export[1:]]
    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    output = tmp_path / export[export.index("--output") + 1]
    assert (output / "saved_model" / "saved_model.pb").is_file() and (output / "model.json").is_file()
