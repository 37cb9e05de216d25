"""`vae-export`: the SavedModel, LiteRT and ONNX models run without the package and compute what the package does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import copy_run, files_of, invoke
from vae.config import VAEConfig
from vae.evaluation.complexity import complexity_bits
from vae.run.directory import CONFIG_FILE, EVAL_FILE, WEIGHTS_FILE, RunDir
from vae.run.loading import load_run
from vae.run.records import load_test_results
from vae_scripts.export import main as export_command

# What an exported model computes, run in a fresh interpreter that imports TensorFlow and numpy but not this package.
FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf
folder, inputs_path, outputs_path = sys.argv[1:]
model = tf.saved_model.load(folder + "/saved_model")
inputs = dict(np.load(inputs_path))
results = {}
for name, arguments in (("encode", ["images", "labels"]), ("decode", ["z", "labels"]),
                        ("score", ["images", "noise", "complexity_bits", "labels"])):
    given = {key: tf.constant(inputs[key]) for key in arguments if key in inputs}
    results.update({f"{name}/{key}": value.numpy() for key, value in model.signatures[name](**given).items()})
results["serving_default/z_mean"] = model.signatures["serving_default"](images=tf.constant(inputs["images"]), **(
    {"labels": tf.constant(inputs["labels"])} if "labels" in inputs else {}))["z_mean"].numpy()
assert "vae" not in sys.modules, "the exported model needed the package"
np.savez(outputs_path, **results)
"""


def expected_outputs(run_dir: Path, inputs: dict) -> dict:
    """The package's own encode, decode and scores on the same inputs."""
    from vae.evaluation.anomaly_maps import anomaly_map_at
    from vae.evaluation.scores import scores_at_noise

    model, config, _ = load_run(RunDir(run_dir))
    labels = inputs.get("labels")
    z_mean, z_log_var = model.encode(inputs["images"], labels)
    scores = scores_at_noise(model, inputs["images"], inputs["noise"], labels, inputs.get("complexity_bits"))
    scores["anomaly_map"] = anomaly_map_at(model, inputs["images"], labels)
    return {
        "encode/z_mean": np.asarray(z_mean),
        "encode/z_log_var": np.asarray(z_log_var),
        "decode/images": np.asarray(model.decode(inputs["z"], labels)),
        **{f"score/{key}": np.asarray(value) for key, value in scores.items()},
    }


def example_inputs(run_dir: Path, subset, count: int = 100) -> dict:
    _, config, _ = load_run(RunDir(run_dir))
    rng = np.random.default_rng(0)
    width = 100 + config.latent_dim if config.architecture == "hierarchical" else config.latent_dim
    inputs = {
        "images": (subset.test_images[:count, ..., None] / 255).astype(np.float32),
        "z": rng.standard_normal((count, config.latent_dim)).astype(np.float32),
        "noise": rng.standard_normal((5, count, width)).astype(np.float32),
    }
    if config.exact_likelihood:
        inputs["complexity_bits"] = complexity_bits(inputs["images"]).astype(np.float32)
    if config.conditional:
        inputs["labels"] = subset.test_labels[:count].astype(np.int32)
    return inputs


@pytest.fixture(scope="module", params=["unconditional", "conditional"])
def exported(request, tmp_path_factory, tiny_run, conditional_run):
    run_dir = tiny_run if request.param == "unconditional" else conditional_run
    folder = tmp_path_factory.mktemp("export") / "model"
    result = invoke(export_command, "--run-dir", run_dir, "--output", folder)
    assert result.exit_code == 0, result.output
    return run_dir, folder


