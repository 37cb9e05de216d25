"""New digits, measured: the sample quality of the keras.io loop, the shipped runs and the model variants, beside
the floor of real images, in the eyes of the judges shipped with the package (`vae.evaluation.judges`).

    python benchmarks/sample_quality.py --work-dir /work/runs/sq --data-dir /work/shared/datasets/mnist
    python benchmarks/sample_quality.py --work-dir /work/runs/sq --rows pretrained,fast-recipe --samples 2000

It trains nothing: each row reads a finished run, from --work-dir (keras-io/decoder.keras, saved by
`keras_io_reference.train_reference(..., decoder_path=...)`; fast-recipe, latent-16, latent-32, vampprior,
two-layers: run folders of `vae-train`) or shipped with the package (pretrained:NAME). A row whose run is missing is
skipped and said so. Rows measured before and not asked for again are kept in --output, so the table can be filled
row by row; each row records its samples and seed. Writes benchmarks/sample_quality.json and draws the samples of
the best and the worst MNIST rows by Fréchet distance side by side into docs/images/samples-best-worst.png.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import date
from pathlib import Path

import click
import numpy as np
from common import data_dir_option, fashion_dir_option

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "sample_quality.json"
PICTURE = ROOT / "docs" / "images" / "samples-best-worst.png"
# How WORK/keras-io was made: the example's loop on the 60,000 training digits, 30 epochs, its decoder kept.
KERAS_IO_COMMAND = "keras_io_reference.train_reference(train, test, decoder_path='WORK/keras-io/decoder.keras')"
# The rows, in the table's order: (name, what it is, where its run is, temperature). "floor:DATASET" rows are real
# training images; "keras-io" is the example's decoder; the rest are runs of the package.
ROWS = [
    ("floor-mnist", "real MNIST training digits (the floor)", "floor:mnist", 1.0),
    ("keras-io", "the keras.io loop, 30 epochs", "keras-io", 1.0),
    ("pretrained", "pretrained:mnist (vae-train defaults, 30 epochs)", "pretrained:mnist", 1.0),
    ("pretrained-t0.8", "pretrained:mnist at τ = 0.8", "pretrained:mnist", 0.8),
    ("pretrained-t0.6", "pretrained:mnist at τ = 0.6", "pretrained:mnist", 0.6),
    ("fast-recipe", "the fast recipe (8 epochs)", "fast-recipe", 1.0),
    ("latent-16", "16-D latent, the fast recipe", "latent-16", 1.0),
    ("latent-32", "32-D latent, the fast recipe", "latent-32", 1.0),
    ("conditional", "pretrained:mnist-conditional", "pretrained:mnist-conditional", 1.0),
    ("vampprior", "VampPrior (500 pseudo-inputs), the fast recipe", "vampprior", 1.0),
    ("two-layers", "two stochastic layers, 8 epochs at their own rate", "two-layers", 1.0),
    ("floor-fashion-mnist", "real Fashion-MNIST training images (the floor)", "floor:fashion-mnist", 1.0),
    ("fashion-mnist", "pretrained:fashion-mnist", "pretrained:fashion-mnist", 1.0),
]
PICTURE_SAMPLES = 64


def training_command(run) -> str:
    """The command that trained a run: the manifest's for a shipped run, else vae-train with the options of the
    fields its config.json sets apart from the defaults."""
    from vae.config import DEFAULTS, command_options
    from vae.run.pretrained import PRETRAINED_MANIFEST, pretrained_root
    from vae.run.records import read_config

    name = run.pretrained_name()
    if name is not None:
        manifest = json.loads((pretrained_root() / PRETRAINED_MANIFEST).read_text())
        return manifest[name]["command"]
    config, defaults = read_config(run).to_dict(), DEFAULTS.to_dict()
    changed = {field: value for field, value in config.items() if value != defaults.get(field)}
    flags = [f"--{field.replace('_', '-')}" for field, value in changed.items() if value is True]
    valued = {field: value for field, value in changed.items() if not isinstance(value, bool)}
    return " ".join(["vae-train", *command_options(valued), *flags])


def draw(where: str, work_dir: Path, samples: int, temperature: float, seed: int):
    """The row's generated images and asked labels, its data set, classes, and (command, prior)."""
    from vae.evaluation.generation import draw_samples
    from vae.run.directory import RunDir
    from vae.run.loading import load_run
    from vae.run.pretrained import PRETRAINED_PREFIX

    if where == "keras-io":
        import keras

        decoder = keras.saving.load_model(work_dir / "keras-io" / "decoder.keras")
        rng = np.random.default_rng(seed)
        z = (temperature * rng.standard_normal((samples, decoder.input_shape[-1]))).astype("float32")
        images = np.asarray(decoder.predict(z, batch_size=500, verbose=0), np.float32)
        return images, None, "mnist", None, (KERAS_IO_COMMAND, "N(0, I)")
    run = RunDir(where if where.startswith(PRETRAINED_PREFIX) else work_dir / where)
    model, config, _ = load_run(run)
    images, labels = draw_samples(model, samples, temperature, seed)
    return images, labels, config.dataset, config.classes, (training_command(run), model.latent.prior.title)


