"""Every results table of the README and the documentation, generated from the benchmarks' JSON files.

    python benchmarks/tables.py            # rewrite the tables in README.md and docs/*.md from the JSON
    python benchmarks/tables.py --check    # exit 1 naming each table that differs from its JSON (CI runs this)

A table lives in a Markdown file between two comments, and nothing in between is written by hand:

    <!-- table: NAME -->
    ...
    <!-- /table: NAME -->

NAME is a key of TABLES below. Each table ends with one line of provenance: the JSON file it was made from, the
date and machine of the measurement, and the command that measures it again.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

MARKED = re.compile(r"(<!-- table: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /table: (?P=name) -->)", re.DOTALL)
PAGES = ("README.md", "docs/*.md")


class TableError(Exception):
    """A table that cannot be made: its JSON is missing or lacks what the table shows."""


def read(name: str) -> dict:
    path = ROOT / name
    if not path.is_file():
        raise TableError(f"{name} is missing: run the benchmark that writes it")
    return json.loads(path.read_text())


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(source: str, record: dict, command: str | None = None) -> str:
    when = ", ".join(str(record[key]) for key in ("date", "machine") if record.get(key))
    command = command or record.get("command")
    line = f"From `{source}`" + (f" ({when})" if when else "")
    return line + (f"; measured by `{command}`." if command else ".")


def seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:,.0f} s"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def importance_weighted(metrics: dict) -> float:
    """The importance-weighted figure of an evaluation: the NLL of a binarized run, the BCE bound of a grayscale one."""
    return next(value for name, value in metrics.items() if name.startswith("importance_weighted"))


DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
SCORE_NAMES = {
    "negative_elbo": "−ELBO",
    "complexity_corrected_score": "corrected for complexity (bits), from that bound",
}


# --- the tables -------------------------------------------------------------------------------------------------


def time_to_quality() -> str:
    """The headline: the keras.io loop, the default 30-epoch run and the fast recipe, side by side in one run."""
    source = "benchmarks/results.json"
    results = read(source)
    reference = results["reference"]
    runs = [("the keras.io loop (constant Adam 1e-3)", "`python benchmarks/keras_io_reference.py`", reference)]
    project = results["project"]
    runs.append((project.get("name", "`vae-train` defaults"), f"`{project['command']}`", project))
    if "fast_recipe" in results:
        recipe = results["fast_recipe"]
        runs.append((recipe.get("name", "the fast recipe"), f"`{recipe['command']}`", recipe))
    rows = []
    for name, command, run in runs:
        epochs = len(run["per_epoch"]) if "per_epoch" in run else len(run["per_epoch_test_loss"])
        share = run["seconds_to_target"] / reference["seconds_to_target"] if run["seconds_to_target"] else None
        rows.append(
            [
                name,
                command,
                epochs,
                f"{run['final_test_negative_elbo']:.2f}",
                seconds(run["seconds_to_target"]),
                ratio(share),
            ]
        )
    header = [
        "run",
        "command",
        "epochs",
        "test −ELBO after the last epoch",
        f"time to test −ELBO ≤ {results['quality_target']:.2f}",
        "× the loop's time",
    ]
    return markdown(header, rows) + "\n\n" + provenance(source, results, "python benchmarks/run.py")


def speed() -> str:
    """Throughput, share of the matmul peak, latent-grid rendering and start-up, from benchmarks/run.py."""
    from run import table

    source = "benchmarks/results.json"
    results = read(source)
    return table(results) + "\n\n" + provenance(source, results, "python benchmarks/run.py")


def schedule_search() -> str:
    """Every run of the schedule search."""
    from schedule_search import quality_target, table

    source = "benchmarks/schedule_search.json"
    document = read(source)
    target = quality_target(document)
    note = f"Target: the keras.io loop's 30-epoch test −ELBO on the same machine, {target:.2f} nats."
    return (
        note
        + "\n\n"
        + table(document, target)
        + "\n\n"
        + provenance(
            source, document, "python benchmarks/schedule_search.py --run lr=1e-2,epochs=30,seed=0 (one run each)"
        )
    )


VARIANT_SETTINGS = ("arch", "dataset", "conditional")


def schedule_search_main() -> str:
    """The rows that chose the defaults: the 30-epoch candidates over their seeds, and the fast recipe."""
    from schedule_search import first_epoch_at, quality_target

    from vae.config import FAST_RECIPE

    source = "benchmarks/schedule_search.json"
    document = read(source)
    target = quality_target(document)
    recipe = (str(FAST_RECIPE["epochs"]), str(FAST_RECIPE.get("batch_size", 128)))
    groups: dict[tuple, list[dict]] = {}
    for name, run in document["runs"].items():
        settings = run["settings"]
        if name == "reference" or any(key in settings for key in VARIANT_SETTINGS):
            continue
        key = (settings["lr"], settings["warmup"], settings["batch"], settings["epochs"])
        if settings["epochs"] == "30" or (settings["epochs"], settings["batch"]) == recipe:
            groups.setdefault(key, []).append(run)
    rows = []
    by_epochs_then_settings = sorted(groups.items(), key=lambda item: (-int(item[0][3]), *map(float, item[0][:3])))
    for (lr, warmup, batch, epochs), runs in by_epochs_then_settings:
        finals = [run["test_negative_elbo"][-1] if run.get("test_negative_elbo") else None for run in runs]
        reached = [first_epoch_at(run.get("test_negative_elbo") or [], target) for run in runs]
        rows.append(
            [
                f"`{command_of(lr, warmup, batch, epochs)}`",
                len(runs),
                " / ".join("diverged" if value is None else f"{value:.2f}" for value in finals),
                " / ".join("-" if epoch is None else str(epoch) for epoch in reached),
            ]
        )
    reference = document["runs"]["reference"]["test_negative_elbo"]
    rows.append(["the keras.io loop (constant Adam 1e-3)", 1, f"{reference[-1]:.2f}", str(len(reference))])
    header = ["run", "seeds", "test −ELBO after the last epoch, by seed", f"first epoch ≤ {target:.2f}"]
    return markdown(header, rows) + "\n\n" + provenance(source, document, "python benchmarks/schedule_search.py")


def command_of(lr: str, warmup: str, batch: str, epochs: str) -> str:
    """The `vae-train` command of a search run: its epochs, and the settings that differ from the defaults."""
    from vae.config import DEFAULTS

    options = [f"--epochs {epochs}"]
    if float(batch) != DEFAULTS.batch_size:
        options.append(f"--batch-size {batch}")
    if float(lr) != DEFAULTS.learning_rate:
        options.append(f"--learning-rate {lr}")
    if float(warmup) != DEFAULTS.warmup_epochs:
        options.append(f"--warmup-epochs {warmup}")
    return " ".join(["vae-train", *options])


def schedule_side_by_side() -> str:
    """The peaks side by side on the other models and data: 10-epoch runs, seed 0."""
    source = "benchmarks/schedule_search.json"
    document = read(source)
    pairs: dict[str, dict[str, float | None]] = {}
    for run in document["runs"].values():
        settings = run["settings"]
        variant = next((f"`--{key} {settings[key]}`" for key in VARIANT_SETTINGS if key in settings), None)
        if variant is not None and settings["epochs"] != "10":
            variant += f", {settings['epochs']} epochs"
        if variant is None and settings["epochs"] == "10" and settings["warmup"] == "1" and settings["batch"] == "128":
            variant = "the default conv model on MNIST"
        if variant is None:
            continue
        losses = run.get("test_negative_elbo")
        pairs.setdefault(variant.replace(" yes`", "`"), {})[settings["lr"]] = losses[-1] if losses else None
    rates = sorted({lr for pair in pairs.values() for lr in pair}, key=float)
    rows = [
        [variant]
        + ["diverged" if pair.get(lr, "-") is None else f"{pair[lr]:.2f}" if lr in pair else "-" for lr in rates]
        for variant, pair in sorted(pairs.items())
    ]
    header = ["test −ELBO after 10 epochs, seed 0", *(f"peak {lr}" for lr in rates)]
    return markdown(header, rows) + "\n\n" + provenance(source, document, "python benchmarks/schedule_search.py")


def quality() -> str:
    source = "benchmarks/quality.json"
    record = read(source)
    rows = []
    for key in sorted(record):
        run = record[key]
        metrics = run["eval"]["metrics"]
        bound = "NLL" if run["eval"]["binarize"] else "importance-weighted bound"
        rows.append(
            [
                f"({key}) {run['name']}",
                f"`{run['command']}`",
                f"{run['training_wall_seconds'] / 60:.1f} min",
                f"{metrics['negative_elbo']:.2f}",
                f"{importance_weighted(metrics):.2f} ({bound}, k={run['eval']['k']})",
            ]
        )
    header = ["model", "command", "training wall time", "test −ELBO", "test importance-weighted"]
    dates = sorted({run["date"] for run in record.values()})
    return (
        markdown(header, rows)
        + "\n\n"
        + provenance(
            source, {"date": " to ".join(dict.fromkeys([dates[0], dates[-1]]))}, "python benchmarks/quality_report.py"
        )
    )


def reproduce() -> str:
    source = "benchmarks/reproduce.json"
    record = read(source)
    rows = []
    for run in record.values():
        metrics = run["eval"]["metrics"]
        value, model = run["published"]
        published = f"{value}: {model}"
        rows.append(
            [
                run["variant"],
                f"`{run['command']}`",
                run["epochs"],
                f"{run['training_wall_seconds'] / 60:.1f} min",
                f"**{importance_weighted(metrics):.2f}**",
                f"{metrics['negative_elbo']:.2f}",
                published,
            ]
        )
    header = ["variant", "command", "epochs", "training wall time", "test NLL (k=1000)", "test −ELBO", "published"]
    dates = sorted({run["date"] for run in record.values()})
    return (
        markdown(header, rows)
        + "\n\n"
        + provenance(
            source, {"date": " to ".join(dict.fromkeys([dates[0], dates[-1]]))}, "python benchmarks/reproduce.py"
        )
    )


def conditional_table(source: str, command: str) -> str:
    record = read(source)
    by_class = record["samples"].get("accuracy_by_class") or record["samples"]["accuracy_by_digit"]
    rows = [[name, f"{accuracy:.1%}"] for name, accuracy in by_class.items()]
    rows.append(["**all**", f"**{record['samples']['accuracy']:.1%}**"])
    # Runs measured before the default peak learning rate changed record the one they trained at.
    schedule = f" at peak learning rate {record['learning_rate']}" if "learning_rate" in record else ""
    summary = (
        f"Run: {record['epochs']} epochs{schedule}, test −ELBO {record['test_negative_elbo']:.2f}. The judge scores "
        f"{record['judge']['test_accuracy']:.1%} on the test split. As a classifier (argmax over classes of the "
        f"k={record['classifier']['k']} bound) the run names {record['classifier']['accuracy']:.1%} of "
        f"{record['classifier']['test_digits']:,} test images right."
    )
    header = ["asked class", "samples the judge names as that class"]
    return summary + "\n\n" + markdown(header, rows) + "\n\n" + provenance(source, record, command)


def conditional() -> str:
    return conditional_table(
        "benchmarks/conditional.json", "python benchmarks/conditional.py --run-dir RUN --data-dir MNIST --k 10"
    )


def conditional_fashion() -> str:
    return conditional_table(
        "benchmarks/conditional_fashion.json",
        "vae-train --data-dir TREE --conditional --epochs 5, then python benchmarks/conditional.py --run-dir RUN "
        "--data-dir TREE --limit 1000 --output benchmarks/conditional_fashion.json",
    )


def out_of_distribution(source: str = "benchmarks/out_of_distribution.json") -> str:
    record = read(source)
    rows = [
        [
            row["trained on"],
            row["outliers"],
            SCORE_NAMES.get(row["score"], f"importance-weighted, k = {record['k']}"),
            f"{row['mean score, own test split']:.2f}",
            f"{row['mean score, outliers']:.2f}",
            f"**{row['AUROC']:.4f}**",
        ]
        for row in record["rows"]
    ]
    header = ["trained on", "outliers", "score", "mean score, own test split", "mean score, outliers", "AUROC"]
    return markdown(header, rows) + "\n\n" + provenance(source, record, "python benchmarks/out_of_distribution.py")


def out_of_distribution_detector() -> str:
    return out_of_distribution("benchmarks/out_of_distribution_detector.json")


def defects() -> str:
    source = "benchmarks/defects.json"
    record = read(source)
    rows = []
    for name, run in record.items():
        config = run["run"]
        model = f"{config['architecture']}, {config['latent_dim']}-D, {config['likelihood']}, {config['epochs']} epochs"
        for kind, found in [*run["kinds"].items(), ("all", run)]:
            rows.append(
                [
                    name if kind in run["kinds"] and kind == next(iter(run["kinds"])) else "",
                    model if kind == next(iter(run["kinds"])) else "",
                    kind,
                    found.get("defect_pixels_per_image", "-"),
                    f"**{found['pixel_auroc']:.4f}**",
                    f"{found['reconstruction_error_pixel_auroc']:.4f}",
                ]
            )
    header = ["test images of", "run", "defect", "defect pixels per image", "pixel AUROC: the map"]
    header.append("pixel AUROC: reconstruction error")
    dates = sorted({run["date"] for run in record.values()})
    when = {"date": dates[-1], "machine": next(iter(record.values()))["machine"]}
    return markdown(header, rows) + "\n\n" + provenance(source, when, "python benchmarks/defects.py")


def complexity_check() -> str:
    source = "benchmarks/complexity_check.json"
    record = read(source)
    rows = [
        [
            f"`{row['run']}`",
            row["likelihood"] + ("" if row["exact likelihood"] else " of gray levels"),
            f"{DATASET_TITLES[row['trained on']]} against {DATASET_TITLES[row['outliers']]}",
            f"{row['raw -ELBO']:.4f}",
            f"{row['complexity alone (zlib)']:.4f}",
            f"**{row['S, zlib']:.4f}**",
            f"{row['S, png']:.4f}",
        ]
        for row in record["rows"]
    ]
    header = ["run", "likelihood", "pair", "raw −ELBO", "L(x) alone", "S, zlib (the package's)", "S, PNG"]
    return markdown(header, rows) + "\n\n" + provenance(source, record, "python benchmarks/complexity_check.py")


def one_class_table(dataset: str, source: str) -> str:
    record = read(source)
    published = read("benchmarks/one_class_published.json")[dataset]
    columns = published["columns"]
    measured_classes = sorted(record["classes"].items(), key=lambda item: int(item[0]))
    scores = list(measured_classes[0][1]["auroc"])
    names = [SCORE_NAMES.get(score, f"importance-weighted, k = {record['k']}") for score in scores]
    baselines = list(measured_classes[0][1].get("baselines", {}))
    header = ["normal class", *(f"ours: {name}" for name in names), *(f"no training: {b}" for b in baselines)]
    header += columns
    rows = []
    for normal, measured in measured_classes:
        paper = published["rows"].get(normal) or ["-"] * len(columns)
        ours = [f"{measured['auroc'][score]:.1f}" for score in scores]
        rows.append([f"{normal} ({measured['name']})", *ours, *(f"{measured['baselines'][b]:.1f}" for b in baselines),
                     *paper])  # fmt: skip
    if len(measured_classes) == 10:
        means = [np.mean([measured["auroc"][score] for _, measured in measured_classes]) for score in scores]
        means += [np.mean([measured["baselines"][b] for _, measured in measured_classes]) for b in baselines]
        paper_means = [
            f"{np.mean([float(published['rows'][str(c)][i].split('±')[0]) for c in range(10)]):.1f}"
            for i in range(len(columns))
        ]
        rows.append(["**mean**", *(f"**{mean:.1f}**" for mean in means), *paper_means])
    training = f" (`{record['training']}`)" if "training" in record else ""
    intro = f"AUROC in percent, one class against the other nine, {record['epochs']} epochs per class{training}."
    cited = f"Published columns: {published['source']}"
    return intro + "\n\n" + markdown(header, rows) + "\n\n" + cited + "\n\n" + provenance(source, record)


def one_class_mnist() -> str:
    return one_class_table("mnist", "benchmarks/one_class.json")


def one_class_fashion() -> str:
    return one_class_table("fashion-mnist", "benchmarks/one_class_fashion.json")


def one_class_mnist_detector() -> str:
    return one_class_table("mnist", "benchmarks/one_class_detector.json")


def one_class_fashion_detector() -> str:
    return one_class_table("fashion-mnist", "benchmarks/one_class_fashion_detector.json")


def one_class_seeds(source: str) -> str:
    """The classes of a one-class record trained with more than one seed: each score's AUROC by seed, its mean and
    its range."""
    record = read(source)
    measured = {
        normal: entry
        for normal, entry in sorted(record["classes"].items(), key=lambda item: int(item[0]))
        if len({"0", *entry.get("seeds", {})}) > 1
    }
    seeds = sorted({"0", *(seed for entry in measured.values() for seed in entry["seeds"])}, key=int)
    header = ["normal class", "score", *(f"seed {seed}" for seed in seeds), "mean", "range"]
    rows = []
    for normal, entry in measured.items():
        by_seed = {"0": entry["auroc"], **entry["seeds"]}
        for index, score in enumerate(entry["auroc"]):
            values = [by_seed[seed][score] for seed in seeds if seed in by_seed]
            name = SCORE_NAMES.get(score, f"importance-weighted, k = {record['k']}")
            rows.append(
                [
                    f"{normal} ({entry['name']})" if index == 0 else "",
                    name,
                    *(f"{by_seed[seed][score]:.1f}" if seed in by_seed else "-" for seed in seeds),
                    f"**{np.mean(values):.1f}**",
                    f"{min(values):.1f} to {max(values):.1f}",
                ]
            )
    command = record["command"] + " --classes C ... --seed 1 --seed 2"
    return markdown(header, rows) + "\n\n" + provenance(source, record, command)


def one_class_mnist_seeds() -> str:
    return one_class_seeds("benchmarks/one_class_detector.json")


def one_class_fashion_seeds() -> str:
    return one_class_seeds("benchmarks/one_class_fashion_detector.json")


def scoring_speed() -> str:
    source = "benchmarks/scoring_speed.json"
    record = read(source)
    run = record["run"]
    rows = [
        [
            f"`vae-encode FOLDER --k {record['k']}" + (" --maps DIR`" if "maps" in mode else "`")
            if mode in record["images_per_second"]
            else f"`vae-encode ONE-IMAGE --k {record['k']}`: start-up",
            ", ".join(f"{value:.1f}" for value in record["seconds"][mode]),
            f"{record['median_seconds'][mode]:.1f}",
            f"**{record['images_per_second'][mode]:.1f}**" if mode in record["images_per_second"] else "",
            f"{record['images_per_second_after_start_up'][mode]:.1f}" if mode in record["images_per_second"] else "",
        ]
        for mode in record["seconds"]
    ]
    header = ["command", "wall seconds, by turn", "median", "images per second", "after the start-up"]
    intro = (
        f"{record['images']:,} MNIST test images as PNGs, scored by a run of {DATASET_TITLES[run['dataset']]} "
        f"({run['architecture']}, "
        f"{run['latent_dim']}-D, {run['likelihood']}, {run['epochs']} epochs) on {record['cpu']}, load average "
        f"{record['load_average_before']} before the first command."
    )
    return intro + "\n\n" + markdown(header, rows) + "\n\n" + provenance(source, record)


def folder_vs_idx() -> str:
    source = "benchmarks/folder_vs_idx.json"
    record = read(source)
    rows = [
        [f"`{record[key]['command']}`", f"{record[key]['test_negative_elbo']:.3f}", f"{record[key]['seconds']:.0f} s"]
        for key in ("idx", "folder")
    ]
    rows.append(["difference, folder less IDX", f"{record['difference']:+.3f} nats", ""])
    if "resnet" in record:
        resnet = record["resnet"]
        rows.append([f"`{resnet['command']}`", f"{resnet['test_negative_elbo']:.3f}", f"{resnet['seconds']:.0f} s"])
        rows.append(["difference, resnet less the default", f"{record['resnet_difference']:+.3f} nats", ""])
    return (
        markdown(["Fashion-MNIST from", "test −ELBO after 5 epochs", "wall time"], rows)
        + "\n\n"
        + provenance(source, record)
    )


def folder_reading() -> str:
    source = "benchmarks/folder_reading.json"
    record = read(source)
    rows = []
    for folder in record["folders"]:
        shape = "×".join(map(str, folder["image_shape"]))
        for name, reader in folder["readers"].items():
            same = {True: "yes", False: "no", None: ""}[reader["same_pixels"]]
            rows.append(
                [
                    f"`{folder['folder']}`, {folder['images']:,} of {shape}",
                    name,
                    f"{reader['median_seconds']:.2f} s",
                    f"{reader['median_cpu_seconds']:.2f} s",
                    f"{reader['images_per_second']:,.0f}",
                    ratio(reader["ratio_to_fastest_other"]),
                    same,
                ]
            )
    header = ["folder", "reader", "wall time", "CPU time", "images per second", "× the fastest other", "same pixels"]
    load = record["load_average"]
    note = (
        f"Medians of {record['rounds']} rounds. Load average (1, 5, 15 min) at the start "
        f"{', '.join(map(str, load['start']))}, at the end {', '.join(map(str, load['end']))}."
    )
    return markdown(header, rows) + "\n\n" + note + "\n\n" + provenance(source, record)


def colour() -> str:
    """Folders of colour images trained at the defaults: bounds in nats and bits per dimension, active units, PSNR
    beside PCA's."""
    source = "benchmarks/folder_quality.json"
    record = read(source)
    rows = []
    for name, run in record.items():
        config, evaluation = run["config"], run["eval"]
        metrics = evaluation["metrics"]
        dimensions = dimensions_of(run)
        bound = importance_weighted(metrics)
        reconstruction = evaluation.get("reconstruction", {})
        vae_psnr, pca = reconstruction.get("vae", {}).get("psnr_db"), reconstruction.get("pca", {})
        rows.append(
            [
                name,
                f"`{run['command']}`",
                f"{config['architecture']}, {config['latent_dim']}-D, {config['likelihood']}",
                run["epochs"],
                f"{metrics['negative_elbo']:,.0f} ({bits(metrics['negative_elbo'], dimensions):.3f})",
                f"{bound:,.0f} ({bits(bound, dimensions):.3f}, k={evaluation['k']})",
                f"{evaluation.get('active_units', '-')} of {config['latent_dim']}",
                "-" if vae_psnr is None else f"{vae_psnr:.1f} dB against {pca['psnr_db']:.1f} dB",
                f"{run['training_seconds'] / 60:.0f} min",
            ]
        )
    header = [
        "folder",
        "command",
        "model",
        "epochs",
        "test −ELBO, nats (bits/dim)",
        "importance-weighted NLL",
        "active units",
        "PSNR: VAE against PCA",
        "training",
    ]
    dates = sorted({run["date"] for run in record.values()})
    machines = sorted({run["machine"] for run in record.values()})
    when = {"date": " to ".join(dict.fromkeys([dates[0], dates[-1]])), "machine": ", ".join(machines)}
    return markdown(header, rows) + "\n\n" + provenance(source, when, "python benchmarks/folder_quality.py")