def test_the_saved_model_runs_in_a_fresh_process_and_matches_the_package(exported, subset, tmp_path):
    run_dir, folder = exported
    inputs = example_inputs(run_dir, subset)
    np.savez(tmp_path / "inputs.npz", **inputs)
    command = [
        sys.executable,
        "-c",
        FRESH_PROCESS,
        str(folder),
        str(tmp_path / "inputs.npz"),
        str(tmp_path / "out.npz"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert completed.returncode == 0, completed.stderr[-2000:]
    outputs = dict(np.load(tmp_path / "out.npz"))
    for key, value in expected_outputs(run_dir, inputs).items():
        np.testing.assert_allclose(outputs[key], value, atol=1e-5, rtol=1e-5, err_msg=key)
    np.testing.assert_array_equal(outputs["serving_default/z_mean"], outputs["encode/z_mean"])
    contract = json.loads((folder / "model.json").read_text())
    assert contract["serving_default"] == "encode" and contract["input"]["shape"] == [None, 28, 28, 1]
    assert set(contract["endpoints"]) == {"encode", "decode", "score"}
    assert contract["config"] == json.loads((run_dir / CONFIG_FILE).read_text())
    card = (folder / "README.md").read_text()
    assert '"signature_name": "score"' in card and "Preparation: MNIST's procedure" in card


def test_saved_model_cli_lists_the_signatures_and_runs_one(exported, subset, tmp_path):
    run_dir, folder = exported
    cli = Path(sys.executable).with_name("saved_model_cli")
    shown = subprocess.run([cli, "show", "--all", "--dir", folder / "saved_model"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-2000:]
    contract = json.loads((folder / "model.json").read_text())
    for name, endpoint in contract["endpoints"].items():
        section = shown.stdout.split(f"signature_def['{name}']:")[1].split("signature_def[")[0]
        for key, shape in endpoint["inputs"].items():
            cli_shape = "(" + ", ".join("-1" if size is None else str(size) for size in shape) + ")"
            assert f"inputs['{key}'] tensor_info:" in section and f"shape: {cli_shape}" in section, (name, key)
    inputs = example_inputs(run_dir, subset, 4)
    np.save(tmp_path / "z.npy", inputs["z"])
    arguments = [f"z={tmp_path / 'z.npy'}"]
    if "labels" in inputs:
        np.save(tmp_path / "labels.npy", inputs["labels"])
        arguments.append(f"labels={tmp_path / 'labels.npy'}")
    ran = subprocess.run(
        [cli, "run", "--dir", folder / "saved_model", "--tag_set", "serve", "--signature_def", "decode",
         "--inputs", ";".join(arguments), "--outdir", tmp_path / "cli"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "cli" / "images.npy"), expected_outputs(run_dir, inputs)["decode/images"], atol=1e-5
    )


# Every run variant the package trains, in few runs: a network, a likelihood, a prior, an objective, labels (the
# conditional Bernoulli run is exported in the SavedModel tests above).
EXPORTED_VARIANTS = {
    "plain": {},
    "binarize": {"binarize": True},
    "logistic": {"likelihood": "logistic"},
    "conditional-logistic": {"conditional": True, "likelihood": "logistic"},
    "mlp-vamp": {"architecture": "mlp", "prior": "vamp", "pseudo_inputs": 10},
    "hierarchical-iwae": {"architecture": "hierarchical", "objective": "iwae", "samples": 2},
    "resnet-logistic": {"architecture": "resnet", "likelihood": "logistic"},
}
# The arguments of each endpoint, where the run takes them.
ENDPOINT_INPUTS = {
    "encode": ("images", "labels"),
    "decode": ("z", "labels"),
    "score": ("images", "noise", "complexity_bits", "labels"),
}


def run_endpoint(folder: Path, format_name: str, name: str, given: dict) -> dict:
    """One endpoint of an exported model, run by its own runtime: TensorFlow, LiteRT or ONNX Runtime."""
    if format_name == "saved-model":
        import tensorflow as tf

        signature = tf.saved_model.load(str(folder / "saved_model")).signatures[name]
        return {key: value.numpy() for key, value in signature(**{k: tf.constant(v) for k, v in given.items()}).items()}
    if format_name == "litert":
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_path=str(folder / "model.tflite")).get_signature_runner(name)(**given)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / f"{name}.onnx"))
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, given), strict=True))