def run_exists(where: str, work_dir: Path) -> bool:
    if where.startswith(("floor:", "pretrained:")):
        return True
    if where == "keras-io":
        return (work_dir / "keras-io" / "decoder.keras").is_file()
    return (work_dir / where / "vae.weights.h5").is_file()


def measure_row(where: str, work_dir: Path, datasets: dict, samples: int, temperature: float, seed: int) -> dict:
    from vae.data.datasets import to_float
    from vae.evaluation import generation, judges

    if where.startswith("floor:"):
        name = where.split(":", 1)[1]
        judge = judges.load_judge(name)
        test = judge(to_float(datasets[name].test_images))
        floor = generation.floor(datasets[name], judge, test, samples, seed)
        return {"dataset": name, "command": "(real images)", "samples": floor["images"], "seed": seed, **floor}
    images, labels, name, classes, (command, prior) = draw(where, work_dir, samples, temperature, seed)
    record = generation.judge_samples(images, datasets[name], name, labels, classes, seed)
    return {"dataset": name, "command": command, "prior": prior, "temperature": temperature, **record}


def render_best_and_worst(results: dict, work_dir: Path, path: Path) -> tuple[str, str]:
    """The samples of the MNIST rows of lowest and highest Fréchet distance, side by side."""
    from vae.views.figures import DIGIT_STYLE, pyplot, save_figure, tile

    ranked = sorted(
        (row for row in results["rows"].values() if row["dataset"] == "mnist" and "temperature" in row),
        key=lambda row: row["metrics"]["frechet_distance"],
    )
    best, worst = ranked[0], ranked[-1]
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 5.6))
    for ax, row, rank in zip(axes, (best, worst), ("best", "worst"), strict=True):
        where = {name: where for name, _, where, _ in ROWS}[row["name"]]
        images = draw(where, work_dir, PICTURE_SAMPLES, row["temperature"], row["seed"])[0][..., 0]
        ax.imshow(tile(images.reshape(8, 8, *images.shape[1:])), **DIGIT_STYLE)
        ax.set_axis_off()
        distance = row["metrics"]["frechet_distance"]
        ax.set_title(f"The {rank}: {row['title']}\nFréchet distance {distance:.2f} ({row['samples']:,} samples)")
    figure.suptitle("The best and the worst MNIST samples in the judge's eyes, 64 of each row (seeded)")
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    save_figure(figure, path)
    return best["name"], worst["name"]


@click.command()
@click.option("--work-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@data_dir_option
@fashion_dir_option
@click.option("--rows", help="Comma-separated row names to measure (default: every row whose run is there).")
@click.option("--samples", type=click.IntRange(4, 50_000), default=10_000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=OUTPUT, show_default=True)
@click.option("--picture", type=click.Path(dir_okay=False, path_type=Path), default=PICTURE, show_default=True)
def main(work_dir, data_dir, fashion_dir, rows, samples, seed, output, picture) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vae.data.datasets import read_data_dir
    from vae.files import write_json

    names = [name for name, *_ in ROWS]
    asked = names if rows is None else [name.strip() for name in rows.split(",") if name.strip()]
    unknown = sorted(set(asked) - set(names))
    if unknown:
        raise click.BadParameter(
            f"no row named {', '.join(unknown)}; the rows are {', '.join(names)}", param_hint="--rows"
        )
    results = json.loads(output.read_text()) if output.is_file() else {"rows": {}}
    directories = {"mnist": data_dir, "fashion-mnist": fashion_dir}
    datasets = {}
    for name, title, where, temperature in ROWS:
        if name not in asked:
            continue
        if not run_exists(where, work_dir):
            click.echo(f"{name}: skipped, no finished run at {work_dir / where}", err=True)
            continue
        dataset = "fashion-mnist" if "fashion" in where else "mnist"
        if dataset not in datasets:
            datasets[dataset] = read_data_dir(directories[dataset], dataset)
        row = measure_row(where, work_dir, datasets, samples, temperature, seed)
        results["rows"][name] = {"name": name, "title": title, **row}
        metrics = row["metrics"]
        click.echo(
            f"{name}: FD {metrics['frechet_distance']:.2f}, score {metrics['classifier_score']:.2f}, precision "
            f"{metrics['precision']:.3f}, recall {metrics['recall']:.3f} ({row['samples']} images)"
        )
    results["rows"] = {name: results["rows"][name] for name in names if name in results["rows"]}
    results.update(
        date=date.today().isoformat(),
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        command="python benchmarks/sample_quality.py --work-dir WORK --data-dir MNIST",
    )
    models = [row for row in results["rows"].values() if row["dataset"] == "mnist" and "temperature" in row]
    if len(models) >= 2:
        results["best"], results["worst"] = render_best_and_worst(results, work_dir, picture)
        click.echo(f"wrote {picture}")
    write_json(output, results)
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