def dimensions_of(run: dict) -> int:
    return run["config"]["image_size"] ** 2 * run["config"]["channels"]


def bits(nats: float, dimensions: int) -> float:
    """Nats per image as bits per dimension."""
    return nats / (dimensions * math.log(2))


def mean_auroc(record: dict, score: str) -> float:
    return sum(measured["auroc"][score] for measured in record["classes"].values()) / len(record["classes"])


def mean_baseline(record: dict, baseline: str) -> float:
    return sum(measured["baselines"][baseline] for measured in record["classes"].values()) / len(record["classes"])


def own_images() -> str:
    """The README's summary of the measured uses on real data, each with the command that measures it again."""
    sources = {
        "folder": "benchmarks/folder_vs_idx.json",
        "mnist": "benchmarks/one_class_detector.json",
        "fashion": "benchmarks/one_class_fashion_detector.json",
        "conditional": "benchmarks/conditional_fashion.json",
        "colour": "benchmarks/folder_quality.json",
        "detector": "benchmarks/out_of_distribution_detector.json",
    }
    folder, mnist, fashion, conditional, colour, detector = (read(source) for source in sources.values())
    published = read("benchmarks/one_class_published.json")

    def published_mean(dataset: str, column: str, classes) -> float:
        """The paper's mean over the classes measured here."""
        table = published[dataset]
        index = table["columns"].index(column)
        return sum(float(table["rows"][name][index].split("±")[0]) for name in classes) / len(classes)

    sneakers = conditional["samples"]["accuracy_by_class"]
    sneaker = next(accuracy for name, accuracy in sneakers.items() if name.lower() == "sneaker")
    rows = [
        [
            "Fashion-MNIST as a PNG tree and as its IDX files, 5 epochs each, same seed",
            "`python benchmarks/folder_vs_idx.py --tree TREE`",
            f"test −ELBO {folder['folder']['test_negative_elbo']:.2f} and {folder['idx']['test_negative_elbo']:.2f}:"
            f" {abs(folder['difference']):.2f} nats apart",
        ],
        *(
            [
                f"one-class detection on {title} (Ruff et al. 2018's protocol), a detector run of each class's folder",
                f"`python benchmarks/one_class.py --dataset {record['dataset']} --epochs {record['epochs']} "
                "--detector`",
                f"mean AUROC {mean_auroc(record, 'complexity_corrected_score'):.1f} % over {count_of(record)}, "
                f"corrected for complexity ({mean_auroc(record, 'negative_elbo'):.1f} % raw); {column} "
                f"{published_mean(record['dataset'], column, record['classes']):.1f} %; the 5th-nearest training "
                f"image {mean_baseline(record, '5th-nearest training image'):.1f} %",
            ]
            for title, record, column in (
                ("MNIST", mnist, "One-class Deep SVDD"),
                ("Fashion-MNIST", fashion, "GeoTrans"),
            )
        ),
        [
            f"a conditional run on the Fashion-MNIST tree, {conditional['epochs']} epochs",
            "`vae-plot samples --label sneaker`, judged by `benchmarks/conditional.py`",
            f"{sneaker:.0%} of sneaker samples are named sneakers; {conditional['samples']['accuracy']:.0%} over all "
            "ten classes",
        ],
        *(
            [
                f"outliers between data sets: {row['trained on']} against {row['outliers']}",
                f"`{detector['runs'][row['trained on'].lower()]}` (what `--detector` chooses), then "
                "`python benchmarks/out_of_distribution.py`",
                f"AUROC {row['AUROC']:.4f} with the score corrected for complexity; "
                f"{raw['AUROC']:.4f} with the raw importance-weighted bound",
            ]
            for row, raw in zip(detector["rows"][2::3], detector["rows"][1::3], strict=True)
        ),
        *(
            [
                f"colour images: {name}",
                f"`{run['command']}`, {run['epochs']} epochs",
                f"test NLL {bits(importance_weighted(run['eval']['metrics']), dimensions_of(run)):.2f} bits per "
                "dimension; [pictures](docs/own-images.md#colour-images-emoji-and-photographs)",
            ]
            for name, run in colour.items()
            # Shorter runs of a folder, and runs on part of one, stay in the docs' table.
            if "," not in name and "--limit" not in run["command"]
        ),
    ]
    lines = ", ".join(f"`{source}`" for source in sources.values())
    return markdown(["use", "command", "result"], rows) + f"\n\nFrom {lines}."


