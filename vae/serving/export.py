"""Export a trained run for serving: a SavedModel, a LiteRT model or ONNX models, which run without this package.

Three endpoints, each a pure function of its inputs, with a free batch size; a conditional run's also take the
labels, int32:

    encode(images[, labels])         -> z_mean, z_log_var        the parameters of q(z|x), on the top latent layer
    decode(z[, labels])              -> images                   the decoder's mean images, in [0, 1]
    score(images, noise[, complexity_bits][, labels])
                                     -> negative_elbo, <bound>[, complexity_corrected_score], anomaly_map
                                                                 the outlier scores at the given noise, and
                                                                 the per-pixel map (`vae.evaluation.anomaly_maps`);
                                                                 with a threshold saved in the run, also outlier
                                                                 and normalised_score (model.json's "threshold")

Images are float32 in [0, 1], (batch, side, side, channels). `noise` is standard normal, (k, batch, width) for k
samples per image: the negative ELBO takes the first, the importance-weighted bound all k (`vae.evaluation.scores
.scores_at_noise`). A run with an exact likelihood also takes each image's `complexity_bits`, float32 (batch,), and
returns the corrected score (`vae.evaluation.complexity`); model.json says how to compute them. `serving_default` is
`encode`: it needs images alone.

The formats:

    saved-model   saved_model/, written by `keras.export.ExportArchive`; TensorFlow Serving's and TensorFlow's
    litert        model.tflite, converted from that SavedModel, the three endpoints as signatures
    onnx          encode.onnx, decode.onnx and score.onnx, by tf2onnx (ONNX has one graph a file)

Beside the model, `model.json` states the input contract, the endpoints and the run (its config, its test results,
the command that made it), and `README.md` says the same for a reader. The folder is written under a temporary name
beside its target and renamed when complete, so that it is either absent or whole, even after `kill -9`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from vae import __version__, files
from vae.config import VAEConfig
from vae.data.sources import source_of
from vae.errors import UsageError
from vae.evaluation.complexity import complexity_step, corrects
from vae.evaluation.thresholds import load_threshold
from vae.model.conditioning import labels_of
from vae.run.directory import RunDir
from vae.run.loading import load_run
from vae.run.records import load_test_results
from vae.serving import EXPORT_FORMATS

CONTRACT_FILE = "model.json"
CARD_FILE = "README.md"
SAVED_MODEL_DIR = "saved_model"
LITERT_FILE = "model.tflite"
ENDPOINT_NAMES = ("encode", "decode", "score")
SERVING_DEFAULT = "encode"
# The packages each format needs beyond TensorFlow: the `export` extra.
FORMAT_PACKAGES = {"saved-model": (), "litert": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnx")}
EXTRA = "pip install -e '.[export]'"
FORMAT_NAMES = {"saved-model": "TensorFlow SavedModel", "litert": "LiteRT (TensorFlow Lite)", "onnx": "ONNX"}


def check_format(format: str) -> None:
    """Refuse an unknown format, and one whose converter is not installed, saying what to install."""
    if format not in EXPORT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    missing = [name for name in FORMAT_PACKAGES[format] if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--format {format} needs {', '.join(missing)}: {EXTRA}")


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse an output that is a file, a folder that holds something (unless `overwrite`, and then only an earlier
    export, which has a model.json), or a place that cannot be written; nothing is written here but a probe that is
    removed at once. A symbolic link is judged by the folder it leads to (`vae.files.followed`), which the export
    replaces."""
    target = files.followed(output)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--output {output} is a file: give a folder for the exported model")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise UsageError(f"--output {output} is a folder that holds files: pass --overwrite to replace it")
        if not (target / CONTRACT_FILE).is_file():
            raise UsageError(
                f"--output {output} holds files but no {CONTRACT_FILE}, so it is not an export: --overwrite replaces "
                "only an earlier export; give another folder"
            )
    files.check_writable(target.parent)


