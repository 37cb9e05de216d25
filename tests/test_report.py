"""Training snapshots, the progress GIF, and the HTML report with its latent explorer, in a real headless Chromium."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import SUBSET_DIR, copy_run
from vae.errors import RunError, UsageError
from vae.run.directory import CONFIG_FILE, EVAL_FILE, SNAPSHOTS_DIR, RunDir
from vae.run.loading import load_run
from vae.run.records import read_history, weights_digest
from vae.run.snapshots import read_snapshot, read_snapshots, snapshot_path
from vae_scripts.plot import main as plot_command
from vae_scripts.report import main as report_command


@pytest.fixture(scope="session")
def snapshot_run(tmp_path_factory, trained_run) -> Path:
    """A finished three-epoch run of `vae-train --snapshots` with an eval.json. Tests must copy it to modify it."""
    from vae.evaluation.workflow import evaluate_run

    run_dir = tmp_path_factory.mktemp("snapshots") / "run"
    # At the default peak, 1e-2, a run of 8 steps an epoch decodes one faint blur everywhere; at 3e-3 its digits
    # differ across the latent space, which the explorer's test needs.
    shutil.copytree(trained_run(snapshots=True, epochs=3, learning_rate=3e-3), run_dir)
    evaluate_run(RunDir(run_dir), SUBSET_DIR, k=4, limit=100)
    return run_dir


@pytest.fixture(scope="session")
def report(tmp_path_factory, snapshot_run) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(
        report_command, ["--run-dir", str(snapshot_run), "--data-dir", str(SUBSET_DIR), "--output", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(path)
    return path


# --- snapshots --------------------------------------------------------------------------------------------------


def test_snapshots_hold_one_epoch_each_and_match_the_final_model(snapshot_run):
    from vae.model.latent import decode_latent_grid
    from vae.run.snapshots import SNAPSHOT_GRID_SIZE

    snapshots = read_snapshots(RunDir(snapshot_run))
    history = read_history(RunDir(snapshot_run))
    assert [snapshot.epoch for snapshot in snapshots] == [1, 2, 3]
    np.testing.assert_allclose([snapshot.test_loss for snapshot in snapshots], history["test_loss"], rtol=1e-6)
    # Training changes the decoder, so the grids of successive epochs differ.
    assert np.abs(snapshots[0].latent_grid - snapshots[-1].latent_grid).mean() > 1e-3
    model, _, _ = load_run(RunDir(snapshot_run))
    grid, axis = decode_latent_grid(model, SNAPSHOT_GRID_SIZE, quantiles=True)
    np.testing.assert_allclose(snapshots[-1].grid_axis, axis)
    np.testing.assert_allclose(snapshots[-1].latent_grid, grid, atol=0.5 / 255 + 1e-6)
    assert snapshots[-1].originals.shape == snapshots[-1].reconstructions.shape == (8, 28, 28)


def test_snapshots_need_two_latent_axes(subset, tiny_config, tmp_path):
    from vae.training.loop import train

    with pytest.raises(UsageError, match="--snapshots draws a 2-D latent grid and needs a latent size of at least 2"):
        train(tiny_config.replace(latent_dim=1, epochs=1), subset, RunDir(tmp_path / "run"), verbose=0, snapshots=True)
    assert not (tmp_path / "run").exists()


def test_cli_refuses_snapshots_of_a_one_dimensional_latent_in_one_line(tmp_path):
    from vae_scripts.train import main as train_command

    result = CliRunner().invoke(
        train_command,
        ["--snapshots", "--latent-dim", "1", "--data-dir", str(SUBSET_DIR), "--run-dir", str(tmp_path / "run")],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --snapshots draws a 2-D latent grid and needs a latent size of at least 2, got 1"
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_resume_takes_the_missing_snapshot_and_goes_on_taking_them(subset, tiny_config, tmp_path):
    from vae.training.loop import train

    run_dir = tmp_path / "run"
    train(tiny_config.replace(epochs=1, limit=128), subset, RunDir(run_dir), verbose=0, snapshots=True)
    # As if a kill came between the checkpoint of epoch 1 and its snapshot.
    snapshot_path(RunDir(run_dir), 1).unlink()
    train(tiny_config.replace(epochs=2, limit=128), subset, RunDir(run_dir), verbose=0, resume=True)
    assert [snapshot.epoch for snapshot in read_snapshots(RunDir(run_dir))] == [1, 2]


def test_overwrite_deletes_what_came_from_the_replaced_run(snapshot_run, subset, tiny_config, tmp_path):
    from vae.training.loop import train

    run_dir = copy_run(snapshot_run, tmp_path)
    assert (run_dir / EVAL_FILE).is_file()
    train(tiny_config.replace(epochs=1, limit=128), subset, RunDir(run_dir), verbose=0, overwrite=True)
    assert not (run_dir / SNAPSHOTS_DIR).exists()
    assert not (run_dir / EVAL_FILE).exists()


def test_a_damaged_snapshot_is_named(snapshot_run, tmp_path):
    run_dir = copy_run(snapshot_run, tmp_path)
    path = snapshot_path(RunDir(run_dir), 2)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RunError, match=r"epoch-0002\.npz is not a readable snapshot"):
        read_snapshots(RunDir(run_dir))
    arrays = dict(np.load(snapshot_path(RunDir(run_dir), 1)))
    np.savez(path, **{**arrays, "latent_grid": arrays["latent_grid"][:3]})
    with pytest.raises(RunError, match="unexpected shapes or types"):
        read_snapshot(path)


# --- vae-plot progress ------------------------------------------------------------------------------------------


def test_progress_gif_has_one_frame_per_epoch(snapshot_run, tmp_path):
    path = tmp_path / "progress.gif"
    result = CliRunner().invoke(
        plot_command, ["progress", "--run-dir", str(snapshot_run), "--output", str(path), "--fps", "5"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(path)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3 and gif.info["loop"] == 0
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            assert gif.info["duration"] == (200 if index < 2 else 800)
            frames.append(np.asarray(gif.convert("L"), dtype="float32"))
    assert frames[0].shape == (440, 840)
    assert np.abs(frames[0] - frames[-1]).mean() > 0.1


def test_progress_without_snapshots_says_how_to_get_them(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
    result = CliRunner().invoke(plot_command, ["progress", "--run-dir", str(run_dir)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: no training snapshots in {run_dir / SNAPSHOTS_DIR}/: train with vae-train --snapshots"
    ]
    assert not (run_dir / "progress.gif").exists()


# --- the report -------------------------------------------------------------------------------------------------


class PageParser(HTMLParser):
    """Collects every attribute value and checks that each element closes in order (void elements aside)."""

    VOID = {"meta", "img", "br", "hr", "input", "link"}

    def __init__(self):
        super().__init__()
        self.attributes, self.ids, self.open = [], {}, []

    def handle_starttag(self, tag, attrs):
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        self.ids.update({value: tag for name, value in attrs if name == "id"})
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


def decode_data_uri(uri: str) -> Image.Image:
    header, payload = uri.split(",", 1)
    assert re.fullmatch(r"data:image/(png|gif);base64", header), header
    return Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))


def test_report_is_self_contained_html_whose_images_decode(report, snapshot_run):
    text = report.read_text()
    parser = PageParser()
    parser.feed(text)
    parser.close()
    assert parser.open == []
    # Outside the inlined data, nothing names another resource: no URL, no CSS import, no request from the script.
    outside_data = re.sub(r'"data:image/[a-z]+;base64,[A-Za-z0-9+/=]*"', '""', text)
    assert not re.search(r"https?:|//[a-z]|\burl\(|@import|fetch\(|XMLHttpRequest", outside_data, re.IGNORECASE)
    sources = [value for tag, name, value in parser.attributes if name in ("src", "href")]
    assert len(sources) == 5  # the explorer sprite, curves, training animation, reconstructions and samples
    sizes = []
    for uri in sources:
        with decode_data_uri(uri) as picture:
            picture.load()
            sizes.append((picture.format, picture.size))
    assert ("PNG", (64 * 28, 64 * 28)) in sizes
    assert ("GIF", (840, 440)) in sizes
    assert {"explorer-map", "explorer-digit", "explorer-readout", "explorer-sprite", "explorer-data"} <= set(parser.ids)
    config = json.loads((snapshot_run / CONFIG_FILE).read_text())
    for key, value in config.items():
        assert f"<tr><th>{key}</th><td>{html.escape(json.dumps(value))}</td></tr>" in text
    assert "eval.json: grayscale BCE bound (nats), not a log-likelihood, 100 test digits, k = 4" in text
    # Collapse, measured: the last epoch's active units from the history, and eval.json's beside the PCA baseline.
    assert "<tr><th>test active latent units</th><td>" in text and "<tr><th>active latent units</th><td>" in text
    assert "<tr><th>PCA, 2 components</th><td>" in text and "<tr><th>the mean training image</th><td>" in text


def test_explorer_data_lies_on_the_latent_grid_axes(report, snapshot_run):
    from vae.model.latent import default_span, encode_means
    from vae.run.dataset import load_test_digits

    text = report.read_text()
    data = json.loads(re.search(r'<script type="application/json" id=explorer-data>(.*?)</script>', text).group(1))
    model, config, _ = load_run(RunDir(snapshot_run))
    images, labels = load_test_digits(config, SUBSET_DIR)
    assert data["span"] == default_span(model, images, None) and data["dims"] == [0, 1] and data["size"] == 64
    np.testing.assert_allclose(data["axis"], np.linspace(-data["span"], data["span"], 64), atol=1e-5)
    np.testing.assert_allclose(np.stack([data["x"], data["y"]], axis=1), encode_means(model, images), atol=6e-4)
    assert data["label"] == labels.tolist()


def test_report_of_a_run_without_snapshots_or_eval_says_how_to_add_them(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
    result = CliRunner().invoke(report_command, ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR)])
    assert result.exit_code == 0, result.output
    text = (run_dir / "report.html").read_text()
    assert "train with <code>vae-train --snapshots</code>" in text
    assert "No eval.json: run <code>vae-eval</code>" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dims", "0,2"], "error: dims must be two different latent axes in 0..1, got 0,2"),
        (["--explorer-size", "1"], "Invalid value for '--explorer-size': 1 is not in the range 2<=x<=128."),
    ],
)
def test_report_refuses_bad_options_without_writing(tiny_run, tmp_path, arguments, message):
    run_dir = copy_run(tiny_run, tmp_path)
    result = CliRunner().invoke(report_command, ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR), *arguments])
    assert result.exit_code != 0
    assert message in result.output
    assert not (run_dir / "report.html").exists()


def test_report_refuses_a_damaged_eval_json(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
    (run_dir / EVAL_FILE).write_text("{not json")
    result = CliRunner().invoke(report_command, ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {run_dir / EVAL_FILE} is damaged")
    assert not (run_dir / "report.html").exists()


# --- the explorer in a real browser -----------------------------------------------------------------------------


def chromium_or_skip():
    """Debian's Chromium and its ChromeDriver through Selenium, or a skip that says what is missing. CI sets
    VAE_REQUIRE_BROWSER=1, where a missing browser is a failure instead."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        reason = f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("VAE_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def open_explorer(browser, page: Path):
    """Open the report `page`, wait until its explorer has read its sprite, and return the scrolled-to map."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    WebDriverWait(browser, 20).until(lambda view: view.execute_script("return document.body.dataset.explorerReady"))
    explorer = browser.find_element("id", "explorer-map")
    browser.execute_script("arguments[0].scrollIntoView()", explorer)
    return explorer


def shown_digit(browser) -> np.ndarray:
    """The 28 x 28 digit the explorer's canvas shows, in [0, 1]."""
    pixels = browser.execute_script(
        "return Array.from(document.getElementById('explorer-digit').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data.filter((_, index) => index % 4 == 0))"
    )
    return np.array(pixels, dtype="float32").reshape(28, 28) / 255