def count_of(record: dict) -> str:
    """ "the ten classes", or how many of them a partial run measured."""
    measured = len(record["classes"])
    return "the ten classes" if measured == 10 else f"{measured} of the ten classes ({', '.join(record['classes'])})"


def export_formats() -> str:
    source = "benchmarks/export.json"
    record = read(source)
    formats = record["formats"]
    columns = [key for key in formats["package"] if key.endswith(" ms")]
    header = ["format", "size", *(column.replace(" ms", ", ms") for column in columns)]
    rows = [
        [name, f"{result['bytes'] / 1e6:.2f} MB", *(f"{result[column]:.2f}" for column in columns)]
        for name, result in formats.items()
    ]
    note = f"Median latency of one call; `score` draws {record['score_samples']} samples per image."
    return note + "\n\n" + markdown(header, rows) + "\n\n" + provenance(source, record)


def pretrained() -> str:
    from vae.run.directory import EVAL_FILE
    from vae.run.pretrained import PRETRAINED_MANIFEST

    source = f"vae/pretrained/{PRETRAINED_MANIFEST}"
    manifest = read(source)
    rows = []
    for name, entry in manifest.items():
        evaluation = read(f"vae/pretrained/{name}/{EVAL_FILE}")
        metrics = evaluation["metrics"]
        rows.append(
            [
                f"`pretrained:{name}`",
                f"`{entry['command']}`",
                f"{metrics['negative_elbo']:.2f}",
                f"{importance_weighted(metrics):.2f} (k={evaluation['k']})",
            ]
        )
    header = ["name", "trained by", "test −ELBO, whole test split", "importance-weighted bound"]
    return markdown(header, rows) + "\n\n" + provenance(source, {}, "python benchmarks/pretrained.py --mnist-dir MNIST")