@pytest.mark.parametrize("variant", EXPORTED_VARIANTS)
@pytest.mark.parametrize("format_name", ["saved-model", "litert", "onnx"])
def test_every_variant_in_every_format_computes_what_the_package_computes(
    trained_run, subset, tmp_path, format_name, variant
):
    from vae.evaluation.thresholds import THRESHOLD_FILE, choose_threshold, detector_score
    from vae.run.records import weights_digest

    run_dir = copy_run(trained_run(**EXPORTED_VARIANTS[variant]), tmp_path / "run")
    inputs = example_inputs(run_dir, subset)
    expected = expected_outputs(run_dir, inputs)
    # A threshold saved in the run, at the median of these images' detector scores, so that both labels occur.
    score = detector_score(load_run(RunDir(run_dir))[1])
    threshold = choose_threshold("fpr=0.5", score, weights_digest(RunDir(run_dir)), expected[f"score/{score}"])
    (run_dir / THRESHOLD_FILE).write_text(json.dumps(threshold.to_dict()))
    expected["score/outlier"] = threshold.labels(expected[f"score/{score}"])
    expected["score/normalised_score"] = threshold.normalised(expected[f"score/{score}"])
    assert 0 < expected["score/outlier"].sum() < len(expected["score/outlier"])
    folder = tmp_path / format_name
    result = invoke(export_command, "--run-dir", run_dir, "--output", folder, "--format", format_name)
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "model.json").read_text())["threshold"] == threshold.to_dict()
    for name, arguments in ENDPOINT_INPUTS.items():
        outputs = run_endpoint(folder, format_name, name, {key: inputs[key] for key in arguments if key in inputs})
        assert {key.split("/")[1] for key in expected if key.startswith(f"{name}/")} == set(outputs), name
        for key, value in outputs.items():
            # The corrected score is the bound in bits less the complexity, a difference of two numbers of thousands:
            # it carries the bound's rounding, so it is held to 1e-4 of the bound's size rather than of its own.
            wanted = expected[f"{name}/{key}"]
            if key.startswith("complexity"):
                bound_bits = np.abs(outputs["importance_weighted_nll"]) / np.log(2)
                assert np.all(np.abs(value - wanted) <= 1e-4 * bound_bits), f"{name}/{key}"
            elif key == "outlier":
                np.testing.assert_array_equal(value, wanted, err_msg=f"{name}/{key}")
            else:
                np.testing.assert_allclose(value, wanted, atol=1e-4, rtol=1e-4, err_msg=f"{name}/{key}")


def test_bad_exports_are_refused_in_one_line_and_write_nothing(tiny_run, tmp_path):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("mine")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_text("mine")
    damaged = copy_run(tiny_run, tmp_path / "damaged")
    (damaged / WEIGHTS_FILE).write_bytes(b"not weights")
    before = files_of(tmp_path)
    for arguments, code, fragment in [
        (["--output", tmp_path / "out", "--format", "pickle"], 2, "--format"),
        (["--output", tmp_path / "a-file"], 2, "is a file: give a folder"),
        (["--output", tmp_path / "full"], 2, "holds files: pass --overwrite"),
        (["--output", tmp_path / "photos", "--overwrite"], 2, "holds files but no model.json, so it is not an export"),
        (["--output", tmp_path / "a-file" / "below"], 1, "Not a directory"),
        (["--output", tmp_path / "out", "--run-dir", damaged], 1, "cannot be read"),
        (["--output", tmp_path / "out", "--run-dir", tmp_path / "nowhere"], 1, "no trained run"),
    ]:
        run = [] if "--run-dir" in arguments else ["--run-dir", tiny_run]
        result = invoke(export_command, *run, *arguments)
        assert result.exit_code == code, (arguments, result.output)
        assert fragment in result.output, (arguments, result.output)
        assert not (tmp_path / "out").exists()
    assert files_of(tmp_path) == before


def test_a_missing_converter_is_named_with_the_extra_to_install(tiny_run, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    result = invoke(export_command, "--run-dir", tiny_run, "--output", tmp_path / "out", "--format", "onnx")
    assert result.exit_code == 2
    assert result.output == "error: --format onnx needs tf2onnx: pip install -e '.[export]'\n"


def test_overwrite_replaces_a_whole_export(tiny_run, tmp_path):
    folder = tmp_path / "model"
    assert invoke(export_command, "--run-dir", tiny_run, "--output", folder).exit_code == 0
    (folder / "stale.txt").write_text("from before")
    result = invoke(export_command, "--run-dir", tiny_run, "--output", folder, "--overwrite", "--format", "litert")
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in folder.iterdir()) == ["README.md", "model.json", "model.tflite"]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]  # no temporary folder left beside it


def test_the_card_of_a_shipped_run_shows_its_shipped_evaluation_not_a_partial_one_of_the_users(tmp_path, monkeypatch):
    from tests.conftest import SUBSET_DIR
    from vae_scripts.evaluate import main as evaluate_command

    monkeypatch.chdir(tmp_path)
    result = invoke(
        evaluate_command, "--run-dir", "pretrained:mnist", "--data-dir", SUBSET_DIR, "--k", 5, "--limit", 50
    )
    assert result.exit_code == 0, result.output
    partial = json.loads((tmp_path / "outputs" / "pretrained-mnist" / EVAL_FILE).read_text())["metrics"]
    result = invoke(export_command, "--run-dir", "pretrained:mnist", "--output", tmp_path / "model")
    assert result.exit_code == 0, result.output
    card = (tmp_path / "model" / "README.md").read_text()
    shipped = json.loads((RunDir("pretrained:mnist").folder() / EVAL_FILE).read_text())["metrics"]
    assert (
        "On the run's test split (the eval.json shipped with the run: 10,000 test images, k = 100, grayscale BCE "
        "bound (nats), not a log-likelihood):"
    ) in card
    assert f"- negative elbo: {shipped['negative_elbo']:.2f} nats" in card
    assert f"{partial['negative_elbo']:.2f}" not in card
    results = json.loads((tmp_path / "model" / "model.json").read_text())["test_results"]
    assert results["digits"] == 10_000 and results["k"] == 100 and results["metrics"] == shipped