@pytest.mark.slow
def test_explorer_shows_the_decoded_digit_under_the_pointer(report, snapshot_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    from vae.model.latent import decode

    model, _, _ = load_run(RunDir(snapshot_run))
    browser = chromium_or_skip()
    try:
        explorer = open_explorer(browser, report)
        shown = []
        # Offsets from the centre of the 560-pixel canvas: up-left, then down-right.
        for x, y in ((-150, -110), (170, 130)):
            ActionChains(browser).move_to_element_with_offset(explorer, x, y).perform()
            z = [
                float(value)
                for value in browser.find_element("id", "explorer-readout").get_attribute("data-z").split(",")
            ]
            shown.append((z, shown_digit(browser)))
        browser.save_screenshot(str(tmp_path / "explorer.png"))
    finally:
        browser.quit()

    span = json.loads(re.search(r"id=explorer-data>(.*?)</script>", report.read_text()).group(1))["span"]
    (z_first, first), (z_second, second) = shown
    # The pointer's offset from the centre, in latent units: 560 canvas pixels span 2 * span.
    np.testing.assert_allclose(z_first, [-150 * span / 280, 110 * span / 280], atol=2 * span / 560)
    np.testing.assert_allclose(z_second, [170 * span / 280, -130 * span / 280], atol=2 * span / 560)
    decoded = decode(model, np.array([z_first, z_second]))
    for digit, expected in ((first, decoded[0]), (second, decoded[1])):
        # Blending four cells of a 64 x 64 grid of 8-bit images comes close to decoding the point itself.
        assert np.abs(digit - expected).max() < 0.01
    # ...much closer than the digits at the two points are to each other (the tiny model draws faint blurs).
    assert np.abs(first - second).mean() > 5 * max(
        np.abs(first - decoded[0]).mean(), np.abs(second - decoded[1]).mean()
    )
    with Image.open(tmp_path / "explorer.png") as screenshot:
        assert screenshot.format == "PNG" and screenshot.size[0] >= 1000


def test_a_damaged_eval_json_with_non_finite_numbers_is_refused(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
    for value in ("NaN", "Infinity", "-Infinity"):
        (run_dir / EVAL_FILE).write_text(f'{{"metrics": {{"negative_elbo": {value}}}}}')
        result = CliRunner().invoke(report_command, ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR)])
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"error: {run_dir / EVAL_FILE} is damaged (it holds {value}")
        assert len(result.output.splitlines()) == 1 and not (run_dir / "report.html").exists()