# What each kind of fault in tests/acceptance/faults.py does, and what its tally means.
FAULTS = {
    "random kills": "SIGKILL at a random 2–25 s after each start, resuming in between; survived: a readable checkpoint "
    "after every kill, and the finished run bit-identical to one that never stopped",
    "kills during the final save": "SIGKILL in the middle of the final save; survived: `vae-train --resume` wrote the "
    "finished run from the last checkpoint, bit-identical, no temporary file left",
    "SIGTERM": "SIGTERM 0–3 s after a checkpoint; survived: exit 143 naming the command that continues, and the "
    "resumed run bit-identical",
    "concurrent trainings": "a second `vae-train` into the same directory 1.5 s or 0.2 s after the first; refused: "
    "it exited 1 naming the process that holds the directory, and the first finished",
}


def read_report(source: str, suite: str) -> str:
    """The text of the report an acceptance suite writes, or a TableError that says to run the suite."""
    path = ROOT / source
    if not path.is_file():
        raise TableError(f"{source} is missing: run the {suite} suite")
    return path.read_text()


def fault_injection() -> str:
    """The fault-injection suite's tallies, from the summary it writes when all its kinds ran."""
    source = "tests/acceptance/fault_injection.md"
    text = read_report(source, "fault-injection")
    heading = re.search(r"^`(?P<command>[^`]+)`, (?P<date>[0-9-]+) [0-9:]+, (?P<seconds>[0-9]+) s\.$", text, re.M)
    tallies = re.findall(r"^(?P<kind>[^:\n]+): (?P<outcome>\w+ \d+/\d+)$", text, re.M)
    if heading is None or sorted(kind for kind, _ in tallies) != sorted(FAULTS):
        raise TableError(f"{source} does not hold the tallies of the four kinds of fault")
    rows = [[FAULTS[kind], f"`{outcome}`"] for kind, outcome in tallies]
    record = {"date": heading["date"], "machine": f"{int(heading['seconds']) / 60:.1f} minutes"}
    return markdown(["fault", "result"], rows) + "\n\n" + provenance(source, record, heading["command"])


