"""The results tables of the README and the documentation are the ones their JSON files make."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import tables  # noqa: E402


def test_every_table_in_the_pages_is_made_from_its_json():
    marked = [match["name"] for page in tables.pages() for match in tables.MARKED.finditer(page.read_text())]
    assert "time-to-quality" in marked and "schedule-search" in marked
    assert tables.stale() == []


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of one benchmark's JSON and a README that shows its table, in a project of its own."""
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks/out_of_distribution.json", tmp_path / "benchmarks")
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n<!-- table: out-of-distribution -->\nby hand\n<!-- /table: out-of-distribution -->\n\nafter\n"
    )
    return tmp_path


def test_writing_fills_the_table_and_keeps_the_rest(project):
    result = CliRunner().invoke(tables.main, [])
    assert result.exit_code == 0, result.output
    text = (project / "README.md").read_text()
    assert "by hand" not in text and text.endswith("<!-- /table: out-of-distribution -->\n\nafter\n")
    assert "| MNIST | Fashion-MNIST | −ELBO | 150.41 | 854.41 | **0.9966** |" in text
    assert "From `benchmarks/out_of_distribution.json` (2026-11-29" in text
    assert tables.stale(project) == []


def test_a_table_whose_json_changed_is_out_of_date(project):
    CliRunner().invoke(tables.main, [])
    path = project / "benchmarks/out_of_distribution.json"
    record = json.loads(path.read_text())
    record["rows"][0]["AUROC"] = 0.5
    path.write_text(json.dumps(record))
    result = CliRunner().invoke(tables.main, ["--check"])
    assert result.exit_code == 1
    assert "out of date: README.md: out-of-distribution" in result.output


def test_a_missing_json_or_an_unknown_table_is_named(project):
    (project / "benchmarks/out_of_distribution.json").unlink()
    result = CliRunner().invoke(tables.main, ["--check"])
    assert result.exit_code == 1 and "benchmarks/out_of_distribution.json is missing" in result.output
    (project / "README.md").write_text("<!-- table: no-such -->\n<!-- /table: no-such -->\n")
    result = CliRunner().invoke(tables.main, [])
    assert result.exit_code == 1 and "no table is named 'no-such'" in result.output