def endpoints(model, threshold=None) -> dict:
    """The three endpoints as `tf.function`s with their input signatures (see the module's docstring); with a saved
    `threshold` (`vae.evaluation.thresholds`), `score` also returns the outlier label and the normalised score."""
    import tensorflow as tf

    from vae.evaluation.anomaly_maps import anomaly_map_at
    from vae.evaluation.scores import scores_at_noise

    config = model.vae_config
    images = tf.TensorSpec((None, *config.image_shape), tf.float32, name="images")
    z = tf.TensorSpec((None, config.latent_dim), tf.float32, name="z")
    noise = tf.TensorSpec((None, None, model.latent.noise_width), tf.float32, name="noise")
    labels = model.latent.labels.signature_inputs()

    @tf.function(input_signature=[images, *labels])
    def encode(images, labels=None):
        z_mean, z_log_var = model.encode(images, labels)
        return {"z_mean": z_mean, "z_log_var": z_log_var}

    @tf.function(input_signature=[z, *labels])
    def decode(z, labels=None):
        return {"images": model.decode(z, labels)}

    # A run whose scores carry the input-complexity correction takes each image's L(x) as well, which a client
    # computes with zlib (`vae.evaluation.complexity.complexity_step`): no graph format has DEFLATE.
    corrected = corrects(config)
    bits = [tf.TensorSpec((None,), tf.float32, name="complexity_bits")] if corrected else []

    @tf.function(input_signature=[images, noise, *bits, *labels])
    def score(images, noise, *rest):
        given_bits, labels = (rest[0], rest[1:]) if corrected else (None, rest)
        scores = scores_at_noise(model, images, noise, *labels, complexity_bits=given_bits)
        decided = {} if threshold is None else threshold.outputs_of(scores)
        return scores | decided | {"anomaly_map": anomaly_map_at(model, images, *labels)}

    return {"encode": encode, "decode": decode, "score": score}


def export_run(
    run_dir: RunDir | str | os.PathLike,
    output,
    format: str = "saved-model",
    *,
    overwrite: bool = False,
    command: str = "vae-export",
) -> Path:
    """Export the finished run in `run_dir` to the folder `output` in `format`; return the folder.

    Args:
        run_dir: a finished run, or a pretrained one (`pretrained:mnist`).
        output: the folder to write; an existing one that holds files is replaced only with `overwrite`. A symbolic
            link is kept, and the folder it leads to written.
        format: "saved-model", "litert" or "onnx" (`vae.serving.EXPORT_FORMATS`).
        overwrite: replace what `output` holds.
        command: the command line that asked for the export, recorded in the model card.
    """
    run_dir = RunDir(run_dir)
    check_format(format)
    output = Path(output)
    check_output(output, overwrite)
    model, config, history = load_run(run_dir)
    threshold = load_threshold(run_dir, config)
    functions = endpoints(model, threshold)
    # Through a symbolic link, the folder it leads to is replaced, and the link kept.
    target = files.followed(output)
    sweep_stale_exports(target)
    temporary = files.temporary_path(target)
    try:
        temporary.mkdir()
        written = write_model(model, functions, temporary, format)
        contract = contract_of(model, functions, format, written, load_test_results(run_dir, history), command)
        contract["threshold"] = None if threshold is None else threshold.to_dict()
        (temporary / CONTRACT_FILE).write_text(json.dumps(contract, indent=2) + "\n")
        (temporary / CARD_FILE).write_text(model_card(contract))
        replace_folder(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return output


def write_model(model, functions: dict, folder: Path, format: str) -> list[str]:
    """Write the model in `format` into `folder`; the names of what was written."""
    import keras

    saved_model = folder / SAVED_MODEL_DIR
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name in ENDPOINT_NAMES:
        archive.add_endpoint(name, functions[name])
    with _quiet():
        archive.write_out(str(saved_model))
    if format == "saved-model":
        _set_serving_default(saved_model, functions)
        return [f"{SAVED_MODEL_DIR}/"]
    if format == "litert":
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=list(ENDPOINT_NAMES))
        with _quiet():
            (folder / LITERT_FILE).write_bytes(converter.convert())
        shutil.rmtree(saved_model)
        return [LITERT_FILE]
    import tf2onnx

    shutil.rmtree(saved_model)
    for name in ENDPOINT_NAMES:
        function = functions[name]
        with _quiet():
            tf2onnx.convert.from_function(
                function,
                input_signature=function.input_signature,
                opset=17,
                custom_op_handlers={"Log1p": (_log1p_as_log, [])},
                output_path=str(folder / f"{name}.onnx"),
            )
    return [f"{name}.onnx" for name in ENDPOINT_NAMES]