def hostile_inputs() -> str:
    """The hostile-input suite's outcome, from the table of cases it writes after a full run."""
    source = "tests/acceptance/hostile_inputs.md"
    text = read_report(source, "hostile-input")
    heading = re.search(
        r"^`(?P<command>[^`]+)`, (?P<date>[0-9-]+) [0-9:]+, (?P<cases>\d+) cases, (?P<seconds>\d+) s\.$", text, re.M
    )
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and not line.startswith("| case")]
    if heading is None or not rows:
        raise TableError(f"{source} does not hold a full run's table of cases")
    commands = sorted({row[1].split()[0] for row in rows})
    clean = sum(row[-2].strip() == "yes" for row in rows)
    summary = [
        ["cases", f"{len(rows)}, through {', '.join(f'`{command}`' for command in commands)}"],
        [
            "clean: the expected exit code, no traceback, one line naming the problem, no file changed",
            f"`clean {clean}/{len(rows)}`",
        ],
        ["wall time", f"{int(heading['seconds']) / 60:.1f} minutes"],
    ]
    return (
        markdown(["what", "result"], summary)
        + "\n\n"
        + provenance(source, {"date": heading["date"]}, heading["command"])
    )


def step_table(source: str, kind: str, baseline: str, command: str) -> str:
    record = read(source)
    rows = []
    for name, variant in record["variants"].items():
        rate, share = f"{variant['images_per_second']:,.0f}", f"{variant['peak_fraction']:.0%}"
        rows.append([name, rate, ratio(variant["ratio_to_default"]), share])
    header = [kind, "images per second", f"× {baseline}", "share of the matmul peak"]
    return markdown(header, rows) + "\n\n" + provenance(source, record, command)


