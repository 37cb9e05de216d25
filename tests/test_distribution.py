"""tf.distribute strategies, mixed precision and TensorBoard logs, all on CPU.

MirroredStrategy needs several devices; on a CPU they are logical devices, which must be configured before TensorFlow
initialises its devices, so those runs happen in a fresh Python process. MultiWorkerMirroredStrategy runs as two
`vae-train` processes on loopback ports.

What "agrees" means between a distributed run and a one-device run on the same global batches: the per-image noise
(the sample of z, and dynamic binarization) is drawn for the whole global batch and each replica keeps its own rows
(`vae.model.distribution.draw_for_global_batch`), and each replica divides its loss sum by the global batch size, so
both runs compute the same numbers; only the order of floating-point sums differs (two half-batch gradients added by the
all-reduce instead of one whole-batch sum). Adam divides each gradient coordinate by its running size, so where a
gradient is near zero the rounding decides the direction of a step of up to the learning rate: after 16 steps a few
weights differ by up to 1.1e-3 (measured), while every loss agrees within 1e-6 relative and the small KL term within
4e-5. With the noise shared by the replicas instead (each drawing for its own rows alone), the same mirrored run
differs from the one-device run by 2e-4 to 4e-3 relative in the losses and 23 % in the KL term: the tolerances below
tell the two apart.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from vae.errors import UsageError
from vae.model.distribution import dtype_policy_name, is_chief, make_strategy
from vae.run.directory import LOGS_DIR, MODEL_FILE, RunDir
from vae.run.loading import load_run
from vae.run.records import read_history
from vae.training.setup import check_last_batches
from vae_scripts.train import main as train_command

from .conftest import SUBSET_DIR, copy_run, files_of
from .conftest import invoke as invoke_command

SUBPROCESS_TIMEOUT = 300  # seconds; a hung collective fails the test instead of blocking CI
LOSS_TOLERANCE = 2e-5  # relative
KL_TOLERANCE = 1e-3  # relative
WEIGHTS_TOLERANCE = 5e-3  # absolute: a fraction of one Adam step at the default peak learning rate, 1e-2

# Two logical CPU devices, then runs of one config: on one device; mirrored over both devices; mirrored, interrupted
# in its second epoch, and resumed both under mirrored and on one device. Prints histories and first-step losses.
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, shutil, sys
    from pathlib import Path

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from vae.run.directory import RunDir
    from vae.training import loop as training
    from vae.training.callbacks import DivergenceGuard
    from vae.config import VAEConfig
    from vae.data.datasets import load_dataset

    root, data_dir = Path(sys.argv[1]), sys.argv[2]
    # 161 digits in batches of 64: the last batch of 33 splits 17/16, and binarization draws noise too.
    base = {"epochs": 2, "limit": 161, "batch_size": 64, "seed": 3, "binarize": True}
    dataset = load_dataset("mnist", data_dir)
    # The newer models: labels that must travel with their digits, the IWAE objective's K draws per digit, and the
    # VampPrior, whose pseudo-inputs every replica shares, over the top layer of two stochastic layers. One per
    # process: a second mirrored model of other shapes in the same process fails in TensorFlow's collectives ("Shape
    # mismatch in the collective instance").
    variants = {
        "conditional-iwae": {"conditional": True, "objective": "iwae", "samples": 2},
        "hierarchical-vamp-iwae": {
            "architecture": "hierarchical", "prior": "vamp", "pseudo_inputs": 10, "objective": "iwae", "samples": 2
        },
    }
    # Built, not replaced: a variant's learning rate is its architecture's own when none is given.
    config = VAEConfig(**base, **variants.get(sys.argv[3], {}))

    first_step_losses = []
    check_divergence = DivergenceGuard.on_train_batch_end

    def record_first_step(self, batch, logs=None):
        if batch == 0:
            first_step_losses.append(float(logs["loss"]))
        check_divergence(self, batch, logs)

    DivergenceGuard.on_train_batch_end = record_first_step
    results = {"replicas": len(tf.config.list_logical_devices("CPU"))}
    for strategy in ("default", "mirrored"):
        result = training.train(config, dataset, RunDir(root / strategy), verbose=0, strategy=strategy)
        results[strategy] = {"history": result.history, "first_step_loss": first_step_losses[0]}
        first_step_losses.clear()
    if sys.argv[3] in variants:
        print(json.dumps(results))
        sys.exit()

    start_epoch = DivergenceGuard.on_epoch_begin

    def interrupt_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt
        start_epoch(self, epoch, logs)

    DivergenceGuard.on_epoch_begin = interrupt_second_epoch
    try:
        training.train(config, dataset, RunDir(root / "resumed"), verbose=0, strategy="mirrored")
    except KeyboardInterrupt:
        pass
    DivergenceGuard.on_epoch_begin = start_epoch
    shutil.copytree(root / "resumed", root / "resumed-on-one-device")
    for name, strategy in (("resumed", "mirrored"), ("resumed-on-one-device", "default")):
        result = training.train(config, dataset, RunDir(root / name), resume=True, verbose=0, strategy=strategy)
        results[name] = {"history": result.history}
    print(json.dumps(results))
    """
)


