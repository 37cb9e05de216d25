"""`report.html`: one self-contained page about a trained run, with an interactive latent explorer.

The page opens offline from disk: every image is inlined as a data URI, the data as JSON, the code as a few lines of
plain JavaScript, and nothing is fetched. It shows the config, the training curves, eval.json when there is one,
reconstructions, samples, the training animation of a `--snapshots` run, and the latent explorer.

The explorer is decoded once, here: a dense grid of latent points (64 x 64 by default) in one batched call, packed
into one sprite image. In the page, the pointer's position over the scatter of the test digits' latent means picks a
latent point, and the digit shown there is the bilinear blend of the four grid cells around it, enlarged. The grid
covers the same square as `vae-plot latent-grid` and, for a latent size above 2, varies the same two axes while the
others stay at 0.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vae import plots, storage
from vae.snapshots import SNAPSHOTS_DIR, read_snapshots, to_bytes

REPORT_FILE = "report.html"
EXPLORER_SIZE = 64
EXPLORER_SIDE = 560  # canvas pixels of the scatter the pointer moves over
REPORT_DIGITS = 10
REPORT_SAMPLES = 64
# matplotlib's tab10, the colours of `vae-plot clusters`.
LABEL_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


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
    """A grayscale PNG of `image` (floats in [0, 1])."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_bytes(image), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def explorer_data(model, images: np.ndarray, labels: np.ndarray, size: int, dims: tuple[int, int]) -> dict:
    """The explorer's sprite (size x size decoded digits, one batched call) and the test digits' latent means on the
    two chosen axes."""
    if size < 2:
        raise ValueError(f"the explorer grid needs at least 2 cells a side, got {size}")
    means = plots.encode_means(model, images)[:, list(dims)]
    span = plots.span_covering(means)  # as `vae-plot latent-grid` chooses it, from the same means
    grid, axis = plots.decode_latent_grid(model, size, span=span, dims=dims)
    return {
        "size": size,
        "span": span,
        "dims": list(dims),
        "axis": [round(float(value), 6) for value in axis],
        "x": np.round(means[:, 0], 3).tolist(),
        "y": np.round(means[:, 1], 3).tolist(),
        "label": labels.astype(int).tolist(),
        "colours": LABEL_COLOURS,
        "sprite": data_uri(png_bytes(plots.tile(grid, padding=0)), "image/png"),
    }


def read_eval(run_dir: Path) -> dict | None:
    """eval.json when the run has one; a damaged one is reported, not trusted."""
    path = run_dir / storage.EVAL_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        metrics = {str(key): float(value) for key, value in record["metrics"].items()}
        return {**record, "metrics": metrics}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise storage.RunError(f"{path} is damaged ({error}); run vae-eval again or delete it") from None


def build_report(
    run_dir: str | os.PathLike = "outputs",
    output: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    explorer_size: int = EXPLORER_SIZE,
    dims: tuple[int, int] = (0, 1),
    seed: int = 0,
) -> Path:
    """Write the report of the run in `run_dir` to `output` (default `<run_dir>/report.html`) and return its path."""
    run_dir = Path(run_dir)
    model, config, history = storage.load_run(run_dir)
    evaluation = read_eval(run_dir)
    if config.latent_dim >= 2:
        dims = plots.check_dims(tuple(dims), config.latent_dim)
    images, labels = plots.load_test_digits(config, data_dir)
    chosen = sorted(np.random.default_rng(seed).choice(len(images), size=min(REPORT_DIGITS, len(images)), replace=False))
    snapshots = read_snapshots(run_dir) if any((run_dir / SNAPSHOTS_DIR).glob("epoch-*.npz")) else []

    pictures = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        drawings = {
            "history": lambda path: plots.plot_history(history, config, path),
            "reconstruction": lambda path: plots.plot_reconstructions(model, images, labels, chosen, path),
            "samples": lambda path: plots.plot_samples(model, path, REPORT_SAMPLES, seed),
        }
        for name, draw in drawings.items():
            pictures[name] = data_uri(draw(scratch / f"{name}.png").read_bytes(), "image/png")
        if snapshots:
            progress = plots.render_progress(snapshots, config, scratch / "progress.gif")
            pictures["progress"] = data_uri(progress.read_bytes(), "image/gif")
    explorer = explorer_data(model, images, labels, explorer_size, dims) if config.latent_dim >= 2 else None

    page = render_page(run_dir, config, history, evaluation, pictures, explorer, snapshots=len(snapshots))
    path = Path(output) if output is not None else run_dir / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    storage.write_text(path, page)
    return path