def _log1p_as_log(context, node, name, arguments):
    """ONNX has no Log1p, which TensorFlow's Bernoulli cross-entropy uses for log(1 + exp(-|logit|)): it becomes
    Log(1 + x). Where x is below float32's resolution at 1 the term is lost, less than 1e-7 nats a pixel."""
    from tf2onnx import utils

    one = context.make_const(utils.make_name(f"{name}_one"), np.array(1, dtype=np.float32))
    added = context.make_node("Add", [node.input[0], one.output[0]])
    context.replace_inputs(node, [added.output[0]])
    node.type = "Log"


def _set_serving_default(saved_model: Path, functions: dict) -> None:
    """Write the SavedModel again with `serving_default` as the `encode` endpoint beside the three named ones."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model))
    signatures = {name: loaded.signatures[name] for name in ENDPOINT_NAMES}
    signatures["serving_default"] = loaded.signatures[SERVING_DEFAULT]
    shutil.rmtree(saved_model)
    with _quiet():
        tf.saved_model.save(loaded, str(saved_model), signatures=signatures)


@contextlib.contextmanager
def _quiet():
    """TensorFlow's converters print pages of progress on stdout and stderr; a command prints one line."""
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        yield


def replace_folder(temporary: Path, output: Path) -> None:
    """Rename the complete `temporary` folder to `output`, replacing an old one only once the new one is complete."""
    if output.exists():
        old = files.temporary_path(output.with_name(output.name + ".old"))
        os.replace(output, old)
        try:
            os.replace(temporary, output)
        except OSError:
            os.replace(old, output)  # the earlier export back in its place
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temporary, output)


def sweep_stale_exports(output: Path) -> None:
    """Remove the temporary folders that a killed export to `output` left beside it."""
    pattern = re.compile(rf"{re.escape(files.TEMPORARY_PREFIX)}(\d+)-")
    for path in output.parent.glob(f"{files.TEMPORARY_PREFIX}*"):
        match = pattern.match(path.name)
        if match and path.is_dir() and not files.process_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def contract_of(model, functions: dict, format: str, written: list[str], results: dict, command: str) -> dict:
    """What model.json states: the input contract, the endpoints with their inputs and outputs, and the run."""
    import tensorflow as tf

    config = model.vae_config
    described = {}
    for name in ENDPOINT_NAMES:
        function = functions[name]
        outputs = function.get_concrete_function().structured_outputs
        described[name] = {
            "inputs": {spec.name: _shape(spec.shape) for spec in function.input_signature},
            "outputs": {key: _shape(value.shape) for key, value in outputs.items()},
        }
    return {
        "format": format,
        "files": written,
        "serving_default": SERVING_DEFAULT if format == "saved-model" else None,
        "input": {
            "shape": [None, *config.image_shape],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "channels": config.channels,
            "preparation": preparation(config),
            "preparation_steps": preparation_steps(config),
            "complexity": complexity_step() if corrects(config) else None,
            "class_names": list(config.classes),
            "labels": model.latent.labels.contract_labels,
        },
        "endpoints": described,
        "noise_width": model.latent.noise_width,
        "config": config.to_dict(),
        "test_results": results,
        "command": command,
        "versions": {"vae": __version__, "tensorflow": tf.__version__},
    }


def _shape(shape) -> list:
    return [None if size is None else int(size) for size in shape]


def preparation(config) -> str:
    """How an image becomes an input, as `vae-encode` prepares it for this run: `preparation_steps` in a sentence."""
    steps = preparation_steps(config)
    text = steps[0]["description"] + source_of(config).PREPARATION_SEPARATOR + "then divided by 255"
    if config.binarize:
        binarize = steps[-1]
        text += (
            f"; then binarized: each pixel p becomes {binarize['pixel']}, where {binarize['uniform']}, "
            f"seed = {binarize['seed']} and key = {binarize['key']}"
        )
    return text