def step_options() -> str:
    return step_table(
        "benchmarks/step_options.json", "training step", "the default", "python benchmarks/step_options.py"
    )


def step_settings() -> str:
    return step_table(
        "benchmarks/step_settings.json",
        "process setting",
        "TensorFlow's defaults",
        "python benchmarks/step_settings.py",
    )


def sample_quality() -> str:
    """New digits, measured: every row of benchmarks/sample_quality.py, the floors of real images among them."""
    from vae.evaluation.sample_quality import METRIC_NAMES

    source = "benchmarks/sample_quality.json"
    document = read(source)
    header = ["samples of", "command", "images", "τ", *METRIC_NAMES.values()]
    rows, per_class = [], []
    for row in document["rows"].values():
        metrics = row["metrics"]
        title = f"**{row['title']}**" if row["name"].startswith("floor") else row["title"]
        cells = [title, f"`{row['command']}`" if row.get("temperature") else row["command"], f"{row['samples']:,}"]
        cells.append(f"{row['temperature']:g}" if "temperature" in row else "")
        cells += [f"{metrics['frechet_distance']:.2f}", f"{metrics['classifier_score']:.2f}"]
        cells += [f"{metrics['precision']:.3f}", f"{metrics['recall']:.3f}"]
        cells.append(f"{100 * metrics['class_accuracy']:.1f} %" if "class_accuracy" in metrics else "")
        rows.append(cells)
        if "per_class_accuracy" in metrics:
            shares = ", ".join(f"{name}: {100 * share:.1f} %" for name, share in metrics["per_class_accuracy"].items())
            per_class.append(f"{row['title']}, the share of samples the judge names as the asked class: {shares}.")
    notes = "".join(f"\n\n{line}" for line in per_class + sample_quality_summary(document["rows"]))
    return markdown(header, rows) + notes + "\n\n" + provenance(source, document)


