"""The exported models' sizes and latencies, beside the package's own call, on this machine.

    python benchmarks/export.py --run-dir pretrained:mnist

Exports the run in each format (`vae-export`), then times each endpoint on a batch of 1 and of 256 images (`score`
with k = 10 samples per image): the SavedModel loaded by TensorFlow, the LiteRT model in its interpreter, the ONNX
models in onnxruntime, and the package's own call (`model.encode`, `model.decode`,
`vae.evaluation.scores.scores_at_noise`). Each timing is the median of --repeats calls after one untimed call. Writes
--output (benchmarks/export.json).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent
BATCHES = (1, 256)
SAMPLES = 10


def median_seconds(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def folder_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


@click.command()
@click.option("--run-dir", default="pretrained:mnist", show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "export.json")
def main(run_dir: str, repeats: int, output: Path) -> None:
    import tensorflow as tf

    from vae.evaluation.scores import scores_at_noise
    from vae.run.directory import WEIGHTS_FILE, RunDir
    from vae.run.loading import load_run
    from vae.serving.export import export_run

    model, config, _ = load_run(RunDir(run_dir))
    rng = np.random.default_rng(0)
    inputs = {
        batch: {
            "images": rng.random((batch, *config.image_shape)).astype(np.float32),
            "z": rng.standard_normal((batch, config.latent_dim)).astype(np.float32),
            "noise": rng.standard_normal((SAMPLES, batch, model.latent.noise_width)).astype(np.float32),
        }
        for batch in BATCHES
    }
    arguments = {"encode": ["images"], "decode": ["z"], "score": ["images", "noise"]}
    package = {
        "encode": lambda given: model.encode(given["images"]),
        "decode": lambda given: model.decode(given["z"]),
        "score": lambda given: scores_at_noise(model, given["images"], given["noise"]),
    }
    results = {"package": {"bytes": (RunDir(run_dir).folder() / WEIGHTS_FILE).stat().st_size}}
    with tempfile.TemporaryDirectory() as work:
        folders = {}
        for format_name in ("saved-model", "litert", "onnx"):
            folders[format_name] = export_run(RunDir(run_dir), Path(work) / format_name, format_name)
        saved = tf.saved_model.load(str(folders["saved-model"] / "saved_model"))
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(folders["litert"] / "model.tflite"))
        import onnxruntime

        sessions = {name: onnxruntime.InferenceSession(str(folders["onnx"] / f"{name}.onnx")) for name in arguments}
        runners = {
            "saved-model": lambda name, given: saved.signatures[name](**{k: tf.constant(v) for k, v in given.items()}),
            "litert": lambda name, given: interpreter.get_signature_runner(name)(**given),
            "onnx": lambda name, given: sessions[name].run(None, given),
            "package": lambda name, given: package[name](given),
        }
        results["saved-model"] = {"bytes": folder_bytes(folders["saved-model"] / "saved_model")}
        results["litert"] = {"bytes": (folders["litert"] / "model.tflite").stat().st_size}
        results["onnx"] = {"bytes": sum((folders["onnx"] / f"{name}.onnx").stat().st_size for name in arguments)}
        for format_name, runner in runners.items():
            for name, keys in arguments.items():
                for batch in BATCHES:
                    given = {key: inputs[batch][key] for key in keys}
                    seconds = median_seconds(lambda: runner(name, given), repeats)  # noqa: B023
                    results[format_name][f"{name} batch {batch} ms"] = round(1000 * seconds, 3)
            click.echo(f"{format_name}: {results[format_name]}")
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": f"python benchmarks/export.py --run-dir {run_dir} --repeats {repeats}",
        "run": run_dir,
        "score_samples": SAMPLES,
        "formats": results,
    }
    output.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