def render_page(run_dir: Path, config, history: dict, evaluation, pictures: dict, explorer, snapshots: int) -> str:
    escape = html.escape
    epochs = len(history.get("loss", []))
    loss_name = plots.history_panels(config)[0][1]
    final = [
        (f"test {loss_name}", history["test_loss"][-1]),
        ("test reconstruction", history["test_reconstruction_loss"][-1]),
        ("test KL", history["test_kl_loss"][-1]),
    ]
    summary = "".join(f"<tr><th>{escape(name)}</th><td>{value:.2f} nats</td></tr>" for name, value in final)
    if history.get("wall_seconds"):
        summary += f"<tr><th>training time</th><td>{history['wall_seconds'][-1] / 60:.1f} min</td></tr>"
    config_rows = "".join(
        f"<tr><th>{escape(key)}</th><td>{escape(json.dumps(value))}</td></tr>" for key, value in config.to_dict().items()
    )
    sections = [
        f"<h1>VAE run <code>{escape(str(run_dir))}</code></h1>",
        f"<p class=meta>{epochs} epochs on {escape(config.dataset)}, latent size {config.latent_dim}. "
        f"Report written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
    ]
    if explorer:
        sections.append(explorer_section(explorer, config.latent_dim))
    sections.append(
        "<section><h2>Result</h2><div class=columns>"
        f"<table><caption>after the last epoch</caption>{summary}</table>"
        f"{evaluation_table(evaluation)}"
        f"<table><caption>config.json</caption>{config_rows}</table></div></section>"
    )
    sections.append(f"<section><h2>Training curves</h2>{image(pictures['history'], 'Training curves')}</section>")
    if "progress" in pictures:
        sections.append(
            f"<section><h2>Training, epoch by epoch</h2>{image(pictures['progress'], 'Training animation')}"
            f"<p class=note>{snapshots} snapshots of <code>vae-train --snapshots</code>.</p></section>"
        )
    else:
        sections.append(
            "<section><h2>Training, epoch by epoch</h2><p class=note>This run has no snapshots: train with "
            "<code>vae-train --snapshots</code> to see the latent grid change epoch by epoch.</p></section>"
        )
    sections.append(
        f"<section><h2>Reconstructions</h2>{image(pictures['reconstruction'], 'Reconstructions')}</section>"
        f"<section><h2>Samples</h2>{image(pictures['samples'], 'Samples from the prior')}</section>"
    )
    return PAGE.replace("<!--BODY-->", "\n".join(sections))


def image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def evaluation_table(evaluation: dict | None) -> str:
    if evaluation is None:
        return "<p class=note>No eval.json: run <code>vae-eval</code> for the<br>importance-weighted bound.</p>"
    rows = "".join(
        f"<tr><th>{html.escape(METRIC_NAMES.get(name, name))}</th><td>{value:.2f} nats</td></tr>"
        for name, value in evaluation["metrics"].items()
    )
    caption = (
        f"eval.json: {html.escape(str(evaluation.get('protocol', '')))}, "
        f"{evaluation.get('digits')} test digits, k = {evaluation.get('k')}"
    )
    return f"<table><caption>{caption}</caption>{rows}</table>"


def explorer_section(explorer: dict, latent_dim: int) -> str:
    i, j = explorer["dims"]
    others = "" if latent_dim == 2 else f" The other {latent_dim - 2} latent axes stay at 0."
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{digit}</span>' for digit, colour in enumerate(explorer["colours"])
    )
    data = json.dumps({key: value for key, value in explorer.items() if key != "sprite"}, separators=(",", ":"))
    return f"""<section id=explorer><h2>Latent explorer</h2>
<p class=note>Each dot is the latent mean of a test digit, on axes z[{i}] and z[{j}]. Point anywhere (mouse or finger)
to see the digit the decoder draws there, blended from a {explorer['size']}&times;{explorer['size']} grid decoded when
this report was written.{others}</p>
<div class=explorer>
<canvas id=explorer-map width={EXPLORER_SIDE} height={EXPLORER_SIDE}></canvas>
<div class=panel><canvas id=explorer-digit width=28 height=28></canvas>
<p id=explorer-readout data-z="">z[{i}] = 0.00, z[{j}] = 0.00</p>
<p class=legend>{legend}</p></div></div>
<img id=explorer-sprite hidden alt="" src="{explorer['sprite']}">
<script type="application/json" id=explorer-data>{data}</script>
</section>"""