def max_weight_difference(first_run, second_run) -> float:
    first, second = load_run(RunDir(first_run))[0], load_run(RunDir(second_run))[0]
    pairs = zip(first.weights, second.weights, strict=True)
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in pairs)


def assert_same_history(history, expected):
    assert set(history) == set(expected)
    for key in expected:
        if key != "wall_seconds":
            tolerance = KL_TOLERANCE if key.endswith("kl_loss") else LOSS_TOLERANCE
            np.testing.assert_allclose(history[key], expected[key], rtol=tolerance, err_msg=key)


def read_summaries(directory):
    """{tag: (plugin, [(step, value), ...])} from the TensorBoard event files in `directory`."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: (
            accumulator.SummaryMetadata(tag).plugin_data.plugin_name,
            [(event.step, tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)],
        )
        for tag in accumulator.Tags()["tensors"]
    }


def files_under(directory):
    return sorted(files_of(directory))


# --- mirrored ---------------------------------------------------------------------------------------------------


def run_mirrored_script(root, kind: str):
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(root), str(SUBSET_DIR), kind],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return root, json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mirrored_runs(tmp_path_factory, trains):
    return run_mirrored_script(tmp_path_factory.mktemp("mirrored"), "plain")


@pytest.mark.slow
def test_mirrored_conditional_iwae_and_hierarchical_vamp_runs_compute_what_one_device_computes(tmp_path):
    """The labels travel with their digits when Keras splits each batch among the replicas, each digit keeps its own
    K draws of the IWAE objective's noise for both stochastic layers, and the VampPrior's pseudo-inputs get the
    gradients of every replica."""
    for name in ("conditional-iwae", "hierarchical-vamp-iwae"):
        root, results = run_mirrored_script(tmp_path / name, name)
        assert results["replicas"] == 2
        assert_same_history(results["mirrored"]["history"], results["default"]["history"])
        assert max_weight_difference(root / "mirrored", root / "default") < WEIGHTS_TOLERANCE


@pytest.mark.slow
def test_mirrored_run_computes_what_one_device_computes(mirrored_runs):
    root, results = mirrored_runs
    assert results["replicas"] == 2
    default, mirrored = results["default"], results["mirrored"]
    assert mirrored["first_step_loss"] == pytest.approx(default["first_step_loss"], rel=LOSS_TOLERANCE)
    assert_same_history(mirrored["history"], default["history"])
    # Agreeing losses also show that Keras split each batch: had both replicas trained on the whole batch, they
    # would have taken other noise rows and averaged two gradients of it, as with shared noise above.
    assert max_weight_difference(root / "mirrored", root / "default") < WEIGHTS_TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resumed", "resumed-on-one-device"])
def test_mirrored_run_resumes_under_mirrored_or_on_one_device(mirrored_runs, name):
    root, results = mirrored_runs
    assert_same_history(results[name]["history"], results["default"]["history"])
    assert max_weight_difference(root / name, root / "default") < WEIGHTS_TOLERANCE
    # The interrupted run logged epoch 1; the resumed one carried on with epoch 2.
    _, losses = read_summaries(root / name / LOGS_DIR / "train")["loss"]
    assert [step for step, _ in losses] == [1, 2]


# --- multi-worker -----------------------------------------------------------------------------------------------


def free_loopback_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for listener in sockets:
            listener.bind(("127.0.0.1", 0))
        return [listener.getsockname()[1] for listener in sockets]
    finally:
        for listener in sockets:
            listener.close()


@pytest.mark.slow
def test_two_worker_run_writes_one_run_from_the_chief(tmp_path, tiny_run, tiny_config):
    run_dir = tmp_path / "run"
    workers = [f"127.0.0.1:{port}" for port in free_loopback_ports(2)]
    command = [
        sys.executable, "-m", "vae_scripts.train", "--strategy", "multi-worker", "--verbose", "0",
        "--epochs", str(tiny_config.epochs), "--limit", str(tiny_config.limit),
        "--batch-size", str(tiny_config.batch_size), "--seed", str(tiny_config.seed),
        "--data-dir", str(SUBSET_DIR), "--run-dir", str(run_dir),
    ]  # fmt: skip
    processes, logs, temporary_dirs = [], [], []
    for index in range(2):
        temporary_dirs.append(tmp_path / f"tmp-{index}")
        temporary_dirs[-1].mkdir()
        task = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        environment = {**os.environ, "TF_CONFIG": json.dumps(task), "TMPDIR": str(temporary_dirs[-1])}
        logs.append(open(tmp_path / f"worker-{index}.log", "w+"))
        processes.append(subprocess.Popen(command, env=environment, stdout=logs[-1], stderr=subprocess.STDOUT))
    try:
        for process in processes:
            process.wait(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        pytest.fail(f"the two workers did not finish within {SUBPROCESS_TIMEOUT} s")
    finally:
        outputs = []
        for log in logs:
            log.seek(0)
            outputs.append(log.read())
            log.close()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    assert f"saved the run in {run_dir}/" in outputs[0]
    assert "this worker is not the chief" in outputs[1]

    files = files_under(run_dir)
    assert [name for name in files if not name.startswith("logs/")] == [
        "checkpoint/epoch-0002.keras", "checkpoint/state.json", "config.json", "history.json", "vae.keras",
        "vae.weights.h5",
    ]  # fmt: skip
    # One event file per split, both from the chief.
    assert [name.rsplit("/", 1)[0] for name in files if name.startswith("logs/")] == ["logs/test", "logs/train"]
    assert not files_under(temporary_dirs[1]), "the non-chief left its temporary saves behind"
    # The two workers trained on halves of the same global batches, so they computed what one device computes.
    assert_same_history(read_history(RunDir(run_dir)), read_history(RunDir(tiny_run)))
    assert max_weight_difference(run_dir, tiny_run) < WEIGHTS_TOLERANCE


def test_strategy_and_chief_arguments(monkeypatch):
    import tensorflow as tf

    with pytest.raises(UsageError, match="strategy must be one of default, mirrored, multi-worker, got 'tpu'"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UsageError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multi-worker")
    assert is_chief(make_strategy("default"))

    def strategy_of(cluster, task_type, task_id):
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id
        )
        return type("Strategy", (), {"cluster_resolver": resolver})()

    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief(strategy_of(workers, "worker", 0)) and not is_chief(strategy_of(workers, "worker", 1))
    with_chief = {"chief": ["c:1"], **workers}
    assert is_chief(strategy_of(with_chief, "chief", 0)) and not is_chief(strategy_of(with_chief, "worker", 0))


def test_a_last_batch_too_small_to_split_is_refused(subset):
    limited = subset.limited(129)  # 129 = 2 * 64 + 1: one replica of two would get an empty batch
    with pytest.raises(UsageError, match="the last training batch would hold 1 of 129 digits, too few for 2 replicas"):
        check_last_batches(limited, 64, replicas=2)
    check_last_batches(limited, 64, replicas=1)
    check_last_batches(subset.limited(130), 64, replicas=2)


# --- TensorBoard ------------------------------------------------------------------------------------------------


def test_tensorboard_logs_hold_the_losses_and_reconstructions(tiny_run):
    history = read_history(RunDir(tiny_run))
    for split, prefix in (("train", ""), ("test", "test_")):
        summaries = read_summaries(tiny_run / LOGS_DIR / split)
        for key in ("loss", "reconstruction_loss", "kl_loss"):
            plugin, points = summaries[key]
            assert plugin == "scalars"
            assert [step for step, _ in points] == [1, 2]
            np.testing.assert_allclose([float(value) for _, value in points], history[prefix + key], rtol=1e-6)
    assert read_summaries(tiny_run / LOGS_DIR / "train")["learning_rate"][0] == "scalars"
    plugin, images = read_summaries(tiny_run / LOGS_DIR / "test")["reconstructions"]
    assert plugin == "images" and [step for step, _ in images] == [1, 2]
    width, height, png = images[-1][1]
    assert (int(width), int(height)) == (28 * 8, 28 * 2) and png.startswith(b"\x89PNG")


def test_overwrite_replaces_the_old_logs(tmp_path, tiny_run, tiny_config, subset):

    from vae.training.loop import train

    run_dir = copy_run(tiny_run, tmp_path)
    train(tiny_config.replace(epochs=1, limit=128), subset, RunDir(run_dir), overwrite=True, verbose=0)
    for split in ("train", "test"):
        assert len(list((run_dir / LOGS_DIR / split).iterdir())) == 1
        _, points = read_summaries(run_dir / LOGS_DIR / split)["loss"]
        assert [step for step, _ in points] == [1]


# --- mixed precision --------------------------------------------------------------------------------------------


invoke = functools.partial(invoke_command, train_command)


TINY_RUN_OPTIONS = ("--limit", 128, "--batch-size", 64, "--data-dir", SUBSET_DIR, "--verbose", 0)


def without_collapse_warning(stderr: str) -> list[str]:
    """The lines of stderr but the collapse warning, which a run of two steps earns (`vae.evaluation.collapse`)."""
    return [line for line in stderr.splitlines() if not line.startswith("warning: the model ignores its input")]


def saved_policy(run_dir) -> str:
    return keras.saving.load_model(run_dir / MODEL_FILE, safe_mode=True).dtype_policy.name


def test_precision_names_map_to_keras_policies():
    assert dtype_policy_name("off") == "float32"
    assert dtype_policy_name("float16") == "mixed_float16"
    assert dtype_policy_name("bfloat16") == "mixed_bfloat16"
    with pytest.raises(UsageError, match="precision must be one of off, auto, float16, bfloat16, got 'half'"):
        dtype_policy_name("half")


def test_mixed_float16_compiles_with_loss_scaling(tiny_config):
    from vae.training.setup import build_model

    model = build_model(tiny_config, steps_per_epoch=8, dtype_policy="mixed_float16")
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert model.encoder.get_layer("conv_1").compute_dtype == "float16"
    assert model.decoder.get_layer("logits").compute_dtype == "float32" and model.sampling.compute_dtype == "float32"
    assert {weight.dtype for weight in model.weights if weight.dtype.startswith("float")} == {"float32"}


@pytest.mark.slow
def test_mixed_precision_without_a_gpu_warns_and_trains_in_float32(tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present: --mixed-precision uses it")
    run_dir = tmp_path / "run"
    result = invoke("--mixed-precision", "--epochs", 1, "--run-dir", run_dir, *TINY_RUN_OPTIONS)
    assert result.exit_code == 0, result.output + result.stderr
    assert without_collapse_warning(result.stderr) == [
        "warning: --mixed-precision: no GPU here, so training runs in float32 "
        "(--mixed-precision bfloat16 forces it on a CPU)"
    ]
    assert saved_policy(run_dir) == "float32"
    assert {weight.dtype for weight in load_run(RunDir(run_dir))[0].weights if "float" in weight.dtype} == {"float32"}


@pytest.mark.slow
def test_bfloat16_trains_reloads_and_resumes_in_bfloat16(tmp_path, subset):
    run_dir = tmp_path / "run"
    result = invoke("--mixed-precision", "bfloat16", "--epochs", 1, "--run-dir", run_dir, *TINY_RUN_OPTIONS)
    assert result.exit_code == 0, result.output + result.stderr
    assert without_collapse_warning(result.stderr) == []
    whole = keras.saving.load_model(run_dir / MODEL_FILE, safe_mode=True)
    assert whole.dtype_policy.name == "mixed_bfloat16" and whole.encoder.get_layer("conv_1").compute_dtype == "bfloat16"

    # load_run builds a float32 model, which reads the float32 weights that mixed precision keeps.
    model, _, _ = load_run(RunDir(run_dir))
    assert model.dtype_policy.name == "float32"
    images = subset.test_images[:8, ..., None].astype("float32") / 255
    in_float32 = keras.ops.convert_to_numpy(model(images))
    assert in_float32.dtype == np.float32 and np.all((in_float32 >= 0) & (in_float32 <= 1))
    in_bfloat16 = keras.ops.convert_to_numpy(whole(images))
    np.testing.assert_allclose(in_bfloat16, in_float32, atol=0.05)  # bfloat16 keeps about 3 significant digits

    refused = invoke("--resume", "--mixed-precision", "off", "--epochs", 2, "--run-dir", run_dir, *TINY_RUN_OPTIONS)
    assert refused.exit_code == 2  # a usage error, like any option that contradicts the run being resumed
    assert refused.stderr.strip() == (
        "error: --mixed-precision off contradicts the run being resumed (dtype policy mixed_bfloat16); "
        "drop --mixed-precision, or start a new run with --overwrite"
    )
    resumed = invoke("--resume", "--epochs", 2, "--run-dir", run_dir, *TINY_RUN_OPTIONS)
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    assert saved_policy(run_dir) == "mixed_bfloat16" and len(read_history(RunDir(run_dir))["loss"]) == 2


def test_help_explains_the_new_options():
    result = invoke("--help")
    for fragment in ("--strategy", "multi-worker", "TF_CONFIG", "--mixed-precision", "bfloat16", "linear scaling"):
        assert fragment in result.output, fragment