def test_resume_drops_the_eval_json_of_the_old_weights_and_the_report_spots_a_stale_one(tiny_run, tmp_path):
    from vae_scripts.evaluate import main as evaluate_command
    from vae_scripts.train import main as train_command

    run_dir = copy_run(tiny_run, tmp_path)
    result = CliRunner().invoke(evaluate_command, ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR),
                                                   "--limit", "20", "--k", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = json.loads((run_dir / EVAL_FILE).read_text())
    assert scored["weights"] == {"epochs": 2, "sha256": weights_digest(RunDir(run_dir))}
    result = CliRunner().invoke(train_command, ["--resume", "--epochs", "3", "--run-dir", str(run_dir),
                                                "--data-dir", str(SUBSET_DIR), "--verbose", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "removed eval.json: it scored the weights before this training; run vae-eval again" in result.output
    assert not (run_dir / EVAL_FILE).exists()
    # An eval.json of other weights, copied back: the page leaves its numbers out and says why, with one warning.
    (run_dir / EVAL_FILE).write_text(json.dumps(scored))
    result = CliRunner().invoke(report_command, ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {run_dir / EVAL_FILE} scored other weights than the run's: the report leaves it out; run "
        "vae-eval again"
    ]
    page = (run_dir / "report.html").read_text()
    assert "scored other weights than these" in page
    assert f"{scored['metrics']['negative_elbo']:.2f} nats" not in page