def preparation_steps(config) -> list[dict]:
    """The steps of `preparation`, in order, each named by "step": "shape" (the image to the run's side and
    channels, in words), "divide" (float32 pixels divided by "by"), and for a --binarize run "binarize"
    (`vae.evaluation.scores.binarization_step`), which `vae-encode` and `vae.open_run(...).score` take too."""
    from vae.evaluation.scores import binarization_step

    shape = source_of(config).shape_preparation()
    steps = [{"step": "shape", "description": shape}, {"step": "divide", "by": 255, "dtype": "float32"}]
    return steps + ([binarization_step()] if config.binarize else [])


def model_card(contract: dict) -> str:
    """README.md of an exported model: `export_card/card.md` filled in from its contract."""
    config = contract["config"]
    side, _, channels = contract["input"]["shape"][1:]
    classes = contract["input"]["class_names"]
    conditioning = labels_of(VAEConfig.from_dict(config))
    endpoint_lines = []
    for name, endpoint in contract["endpoints"].items():
        inputs = ", ".join(f"`{key}` {_spelled(shape, name=key)}" for key, shape in endpoint["inputs"].items())
        outputs = ", ".join(f"`{key}` {_spelled(shape)}" for key, shape in endpoint["outputs"].items())
        endpoint_lines.append(f"- `{name}`: {inputs} -> {outputs}.")
    if contract["format"] == "saved-model":
        endpoint_lines.append("")
        endpoint_lines.append(
            "TensorFlow Serving's REST `predict` call, `POST /v1/models/<name>:predict`, takes the inputs by name; "
            "for example, for two images:"
        )
        for name, endpoint in contract["endpoints"].items():
            inputs = {key: f"<float32 {_spelled(shape, key, '2')}>" for key, shape in endpoint["inputs"].items()}
            if "labels" in inputs:
                inputs["labels"] = "<int32 (2)>"
            body = {"signature_name": name, "inputs": inputs}
            endpoint_lines.append(f"\n```json\n{json.dumps(body)}\n```")
    results = contract["test_results"]
    result_lines = [f"- {key.replace('_', ' ')}: {value:.2f} nats" for key, value in results.get("metrics", {}).items()]
    where = results.get("source", "")
    if where:
        result_lines.insert(0, f"On the run's test split ({where}):")
    values = {
        "title": f"{conditioning.title}VAE of {config['dataset']}, {side}x{side}x{channels}",
        "version": contract["versions"]["vae"],
        "tensorflow": contract["versions"]["tensorflow"],
        "format_name": FORMAT_NAMES[contract["format"]],
        "command": contract["command"],
        "side": side,
        "channels": channels,
        "colour": "one gray channel" if channels == 1 else "three channels, RGB",
        "preparation": contract["input"]["preparation"] + complexity_sentence(contract["input"].get("complexity")),
        "classes": (
            f"Classes, by label: {', '.join(f'{index} {name}' for index, name in enumerate(classes))}."
            + conditioning.card_labels
            if classes
            else "The run's images have no classes."
        ),
        "endpoints": "\n".join(endpoint_lines),
        "files": "Files: " + ", ".join(f"`{name}`" for name in contract["files"]) + ".",
        "results": "\n".join(result_lines) or "No test results were recorded.",
    }
    return Template(
        resources.files("vae.serving").joinpath("export_card", "card.md").read_text(encoding="utf-8")
    ).substitute(values)


def complexity_sentence(step: dict | None) -> str:
    """What the card says of the `complexity_bits` input of `score`, where the run takes one."""
    if step is None:
        return ""
    return (
        f". The `score` endpoint also takes each prepared image's `complexity_bits`: {step['bits']}, where levels = "
        f"{step['levels']}"
    )


def _spelled(shape, name: str = "", batch: str = "batch") -> str:
    """A shape as a reader reads it, (batch, 28, 28, 1), the noise's first axis named k, its samples per image."""
    free = iter(["k", batch] if name == "noise" else [batch])
    return "(" + ", ".join(next(free) if size is None else str(size) for size in shape) + ")"