def sample_quality_summary(rows: dict) -> list[str]:
    """The best MNIST model by Fréchet distance, and the default run's distance beside the keras.io loop's."""
    models = [row for row in rows.values() if row["dataset"] == "mnist" and "temperature" in row]
    lines = []
    if models:
        best = min(models, key=lambda row: row["metrics"]["frechet_distance"])
        lines.append(
            f"The best MNIST model in the judge's eyes: {best['title']}, at a Fréchet distance of "
            f"{best['metrics']['frechet_distance']:.2f}."
        )
    if "pretrained" in rows and "keras-io" in rows:
        ratio = rows["pretrained"]["metrics"]["frechet_distance"] / rows["keras-io"]["metrics"]["frechet_distance"]
        lines.append(f"The default run's Fréchet distance is {ratio:.2f}× the keras.io loop's.")
    return lines


def network_sizes() -> str:
    """The networks' parameters, activation memory and training speed per image size."""
    source = "benchmarks/network_sizes.json"
    record = read(source)
    rows = [
        [
            f"`{row['network']}`",
            f"{row['side']}×{row['side']}×{row['channels']}",
            row["latent_dim"],
            row["likelihood"],
            f"{row['parameters']:,}",
            "-" if row["activation_bytes_per_image"] is None else f"{row['activation_bytes_per_image'] / 2**20:.1f} MB",
            f"{row['images_per_second']:,.0f}",
        ]
        for row in record["rows"]
    ]
    header = ["network", "images", "latent", "likelihood", "parameters", "activations per image", "training images/s"]
    when = {"date": record["date"], "machine": record["device"]}
    return (
        markdown(header, rows)
        + "\n\n"
        + provenance(source, when, f"python benchmarks/network_sizes.py --steps {record['steps']}")
        + f" Training at the default batch of {record['rows'][0]['batch_size']}, the median of "
        f"{record['steps']} timed steps."
    )