def test_the_test_results_of_an_export_say_what_they_were_computed_on(tmp_path):
    import hashlib

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / WEIGHTS_FILE).write_bytes(b"the weights")
    digest = hashlib.sha256(b"the weights").hexdigest()
    history = {
        "test_loss": [160.0, None, 150.0, None],
        "test_reconstruction_loss": [150.0, None, 142.0, None],
        "test_kl_loss": [10.0, None, 8.0, None],
    }
    evaluation = {
        "protocol": "grayscale BCE bound (nats), not a log-likelihood",
        "digits": 50,
        "k": 5,
        "weights": {"epochs": 4, "sha256": digest},
        "metrics": {"negative_elbo": 141.56},
    }
    (run_dir / EVAL_FILE).write_text(json.dumps(evaluation))
    results = load_test_results(RunDir(run_dir), history)
    assert results["source"] == "eval.json: 50 test images, k = 5, grayscale BCE bound (nats), not a log-likelihood"
    assert results["metrics"] == {"negative_elbo": 141.56} and results["digits"] == 50 and results["k"] == 5
    (run_dir / EVAL_FILE).unlink()
    results = load_test_results(RunDir(run_dir), history)
    assert results["source"] == (
        "training's own scoring after epoch 3: the whole test split, one sample of z per image"
    )
    assert results["metrics"] == {"negative_elbo": 150.0, "reconstruction_loss": 142.0, "kl_loss": 8.0}


def prepared_as_the_contract_says(steps: list[dict], digits: np.ndarray) -> np.ndarray:
    """MNIST test digits, uint8 (N, 28, 28), prepared by following model.json's `preparation_steps`, as a client
    without the package would: from the words and numbers of each step alone."""
    import hashlib

    images = digits[..., None]
    for step in steps:
        if step["step"] == "shape":
            assert step["description"].startswith("MNIST's procedure")  # the test digits are in that form already
        elif step["step"] == "divide":
            images = images.astype(step["dtype"]) / step["by"]
        elif step["step"] == "binarize":
            assert "sha256" in step["key"] and "'little', signed=True" in step["key"] and "float32" in step["key"]
            assert "default_rng([seed, key % 2**63]).random((side, side, channels))" in step["uniform"]
            assert step["pixel"].startswith("1.0 where u < p, else 0.0")
            binarized = []
            for image in images:
                key = int.from_bytes(
                    hashlib.sha256(image.astype(np.float32).tobytes()).digest()[:8], "little", signed=True
                )
                u = np.random.default_rng([step["seed"], key % 2**63]).random(image.shape)
                binarized.append(np.where(u < image, 1.0, 0.0).astype(np.float32))
            images = np.stack(binarized)
        else:
            raise AssertionError(f"model.json names a step this client does not know: {step}")
    return images


@pytest.mark.parametrize("binarize", [False, True])
def test_the_contract_steps_prepare_what_vae_encode_scores(subset, binarize):
    from types import SimpleNamespace

    from vae.config import VAEConfig
    from vae.evaluation.scores import scored_images
    from vae.serving.export import preparation, preparation_steps

    config = VAEConfig(binarize=binarize)
    steps = preparation_steps(config)
    assert [step["step"] for step in steps] == ["shape", "divide"] + (["binarize"] if binarize else [])
    assert ("binarized" in preparation(config)) is binarize
    digits = subset.test_images[:50]
    expected, _ = scored_images(SimpleNamespace(vae_config=config), (digits[..., None] / 255).astype(np.float32))
    np.testing.assert_array_equal(prepared_as_the_contract_says(steps, digits), expected)