PAGE = """<!DOCTYPE html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>VAE report</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
section { margin: 2em 0; } img { max-width: 100%; }
.meta, .note { color: #555; } .columns { display: flex; gap: 3em; flex-wrap: wrap; align-items: flex-start; }
table { border-collapse: collapse; margin: .5em 0; } caption { text-align: left; color: #555; padding-bottom: .3em; }
th, td { text-align: left; padding: .15em 1em .15em 0; border-bottom: 1px solid #eee; font-weight: normal; }
th { color: #555; } td { font-variant-numeric: tabular-nums; }
.explorer { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
#explorer-map { width: 560px; max-width: 100%; border: 1px solid #ccc; cursor: crosshair; touch-action: none; }
#explorer-digit { width: 280px; height: 280px; image-rendering: pixelated; border: 1px solid #ccc; }
#explorer-readout { font: 1.1em ui-monospace, monospace; }
.legend span { margin-right: .8em; white-space: nowrap; }
.legend i { display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .3em; }
</style>
</head>
<body>
<!--BODY-->
<script>
(function () {
  const source = document.getElementById("explorer-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const map = document.getElementById("explorer-map");
  const digit = document.getElementById("explorer-digit");
  const readout = document.getElementById("explorer-readout");
  const n = data.size, span = data.span, side = map.width;
  let sprite = null;  // the decoded grid's gray levels, (n * 28) x (n * 28), row 0 at the largest z[j]
  const background = document.createElement("canvas");
  background.width = background.height = side;

  // Latent coordinates <-> canvas pixels: the canvas spans [-span, span] on both axes, z[j] growing upwards.
  const toCanvas = (z) => (z + span) / (2 * span) * side;
  const toLatent = (pixel) => pixel / side * 2 * span - span;

  function drawScatter() {
    const context = background.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, side, side);
    context.strokeStyle = "#ccc";
    context.beginPath();
    context.moveTo(toCanvas(0), 0); context.lineTo(toCanvas(0), side);
    context.moveTo(0, toCanvas(0)); context.lineTo(side, toCanvas(0));
    context.stroke();
    // The span at the ends of the two axes through 0.
    const [i, j] = data.dims;
    context.fillStyle = "#666";
    context.font = "12px sans-serif";
    context.textAlign = "left";
    context.fillText(`z[${i}] = ${-span}`, 4, toCanvas(0) - 5);
    context.fillText(`z[${j}] = ${-span}`, toCanvas(0) + 5, side - 5);
    context.fillText(`z[${j}] = ${span}`, toCanvas(0) + 5, 14);
    context.textAlign = "right";
    context.fillText(`z[${i}] = ${span}`, side - 4, toCanvas(0) - 5);
    context.globalAlpha = 0.6;
    for (let k = 0; k < data.x.length; k++) {
      context.fillStyle = data.colours[data.label[k]];
      context.fillRect(toCanvas(data.x[k]) - 1, side - toCanvas(data.y[k]) - 1, 2, 2);
    }
  }

  // The digit at (x, y): the bilinear blend of the four grid cells around it (cell centres at data.axis).
  function show(x, y) {
    const column = Math.min(Math.max((x + span) / (2 * span) * (n - 1), 0), n - 1);
    const row = Math.min(Math.max((span - y) / (2 * span) * (n - 1), 0), n - 1);
    const c0 = Math.min(Math.floor(column), n - 2), r0 = Math.min(Math.floor(row), n - 2);
    const u = column - c0, v = row - r0;
    const weights = [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v];
    const cells = [[r0, c0], [r0, c0 + 1], [r0 + 1, c0], [r0 + 1, c0 + 1]];
    const context = digit.getContext("2d");
    const pixels = context.createImageData(28, 28);
    for (let p = 0; p < 28 * 28; p++) {
      const py = Math.floor(p / 28), px = p % 28;
      let value = 0;
      for (let c = 0; c < 4; c++) {
        value += weights[c] * sprite[((cells[c][0] * 28 + py) * n * 28 + cells[c][1] * 28 + px)];
      }
      pixels.data.set([value, value, value, 255], 4 * p);
    }
    context.putImageData(pixels, 0, 0);
    readout.textContent = `z[${data.dims[0]}] = ${x.toFixed(2)}, z[${data.dims[1]}] = ${y.toFixed(2)}`;
    readout.dataset.z = `${x},${y}`;
    const view = map.getContext("2d");
    view.drawImage(background, 0, 0);
    view.strokeStyle = "#000";
    view.beginPath();
    view.arc(toCanvas(x), side - toCanvas(y), 6, 0, 2 * Math.PI);
    view.stroke();
  }

  function point(event) {
    if (!sprite) return;
    // Measured inside the border, where the canvas is drawn (it may be scaled down on a narrow screen).
    const box = map.getBoundingClientRect();
    const px = (event.clientX - box.left - map.clientLeft) / map.clientWidth * side;
    const py = (event.clientY - box.top - map.clientTop) / map.clientHeight * side;
    show(toLatent(px), -toLatent(py));
    event.preventDefault();
  }

  const image = document.getElementById("explorer-sprite");
  image.decode().then(() => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = n * 28;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, n * 28, n * 28).data;
    sprite = new Uint8ClampedArray(n * 28 * n * 28);
    for (let p = 0; p < sprite.length; p++) sprite[p] = rgba[4 * p];
    drawScatter();
    show(0, 0);
    map.addEventListener("pointermove", point);
    map.addEventListener("pointerdown", point);
    document.body.dataset.explorerReady = "true";
  });
})();
</script>
</body>
</html>
"""