def collapse() -> str:
    """Test KL and negative ELBO of 2,048 digits over 10 epochs, by the settings against collapse."""
    source = "benchmarks/collapse.json"
    record = read(source)
    rows = [
        [
            name,
            " / ".join(f"{value:.2f}" for value in run["test_kl"]),
            f"{run['test_kl'][-1]:.2f}",
            f"{run['test_negative_elbo']:.2f}",
        ]
        for name, run in record["runs"].items()
    ]
    header = ["setting", "test KL after each epoch", "test KL at the end", "test −ELBO"]
    return markdown(header, rows) + "\n\n" + provenance(source, record, "python benchmarks/collapse.py")


def default_seeds() -> str:
    """The default run on every seed, with the CPU it ran on."""
    source = "benchmarks/default_seeds.json"
    record = read(source)
    machine = record["machine"]
    cpu = f"{machine['model']}, {machine['cores']} cores, {'with' if machine['avx512'] else 'without'} AVX-512"
    rows = [
        [seed, f"{run['test_negative_elbo'][-1]:.2f}", f"{run['test_kl'][-1]:.2f}"]
        for seed, run in record["seeds"].items()
    ]
    goal = record["goal"]
    summary = (
        f"Median {record['median']:.2f}, range {min(r['test_negative_elbo'][-1] for r in record['seeds'].values()):.2f}"
        f" to {record['worst']:.2f} (spread {record['spread']:.2f}); the goal, every seed ≤ "
        f"{goal['every_seed_at_most']} with a spread under {goal['spread_under']}, is "
        f"{'met' if record['met'] else 'missed'}."
    )
    return (
        markdown(["seed", "test −ELBO after 30 epochs", "test KL"], rows)
        + "\n\n"
        + summary
        + "\n\n"
        + provenance(source, {"date": record["date"], "machine": cpu}, "python benchmarks/default_seeds.py")
    )


TABLES: dict[str, Callable[[], str]] = {
    "network-sizes": network_sizes,
    "collapse": collapse,
    "default-seeds": default_seeds,
    "time-to-quality": time_to_quality,
    "speed": speed,
    "schedule-search": schedule_search,
    "schedule-search-main": schedule_search_main,
    "schedule-side-by-side": schedule_side_by_side,
    "quality": quality,
    "reproducibility": reproduce,
    "conditional": conditional,
    "conditional-fashion": conditional_fashion,
    "out-of-distribution": out_of_distribution,
    "out-of-distribution-detector": out_of_distribution_detector,
    "complexity-check": complexity_check,
    "defects": defects,
    "one-class-mnist-detector": one_class_mnist_detector,
    "one-class-mnist-seeds": one_class_mnist_seeds,
    "one-class-fashion-detector": one_class_fashion_detector,
    "one-class-fashion-seeds": one_class_fashion_seeds,
    "scoring-speed": scoring_speed,
    "one-class-mnist": one_class_mnist,
    "one-class-fashion": one_class_fashion,
    "folder-vs-idx": folder_vs_idx,
    "folder-reading": folder_reading,
    "colour": colour,
    "own-images": own_images,
    "fault-injection": fault_injection,
    "hostile-inputs": hostile_inputs,
    "export": export_formats,
    "pretrained": pretrained,
    "step-options": step_options,
    "step-settings": step_settings,
    "sample-quality": sample_quality,
}


def pages(root: Path | None = None) -> list[Path]:
    root = root or ROOT
    return sorted(path for pattern in PAGES for path in root.glob(pattern))


def render(text: str, where: str) -> str:
    """`text` with every marked table made again from its JSON."""

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise TableError(f"{where}: no table is named {name!r}; the names are {', '.join(TABLES)}")
        return match[1] + TABLES[name]() + "\n" + match[4]

    return MARKED.sub(replace, text)


def stale(root: Path | None = None) -> list[str]:
    """The pages whose tables differ from what their JSON makes, each with the tables that differ."""
    root = root or ROOT
    found = []
    for page in pages(root):
        text = page.read_text()
        if render(text, str(page.relative_to(root))) != text:
            names = [
                match["name"] for match in MARKED.finditer(text) if match["body"] != TABLES[match["name"]]() + "\n"
            ]
            found.append(f"{page.relative_to(root)}: {', '.join(names)}")
    return found


@click.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if any table differs from its JSON.")
def main(check: bool) -> None:
    try:
        if check:
            differing = stale()
            for line in differing:
                click.echo(f"out of date: {line} (run python benchmarks/tables.py)", err=True)
            sys.exit(1 if differing else 0)
        from vae.files import write_text

        for page in pages():
            where = page.relative_to(ROOT)
            text = page.read_text()
            made = render(text, str(where))
            if made != text:
                write_text(page, made)
                click.echo(f"wrote {where}")
    except TableError as error:
        raise click.ClickException(str(error)) from None


if __name__ == "__main__":
    main()