# The exported model's encode and score on images prepared as model.json says, at given noise, in a fresh interpreter.
CONTRACT_SCORES = """
import json, sys, zlib
import numpy as np
import tensorflow as tf
folder, inputs_path, outputs_path = sys.argv[1:]
model = tf.saved_model.load(folder + "/saved_model")
inputs = {key: tf.constant(value) for key, value in np.load(inputs_path).items()}
results = dict(model.signatures["encode"](images=inputs["images"]))
score = model.signatures["score"]
contract = json.load(open(folder + "/model.json"))
extra = {}
if contract["input"]["complexity"] is not None:  # its step, as model.json states it
    levels = np.round(np.clip(inputs["images"].numpy(), 0, 1) * 255).astype(np.uint8)
    extra["complexity_bits"] = tf.constant([8.0 * len(zlib.compress(level.tobytes(), 9)) for level in levels])
results["negative_elbo"] = score(images=inputs["images"], noise=inputs["elbo_noise"], **extra)["negative_elbo"]
bound = score(images=inputs["images"], noise=inputs["bound_noise"], **extra)
results["bound"] = [value for key, value in bound.items() if key.startswith("importance_weighted")][0]
if extra:
    results["corrected"] = bound["complexity_corrected_score"]
assert "vae" not in sys.modules, "the exported model needed the package"
np.savez(outputs_path, **{key: np.asarray(value) for key, value in results.items()})
"""


@pytest.mark.parametrize(
    "changes", [{}, {"binarize": True}, {"likelihood": "logistic"}], ids=["plain", "binarize", "logistic"]
)
def test_images_prepared_as_model_json_says_score_as_run_score(trained_run, subset, tmp_path, changes):
    import tensorflow as tf

    import vae
    from vae.evaluation.estimators import ELBO_STREAM, IMPORTANCE_STREAM, _keyed_normal, importance_weighted_metric_name
    from vae.evaluation.scores import content_keys

    run_dir = trained_run(**changes)
    folder = tmp_path / "model"
    assert invoke(export_command, "--run-dir", run_dir, "--output", folder).exit_code == 0
    contract = json.loads((folder / "model.json").read_text())
    digits, k, seed = subset.test_images[:40], 5, 3
    images = prepared_as_the_contract_says(contract["input"]["preparation_steps"], digits)
    # The noise run.score draws for each image, from the seed and the image's key, so that the exported model scores
    # at the very same noise (k = 5 is one chunk of it).
    keys = tf.constant(content_keys((digits[..., None] / 255).astype(np.float32)))
    width = contract["noise_width"]
    elbo_noise = _keyed_normal(tf.constant([seed, ELBO_STREAM], tf.int64), keys, tf.constant([width]), tf.float32)
    bound_noise = _keyed_normal(tf.constant([seed, IMPORTANCE_STREAM], tf.int64), keys, tf.constant([k, width]),
                                tf.float32, tf.constant(0, tf.int64))  # fmt: skip
    np.savez(tmp_path / "inputs.npz", images=images, elbo_noise=np.asarray(elbo_noise)[None],
             bound_noise=np.transpose(np.asarray(bound_noise), [1, 0, 2]))  # fmt: skip
    command = [
        sys.executable,
        "-c",
        CONTRACT_SCORES,
        str(folder),
        str(tmp_path / "inputs.npz"),
        str(tmp_path / "o.npz"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert completed.returncode == 0, completed.stderr[-2000:]
    exported = dict(np.load(tmp_path / "o.npz"))
    expected = vae.open_run(run_dir).score(digits, k=k, seed=seed)
    for key in ("z_mean", "z_log_var", "negative_elbo"):
        np.testing.assert_allclose(exported[key], expected[key], rtol=1e-5, atol=1e-4, err_msg=key)
    bound = expected[importance_weighted_metric_name(VAEConfig(**changes))]
    np.testing.assert_allclose(exported["bound"], bound, rtol=1e-5, atol=1e-4)
    # The runs whose likelihood is a code length of their data score with the input-complexity correction too.
    assert ("corrected" in exported) == (changes != {})
    if "corrected" in exported:
        np.testing.assert_allclose(exported["corrected"], expected["complexity_corrected_score"], rtol=1e-5, atol=1e-3)


def test_an_export_through_a_symbolic_link_writes_the_folder_it_leads_to(tiny_run, tmp_path):
    target = tmp_path / "exports" / "model"
    target.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(target)
    result = invoke(export_command, "--run-dir", tiny_run, "--output", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert sorted(path.name for path in target.iterdir()) == ["README.md", "model.json", "saved_model"]
    result = invoke(export_command, "--run-dir", tiny_run, "--output", link, "--overwrite", "--format", "litert")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert sorted(path.name for path in target.iterdir()) == ["README.md", "model.json", "model.tflite"]
    # Nothing beside the link or the folder: no temporary folder, no renamed link.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exports", "link"]
    assert [path.name for path in target.parent.iterdir()] == ["model"]
