"""`report.html`: one self-contained page about a trained run, with an interactive latent explorer.

The page opens offline from disk: every image is inlined as a data URI, the data as JSON, the style sheet and the
script as text, and nothing is fetched. Its markup, style and script live in `vae/report_page/` (`page.html`,
`explorer.html`, `style.css`, `explorer.js`), filled in with `string.Template`. It shows the config, the training
curves, eval.json when there is one (with the samples' quality where `vae-eval --sample-quality` measured it, and
the active latent units and reconstruction error beside PCA's where `vae-eval` measured them), a warning when the run
ignores its input (`vae.evaluation.collapse`), reconstructions, samples, the training animation of a `--snapshots`
run, and the latent explorer.

The explorer is decoded once, here: a dense grid of latent points (64 x 64 by default) in one batched call, packed
into one sprite image. In the page, the pointer's position over the scatter of the test images' latent means picks a
latent point, and the image shown there is the bilinear blend of the four grid cells around it, enlarged. The grid
covers the same square as `vae-plot latent-grid` and, for a latent size above 2, varies the same two axes while the
others stay at 0. A conditional run's sprite holds one grid per class, stacked, and the page has a class selector
that chooses the grid and highlights that class's test points; with many classes the grids are smaller
(`class_grid_size`), so that the page stays near the size of ten.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import tempfile
import warnings
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np
from PIL import Image

from vae import files
from vae.errors import UsageError, VAEWarning
from vae.evaluation.collapse import ACTIVE_UNIT_THRESHOLD, describe
from vae.evaluation.outliers import load_outlier_scores
from vae.evaluation.sample_quality import METRIC_NAMES as METRIC_NAMES_OF_SAMPLES
from vae.evaluation.thresholds import detector_score
from vae.model import latent
from vae.model.conditioning import labels_of
from vae.run.dataset import load_test_digits
from vae.run.directory import DEFAULT_RUN, PROGRESS_FILE, REPORT_FILE, RunDir
from vae.run.loading import load_run
from vae.run.records import SAMPLE_QUALITY_KEY, evaluation_is_current, evaluation_path, read_evaluation
from vae.run.snapshots import read_snapshots, to_bytes
from vae.views import CONDITIONAL_EXPLORER_SIZE, EXPLORER_SIZE, learning
from vae.views import figures as plots
from vae.views.outliers import plot_outlier_scores

EXPLORER_SIDE = 560  # canvas pixels of the scatter the pointer moves over
REPORT_DIGITS = 10
REPORT_SAMPLES = 64
# A conditional run's explorer decodes about this many cells over all its classes' grids (10 grids of 32 x 32),
# so that a run of many classes gets smaller grids instead of a larger page.
CONDITIONAL_EXPLORER_CELLS = 10 * CONDITIONAL_EXPLORER_SIZE**2
MIN_CLASS_GRID = 4


METRIC_NAMES = {
    "negative_elbo": "negative ELBO",
    "reconstruction_loss": "reconstruction",
    "kl_loss": "KL",
    "importance_weighted_nll": "importance-weighted NLL",
    "importance_weighted_bce_bound": "importance-weighted BCE bound",
}


def data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of the picture `image` (floats in [0, 1]), gray or RGB."""
    buffer = io.BytesIO()
    Image.fromarray(to_bytes(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def class_grid_size(classes: int) -> int:
    """Cells a side of each class's explorer grid: `CONDITIONAL_EXPLORER_SIZE` for up to 10 classes, less for more."""
    return max(MIN_CLASS_GRID, min(CONDITIONAL_EXPLORER_SIZE, math.isqrt(CONDITIONAL_EXPLORER_CELLS // classes)))


def hex_colour(rgba) -> str:
    return "#" + "".join(f"{round(255 * part):02x}" for part in rgba[:3])


def explorer_data(model, images: np.ndarray, labels: np.ndarray, size: int, dims: tuple[int, int]) -> dict:
    """The explorer's sprite (size x size decoded images, one batched call; for a conditional model one such grid per
    class, stacked from the first at the top) and the test images' latent means on the two chosen axes."""
    if size < 2:
        raise UsageError(f"the explorer grid needs at least 2 cells a side, got {size}")
    config = model.vae_config
    means = latent.encode_means(model, images, latent.model_labels(model, labels))[:, list(dims)]
    span = latent.span_covering(means)  # as `vae-plot latent-grid` chooses it, from the same means
    grids = [
        latent.decode_latent_grid(model, size, span=span, dims=dims, label=label)
        for label in model.latent.labels.grid_labels()
    ]
    grid, axis = np.concatenate([grid for grid, _ in grids]), grids[0][1]
    return {
        "names": list(config.classes),
        "conditional": config.conditional,
        "cell": config.image_size,
        "channels": config.channels,
        "size": size,
        "span": span,
        "dims": list(dims),
        "axis": [round(float(value), 6) for value in axis],
        "x": np.round(means[:, 0], 3).tolist(),
        "y": np.round(means[:, 1], 3).tolist(),
        "label": labels.astype(int).tolist(),
        "colours": [hex_colour(colour) for colour in plots.class_colours(max(1, len(config.classes)))],
        "sprite": data_uri(png_bytes(plots.tile(grid, padding=0)), "image/png"),
    }


def build_report(
    run_dir: RunDir | str | os.PathLike = DEFAULT_RUN,
    output: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    explorer_size: int | None = None,
    dims: tuple[int, int] = (0, 1),
    seed: int = 0,
) -> Path:
    """Write the report of the run in `run_dir` to `output` (default `<run_dir>/report.html`) and return its path.

    `explorer_size` defaults to `EXPLORER_SIZE` cells a side, or `class_grid_size` for each class's grid of
    a conditional run."""
    run_dir = RunDir(run_dir)
    model, config, history = load_run(run_dir)
    written_to = run_dir.output_dir()
    if explorer_size is None:
        explorer_size = model.latent.labels.grid_size(EXPLORER_SIZE, class_grid_size)
    evaluation = read_evaluation(run_dir)
    stale = evaluation is not None and evaluation_is_current(evaluation, run_dir) is False
    if stale:
        warnings.warn(
            f"{evaluation_path(run_dir)} scored other weights than the run's: the report leaves it out; run "
            "vae-eval again",
            VAEWarning,
            stacklevel=2,
        )
    if config.latent_dim >= 2:
        dims = latent.check_dims(tuple(dims), config.latent_dim)
    images, labels = load_test_digits(config, data_dir, run_dir)
    chosen = latent.choose_test_digits(len(images), REPORT_DIGITS, seed)
    snapshots = read_snapshots(run_dir) if any(run_dir.snapshots_dir.glob("epoch-*.npz")) else []

    pictures = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        drawings = {
            "history": lambda path: learning.plot_history(history, config, path),
            "reconstruction": lambda path: plots.plot_reconstructions(model, images, labels, chosen, path),
            "samples": lambda path: plots.plot_samples(model, path, REPORT_SAMPLES, seed),
        }
        for name, draw in drawings.items():
            pictures[name] = data_uri(draw(scratch / f"{name}.png").read_bytes(), "image/png")
        if snapshots:
            progress = learning.render_progress(snapshots, config, scratch / PROGRESS_FILE)
            pictures["progress"] = data_uri(progress.read_bytes(), "image/gif")
        score = detector_score(config)
        scores = load_outlier_scores(run_dir, score)
        found = {} if evaluation is None or stale else evaluation.get("outliers") or {}
        if scores is not None and score in found.get("scores", {}):
            result = found["scores"][score]
            marks = {rate: value["threshold"] for rate, value in result["thresholds"].items()}
            drawn = plot_outlier_scores(*scores, score, result["auroc"], marks, scratch / "outliers.png")
            pictures["outliers"] = data_uri(drawn.read_bytes(), "image/png")
    explorer = explorer_data(model, images, labels, explorer_size, dims) if config.latent_dim >= 2 else None

    page = render_page(
        run_dir,
        config,
        history,
        None if stale else evaluation,
        pictures,
        explorer,
        snapshots=len(snapshots),
        stale=stale,
    )
    path = Path(output) if output is not None else written_to / REPORT_FILE
    files.write_text(path, page)
    return path


def render_page(
    run_dir: RunDir, config, history: dict, evaluation, pictures: dict, explorer, snapshots: int, stale: bool = False
) -> str:
    """The page: `report_page/page.html` filled in, with its style sheet and script inlined. With `stale`, the
    run's eval.json scored other weights and the page says so instead of showing it."""
    escape = html.escape
    loss_name = learning.history_panels(config)[0][1]
    final = [
        (f"test {loss_name}", history["test_loss"][-1]),
        ("test reconstruction", history["test_reconstruction_loss"][-1]),
        ("test KL", history["test_kl_loss"][-1]),
    ]
    summary = "".join(table_row(name, f"{value:.2f} nats") for name, value in final)
    active = last_active_units(history)
    if active is not None:
        summary += table_row("test active latent units", f"{active} of {config.latent_dim}")
    if history.get("wall_seconds"):
        summary += table_row("training time", f"{history['wall_seconds'][-1] / 60:.1f} min")
    if "progress" in pictures:
        note = f"{snapshots} snapshots of <code>vae-train --snapshots</code>."
        progress = f'<img src="{pictures["progress"]}" alt="Training animation"><p class=note>{note}</p>'
    else:
        progress = f"<p class=note>{NO_SNAPSHOTS}</p>"
    return page_template("page.html").substitute(
        style=page_file("style.css"),
        script=page_file("explorer.js"),
        run_dir=escape(str(run_dir)),
        epochs=len(history["loss"]),
        dataset=escape(config.dataset),
        latent_dim=config.latent_dim,
        written=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
        explorer=explorer_section(explorer, config.latent_dim, labels_of(config)) if explorer else "",
        summary_rows=summary,
        warning=collapse_paragraph(history, evaluation, config.latent_dim),
        evaluation=evaluation_table(evaluation, stale, pictures.get("outliers")),
        config_rows="".join(table_row(key, json.dumps(value)) for key, value in config.to_dict().items()),
        history_image=pictures["history"],
        progress=progress,
        reconstruction_image=pictures["reconstruction"],
        samples_image=pictures["samples"],
    )


NO_SNAPSHOTS = "No snapshots: train with <code>vae-train --snapshots</code> to watch the latent grid learn."
NO_EVALUATION = "No eval.json: run <code>vae-eval</code> for the<br>importance-weighted bound."
STALE_EVALUATION = "The run's eval.json scored other weights than these:<br>run <code>vae-eval</code> again."


def page_file(name: str) -> str:
    """A file of the page, shipped as package data in `vae/views/report_page/`."""
    return resources.files("vae.views").joinpath("report_page", name).read_text(encoding="utf-8")


def page_template(name: str) -> Template:
    return Template(page_file(name))


def table_row(name: str, value: str) -> str:
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"


def evaluation_table(evaluation: dict | None, stale: bool = False, outliers_picture: str | None = None) -> str:
    if evaluation is None:
        return f"<p class=note>{STALE_EVALUATION if stale else NO_EVALUATION}</p>"
    quality = sample_quality_table(evaluation.get(SAMPLE_QUALITY_KEY))
    if not evaluation["metrics"]:  # eval.json of `vae-eval --sample-quality` alone
        return f"<p class=note>{NO_EVALUATION}</p>{quality}"
    rows = "".join(
        table_row(METRIC_NAMES.get(name, name), f"{value:.2f} nats") for name, value in evaluation["metrics"].items()
    )
    protocol = html.escape(str(evaluation.get("protocol", "")))
    caption = f"eval.json: {protocol}, {evaluation.get('digits')} test digits, k = {evaluation.get('k')}"
    outliers = outliers_table(evaluation, outliers_picture)
    return f"<table><caption>{caption}</caption>{rows}</table>{collapse_table(evaluation)}{outliers}{quality}"


def outliers_table(evaluation: dict, picture: str | None) -> str:
    """The AUROC and thresholds of every score of `vae-eval --outliers`, the threshold saved in the run, and the ROC
    curve and histograms of its detector score; "" without them."""
    found, saved = evaluation.get("outliers"), evaluation.get("threshold")
    if not found and not saved:
        return ""
    rows = ""
    for name, result in (found or {}).get("scores", {}).items():
        at = ", ".join(
            f"{html.escape(rate)}: {value['threshold']:.4g} ({100 * value['outliers_above']:.1f} % of outliers)"
            for rate, value in result["thresholds"].items()
        )
        rows += table_row(html.escape(name), f"AUROC {result['auroc']:.4f}; thresholds {at}")
    if saved:
        rows += table_row("saved threshold", html.escape(f"{saved['score']} > {saved['value']:.4g} ({saved['rule']})"))
    caption = "Outliers: " + html.escape(", ".join(found["outliers"])) if found else "Outliers"
    image = f'<img src="{picture}" alt="ROC curve and score histograms">' if picture else ""
    return f"<table><caption>{caption}</caption>{rows}</table>{image}"


def last_active_units(history: dict) -> int | None:
    """The active latent units of the last scored epoch (`test_active_units`), or None for a run saved before
    training counted them."""
    scored = [value for value in history.get("test_active_units", []) if value is not None]
    return int(scored[-1]) if scored else None


def collapse_table(evaluation: dict) -> str:
    """The active units and the reconstruction error beside the baselines' that `vae-eval` measured
    (`vae.evaluation.collapse`); "" for an eval.json written before it measured them, or one whose parts are not
    what it writes."""
    try:
        errors = evaluation["reconstruction"]
        rows = table_row("active latent units", f"{int(evaluation['active_units'])} of {int(evaluation['latent_dim'])}")
        rows += table_row("VAE, from the posterior mean", describe(errors["vae"]))
        if "pca" in errors:
            components = int(errors["pca"]["components"])
            rows += table_row(f"PCA, {components} component{'s' * (components != 1)}", describe(errors["pca"]))
        rows += table_row("the mean training image", describe(errors["mean_image"]))
    except (KeyError, TypeError, ValueError):
        return ""
    caption = (
        f"Collapse: active units (posterior-mean variance over the test digits above {ACTIVE_UNIT_THRESHOLD:g}; "
        "Burda et al. 2015) and the reconstruction PSNR (MSE per pixel) beside PCA with as many components"
    )
    return f"<table><caption>{caption}</caption>{rows}</table>"


def collapse_paragraph(history: dict, evaluation: dict | None, latent_dim: int) -> str:
    """A warning at the top of the results when the run ignores its input: eval.json's `collapse_warning`, or
    without one, no active latent unit after the last scored epoch; "" otherwise."""
    message = (evaluation or {}).get("collapse_warning")
    if not isinstance(message, str) or not message:
        if last_active_units(history) != 0 or (evaluation or {}).get("reconstruction") is not None:
            return ""
        message = (
            f"the model ignores its input (0 of {latent_dim} latent units active after the last epoch): train longer, "
            "or keep the defaults --free-nats and --min-warmup-steps, or lower --learning-rate"
        )
    return f"<p class=warning>Warning: {html.escape(message)}</p>"


def sample_quality_table(record: dict | None) -> str:
    """The samples' numbers beside the floor's (real training images), from `vae-eval --sample-quality`; "" without
    them."""
    if not record:
        return ""
    escape = html.escape
    rows = "<tr><th></th><th>samples</th><th>real images</th></tr>"
    for key, name in METRIC_NAMES_OF_SAMPLES.items():
        if key in record["metrics"]:
            ours, floor = record["metrics"][key], record["floor"]["metrics"].get(key, float("nan"))
            rows += f"<tr><th>{escape(name)}</th><td>{ours:.3f}</td><td>{floor:.3f}</td></tr>"
    for name, share in record["metrics"].get("per_class_accuracy", {}).items():
        rows += f"<tr><th>drawn as {escape(name)}</th><td>{100 * share:.1f} %</td><td></td></tr>"
    caption = (
        f"Sample quality: {record['samples']} samples at temperature {record['temperature']:g}, seed "
        f"{record['seed']}, judged by the {escape(record['judge']['dataset'])} classifier shipped with the package "
        f"against {record['test_images']} test images; real images: {record['floor']['images']} training images"
    )
    return f"<table><caption>{caption}</caption>{rows}</table>"


def explorer_section(explorer: dict, latent_dim: int, conditioning) -> str:
    """`report_page/explorer.html` filled in: the canvas, the readout, the legend, the sprite and the data, with a
    class selector where the run's `conditioning` (`vae.model.conditioning`) draws a grid for each class."""
    i, j = explorer["dims"]
    names = explorer["names"] if len(explorer["names"]) <= plots.MAX_LEGEND_CLASSES else []
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{html.escape(name)}</span>'
        for name, colour in zip(names, explorer["colours"], strict=False)
    )
    data = json.dumps({key: value for key, value in explorer.items() if key != "sprite"}, separators=(",", ":"))
    options = "".join(
        f"<option value={label}>{html.escape(name)}</option>" for label, name in conditioning.class_choices()
    )
    selector = f"<p><label>Draw the class <select id=explorer-select>{options}</select></label></p>" if options else ""
    return page_template("explorer.html").substitute(
        i=i,
        j=j,
        size=explorer["size"],
        selector=selector,
        grids=conditioning.each_class,
        cell=explorer["cell"],
        others="" if latent_dim == 2 else f" The other {latent_dim - 2} latent axes stay at 0.",
        side=EXPLORER_SIDE,
        legend=legend,
        sprite=explorer["sprite"],
        data=data.replace("</", "<\\/"),  # JSON inside a script element must not close it
    )
