"""The conditional VAE (`vae-train --conditional`): the model, training with labels, and the pictures that use them."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
from PIL import Image

from tests.conftest import SUBSET_DIR, copy_run, files_of, invoke, train_stopped_after_first_epoch
from vae.config import ARCHITECTURE_PARTS, IMAGE_SIDE
from vae.errors import UsageError
from vae.run.directory import CHECKPOINT_DIR, CONFIG_FILE, EVAL_FILE, MODEL_FILE, RunDir
from vae.run.loading import load_model, load_run
from vae.run.records import read_config
from vae_scripts.decode import main as decode_command
from vae_scripts.evaluate import main as evaluate_command
from vae_scripts.plot import main as plot_command
from vae_scripts.reconstruct import main as reconstruct_command
from vae_scripts.report import main as report_command
from vae_scripts.train import main as train_command

CLASSES = 10  # the digits 0-9 of the conditional runs here


class DecoderInputs:
    """Stands in for a model's decoder, passing every call on and keeping the labels (argmax of the one-hot input)."""

    def __init__(self, decoder):
        self.decoder = decoder
        self.labels = []

    def __call__(self, inputs, training=False):
        _, one_hot = inputs
        self.labels.append(np.argmax(keras.ops.convert_to_numpy(one_hot), axis=1))
        return self.decoder(inputs, training=training)


@pytest.mark.parametrize("architecture", [name for name, (_, layers) in ARCHITECTURE_PARTS.items() if layers == 1])
def test_the_encoder_and_decoder_take_the_one_hot_label(conditional_config, architecture):
    from vae.model.autoencoder import VAE

    model = VAE(conditional_config.replace(architecture=architecture))
    model.build()
    assert [tuple(tensor.shape) for tensor in model.encoder.inputs] == [
        (None, IMAGE_SIDE, IMAGE_SIDE, 1),
        (None, CLASSES),
    ]
    assert [tuple(tensor.shape) for tensor in model.decoder.inputs] == [
        (None, conditional_config.latent_dim),
        (None, CLASSES),
    ]
    with pytest.raises(UsageError, match="needs a label \\(--digit\\)"):
        model.decode(np.zeros((1, 2), "float32"))
    z = np.zeros((2, conditional_config.latent_dim), "float32")
    digits = np.asarray(model.decode(z, np.array([1, 8])))
    assert digits.shape == (2, IMAGE_SIDE, IMAGE_SIDE, 1) and np.abs(digits[0] - digits[1]).max() > 0


def test_a_conditional_run_saves_reloads_and_records_its_config(conditional_run, subset):
    from vae.model.latent import decode, encode_means

    model, config, history = load_run(RunDir(conditional_run))
    assert config.conditional and json.loads((conditional_run / CONFIG_FILE).read_text())["conditional"]
    whole = load_model(conditional_run / MODEL_FILE)
    images, labels = (subset.test_images[:20][..., None] / 255).astype("float32"), subset.test_labels[:20]
    np.testing.assert_array_equal(encode_means(model, images, labels), encode_means(whole, images, labels))
    z = np.random.default_rng(0).standard_normal((20, 2)).astype("float32")
    np.testing.assert_array_equal(decode(model, z, labels), decode(whole, z, labels))
    assert len(history["test_loss"]) == 2 and history["test_loss"][-1] < history["test_loss"][0]


def test_labels_change_the_decoded_digit_for_a_fixed_z(conditional_run):
    from vae.model.latent import decode

    model, _, _ = load_run(RunDir(conditional_run))
    z = np.zeros((CLASSES, 2), "float32")
    digits = decode(model, z, np.arange(CLASSES))
    differences = [np.abs(digits[a] - digits[b]).mean() for a in range(CLASSES) for b in range(a + 1, CLASSES)]
    assert min(differences) > 1e-3


def test_the_test_loss_is_the_conditional_elbo_of_the_true_labels(conditional_run, subset):
    """What training reports for the test split is the negative ELBO of the digits given their true labels, which
    wrong labels make worse: the labels reach the loss."""
    from vae.evaluation.estimators import negative_elbo_terms, of_vae

    model, _, history = load_run(RunDir(conditional_run))
    images = (subset.test_images[..., None] / 255).astype("float32")
    latent = of_vae(model)

    def negative_elbo(labels, seed):
        return float(np.mean(np.sum(negative_elbo_terms(latent, (images, labels), seed=seed), axis=0)))

    true, wrong = [], []
    for seed in range(3):  # the same noise for both labellings of each seed
        true.append(negative_elbo(subset.test_labels, seed))
        wrong.append(negative_elbo((subset.test_labels + 1) % CLASSES, seed))
    # One sample of z per digit, on 500 digits of a tiny model: estimates spread by about 2 nats.
    assert np.mean(true) == pytest.approx(history["test_loss"][-1], abs=2.0)
    assert min(np.subtract(wrong, true)) > 2.0


def test_samples_of_a_digit_reach_the_decoder_as_that_label(conditional_run, tmp_path, monkeypatch):
    from vae.views.figures import plot_samples

    model, _, _ = load_run(RunDir(conditional_run))
    spy = DecoderInputs(model.decoder)
    monkeypatch.setattr(model.latent, "decoder", spy)
    plot_samples(model, tmp_path / "sevens.png", 16, seed=1, label=7)
    assert np.concatenate(spy.labels).tolist() == [7] * 16
    spy.labels.clear()
    plot_samples(model, tmp_path / "rows.png", 30, seed=1)
    assert np.concatenate(spy.labels).tolist() == np.repeat(np.arange(CLASSES), 3).tolist()
    with Image.open(tmp_path / "rows.png") as picture:
        assert picture.format == "PNG"


def test_analogies_write_each_style_as_every_digit(conditional_run, subset):
    from vae.model.latent import analogies, decode, encode_means

    model, _, _ = load_run(RunDir(conditional_run))
    images, labels = (subset.test_images[:5][..., None] / 255).astype("float32"), subset.test_labels[:5]
    cells = analogies(model, images, labels)
    assert cells.shape == (5, CLASSES, IMAGE_SIDE, IMAGE_SIDE)
    means = encode_means(model, images, labels)
    np.testing.assert_allclose(
        cells[3], decode(model, np.repeat(means[3:4], CLASSES, 0), np.arange(CLASSES)), atol=1e-6
    )


def test_the_pictures_of_a_conditional_run(conditional_run, tmp_path):
    data = ("--data-dir", SUBSET_DIR, "--run-dir", conditional_run)
    for name, command, arguments in [
        ("samples", plot_command, ["samples", "--digit", 3, "--n", 9]),
        ("rows", plot_command, ["samples"]),
        ("analogies", plot_command, ["analogies", "--n", 4, *data[:2]]),
        ("grid", plot_command, ["latent-grid", "--digit", 5, "--n", 6, *data[:2]]),
        ("clusters", plot_command, ["clusters", *data[:2]]),
        ("interpolate", plot_command, ["interpolate", *data[:2]]),
        ("reconstruction", reconstruct_command, ["--n", 4, *data[:2]]),
    ]:
        result = invoke(command, *arguments, "--run-dir", conditional_run, "--output", tmp_path / f"{name}.png")
        assert result.exit_code == 0, (name, result.output)
        with Image.open(tmp_path / f"{name}.png") as picture:
            assert picture.format == "PNG" and min(picture.size) > 100


def test_the_latent_grid_of_a_conditional_run_needs_a_digit(conditional_run, tmp_path):
    result = invoke(plot_command, "latent-grid", "--run-dir", conditional_run, "--data-dir", SUBSET_DIR,
                    "--output", tmp_path / "grid.png")  # fmt: skip
    assert result.exit_code == 2
    assert result.output == "error: this run is conditional: name the class whose latent grid to draw with --label\n"
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--digit", "10", "error: --digit 10 names no class of this run: its classes are 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"),
        ("--digit", "-1", "Invalid value for '--digit': -1 is not in the range x>=0"),
        ("--label", "sneaker", "error: --label sneaker names no class of this run: its classes are 0, 1, 2"),
    ],
)
def test_a_label_the_run_lacks_is_refused_in_one_line(conditional_run, option, value, message):
    before = files_of(conditional_run)
    result = invoke(plot_command, "samples", option, value, "--run-dir", conditional_run)
    assert result.exit_code == 2
    assert message in result.output
    assert files_of(conditional_run) == before


def test_a_digit_on_an_unconditional_run_says_to_train_with_conditional(run_copy):
    before = files_of(run_copy)
    for command, arguments in [
        (plot_command, ["samples", "--digit", 4]),
        (plot_command, ["latent-grid", "--digit", 4, "--data-dir", SUBSET_DIR]),
        (decode_command, ["--z", "0,0", "--digit", 4]),
    ]:
        result = invoke(command, *arguments, "--run-dir", run_copy)
        assert result.exit_code == 2, result.output
        assert result.output == "error: --digit 4 needs a conditional run: train one with vae-train --conditional\n"
    result = invoke(plot_command, "analogies", "--run-dir", run_copy, "--data-dir", SUBSET_DIR)
    assert result.output == "error: analogies need a conditional run: train one with vae-train --conditional\n"
    assert files_of(run_copy) == before


def test_resuming_an_unconditional_run_as_conditional_is_refused(run_copy):
    checkpoint = run_copy / CHECKPOINT_DIR
    (run_copy / MODEL_FILE).unlink()  # an unfinished run: only the checkpoint
    before = files_of(run_copy)
    result = invoke(train_command, "--resume", "--conditional", "--run-dir", run_copy, "--data-dir", SUBSET_DIR)
    assert result.exit_code == 2
    assert result.output.startswith("error: --conditional True contradicts the run being resumed (conditional = False)")
    assert files_of(run_copy) == before and checkpoint.is_dir()


def test_a_conditional_run_resumes_bit_for_bit(monkeypatch, tmp_path, conditional_run, conditional_config, subset):
    from vae.training.loop import train

    run_dir = train_stopped_after_first_epoch(
        monkeypatch, conditional_config, subset, tmp_path / "stopped", snapshots=True
    )
    train(conditional_config, subset, RunDir(run_dir), resume=True, verbose=0, snapshots=True)
    resumed, _, _ = load_run(RunDir(run_dir))
    uninterrupted, _, _ = load_run(RunDir(conditional_run))
    for first, second in zip(resumed.weights, uninterrupted.weights, strict=True):
        np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert files_of(run_dir / "snapshots") == files_of(conditional_run / "snapshots")


def test_vae_eval_of_a_conditional_run_estimates_log_p_x_given_y(conditional_run, tmp_path):
    run_dir = copy_run(conditional_run, tmp_path)
    result = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--k", 3, "--limit", 50)
    assert result.exit_code == 0, result.output
    assert "-log p(x|y)" in result.output
    record = json.loads((run_dir / EVAL_FILE).read_text())
    assert record["conditional"] is True
    assert record["protocol"] == "grayscale BCE bound on -log p(x|y), conditional (nats), not a log-likelihood"
    metrics = record["metrics"]
    assert metrics["importance_weighted_bce_bound"] <= metrics["negative_elbo"] + 1.0


def test_decode_writes_the_digits_pixel_for_pixel(conditional_run, tmp_path):
    from vae.model.latent import decode

    output = tmp_path / "decoded.png"
    result = invoke(decode_command, "--z", "0.5,-1.2", "--z", "0,0", "--digit", 7, "--run-dir", conditional_run,
                    "--output", output)  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(output) as picture:
        assert picture.mode == "L" and picture.size == (2 * IMAGE_SIDE + 1, IMAGE_SIDE)
        pixels = np.asarray(picture, dtype="float32") / 255
    model, _, _ = load_run(RunDir(conditional_run))
    expected = decode(model, np.array([[0.5, -1.2], [0, 0]], "float32"), np.array([7, 7]))
    np.testing.assert_allclose(pixels[:, :IMAGE_SIDE], expected[0], atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(pixels[:, IMAGE_SIDE + 1 :], expected[1], atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize(
    ("z", "message"),
    [
        ("0.5", "--z '0.5' has 1 value: this run's latent size is 2"),
        ("1,2,3", "--z '1,2,3' has 3 values: this run's latent size is 2"),
        ("0.5,nan", "--z '0.5,nan': every value must be a finite number in [-100, 100]"),
        ("0.5,inf", "--z '0.5,inf': every value must be a finite number in [-100, 100]"),
        ("0.5,seven", "--z '0.5,seven' is not a comma-separated list of numbers"),
    ],
)
def test_decode_refuses_a_bad_latent_vector_in_one_line(conditional_run, tmp_path, z, message):
    output = tmp_path / "decoded.png"
    result = invoke(decode_command, "--z", z, "--digit", 1, "--run-dir", conditional_run, "--output", output)
    assert result.exit_code == 2
    assert result.output == f"error: {message}\n"
    assert not output.exists()


def test_report_of_a_conditional_run_has_a_digit_selector_and_ten_grids(conditional_run, tmp_path):
    from vae.views.report import explorer_data

    output = tmp_path / "report.html"
    result = invoke(report_command, "--run-dir", conditional_run, "--data-dir", SUBSET_DIR, "--output", output)
    assert result.exit_code == 0, result.output
    page = output.read_text()
    assert "<select id=explorer-select>" in page and page.count("<option value=") == CLASSES
    data = json.loads(re.search(r"id=explorer-data>(.*?)</script>", page).group(1))
    assert data["names"] == [str(digit) for digit in range(CLASSES)] and data["conditional"] and data["size"] == 32
    model, _, _ = load_run(RunDir(conditional_run))
    images, labels = np.zeros((4, IMAGE_SIDE, IMAGE_SIDE, 1), "float32"), np.arange(4)
    explorer = explorer_data(model, images, labels, 4, (0, 1))
    sprite = Image.open(__import__("io").BytesIO(__import__("base64").b64decode(explorer["sprite"].split(",")[1])))
    assert sprite.size == (4 * IMAGE_SIDE, CLASSES * 4 * IMAGE_SIDE)


@pytest.mark.slow
def test_the_explorer_digit_selector_switches_the_decoded_grid(conditional_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    from tests.test_report import chromium_or_skip, open_explorer, shown_digit
    from vae.model.latent import decode

    output = tmp_path / "report.html"
    result = invoke(report_command, "--run-dir", conditional_run, "--data-dir", SUBSET_DIR, "--output", output)
    assert result.exit_code == 0, result.output
    model, _, _ = load_run(RunDir(conditional_run))
    browser = chromium_or_skip()
    try:
        explorer = open_explorer(browser, output)
        ActionChains(browser).move_to_element_with_offset(explorer, -120, 90).perform()
        shown = {}
        for digit in (0, 6, 9):
            Select(browser.find_element("id", "explorer-select")).select_by_value(str(digit))
            readout = browser.find_element("id", "explorer-readout")
            z = [float(value) for value in readout.get_attribute("data-z").split(",")]
            assert readout.get_attribute("data-digit") == str(digit)
            assert readout.text.startswith(f"{digit}: ")
            shown[digit] = (z, shown_digit(browser))
    finally:
        browser.quit()
    for digit, (z, pixels) in shown.items():
        # The point stays where the pointer left it; the digit drawn there is the selected one's.
        assert z == shown[0][0]
        assert np.abs(pixels - decode(model, np.array([z], "float32"), np.array([digit]))[0]).max() < 0.02
    assert np.abs(shown[0][1] - shown[6][1]).mean() > 0.005


@pytest.mark.slow
def test_vae_train_conditional_says_what_it_measured(tmp_path):
    result = invoke(train_command, "--conditional", "--epochs", 1, "--limit", 256, "--batch-size", 64, "--verbose", 0,
                    "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")  # fmt: skip
    assert result.exit_code == 0, result.output
    # stdout: on stderr, a run of 4 steps may well be told that it ignores its input (vae.evaluation.collapse)
    assert result.stdout.startswith("test negative conditional ELBO (grayscale BCE) ")
    assert read_config(RunDir(tmp_path / "run")).conditional


def test_a_latent_value_is_plain_decimal_or_exponent_notation(conditional_run, tmp_path):
    from vae_scripts.decode import main as decode_command

    for value in ("1_0", "١", "0x1", "1e", "--1"):
        result = invoke(decode_command, "--z", f"{value},0", "--digit", 3, "--run-dir", conditional_run,
                        "--output", tmp_path / "z.png")  # fmt: skip
        assert result.exit_code == 2, (value, result.output)
        assert f"--z '{value},0' is not a comma-separated list of numbers" in result.output
    result = invoke(decode_command, "--z", "-1.5e0, .25", "--digit", 3, "--run-dir", conditional_run,
                    "--output", tmp_path / "z.png")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_label_is_a_class_name_exact_first_then_in_any_case_or_an_index():
    from types import SimpleNamespace

    from vae.errors import UsageError
    from vae.model.latent import LabelRequest, label_index

    config = SimpleNamespace(conditional=True, classes=("Cat", "cat", "dog"))
    assert [label_index(config, LabelRequest(text)) for text in ("Cat", "cat", "DOG", " 2 ")] == [0, 1, 2, 2]
    for text in ("³", "3", "bird"):
        with pytest.raises(UsageError, match=f"--label {text} names no class of this run"):
            label_index(config, LabelRequest(text))


def test_a_label_that_matches_several_classes_in_any_case_but_none_exactly_is_refused():
    from types import SimpleNamespace

    from vae.errors import UsageError
    from vae.model.latent import LabelRequest, label_index

    config = SimpleNamespace(conditional=True, classes=("Cat", "cat", "dog"))
    with pytest.raises(
        UsageError, match=r"--label CAT names 2 classes of this run, which differ only in case: Cat, cat"
    ):
        label_index(config, LabelRequest("CAT"))
    assert [label_index(config, LabelRequest(text)) for text in ("Cat", "cat", "Dog")] == [0, 1, 2]


def test_both_conditionings_answer_the_same_questions():
    """Code that asks the conditioning object never needs to know which one it holds."""
    from types import SimpleNamespace

    from vae.model.conditioning import Conditional, Unconditional, labels_of

    public = {kind: {name for name in dir(kind) if not name.startswith("_")} for kind in (Unconditional, Conditional)}
    assert public[Unconditional] <= public[Conditional] | {"classes"}, public[Unconditional] - public[Conditional]
    plain = labels_of(SimpleNamespace(conditional=False, classes=("a", "b")))
    labelled = labels_of(SimpleNamespace(conditional=True, classes=("a", "b")))
    assert isinstance(plain, Unconditional) and isinstance(labelled, Conditional)
    labels = np.array([1, 0], dtype=np.uint8)
    assert plain.model_labels(labels) is None and labelled.model_labels(labels).dtype == np.int32
    assert plain.first_label(labels) is None and labelled.first_label(labels) == 1
    assert plain.image_labels(2, None, lambda: labels) is None
    assert labelled.image_labels(2, None, lambda: labels).tolist() == [1, 0]
    assert labelled.image_labels(2, 1, lambda: labels).tolist() == [1, 1]
    assert (plain.grid_labels(), labelled.grid_labels()) == ([None], [0, 1])
    assert (plain.every_class(None), labelled.every_class(None), labelled.every_class(0)) == (False, True, False)
    assert plain.columns + plain.cells(None, 0) == [] and labelled.cells(labels, 0) == [1, "b"]
    assert (plain.caption(None, 0), labelled.caption(labels, 1)) == ("", ": a")
    with pytest.raises(UsageError, match="^analogies need a conditional run: train one with vae-train --conditional$"):
        plain.require("analogies need a conditional run")
    labelled.require("analogies need a conditional run")
    with pytest.raises(UsageError, match="^name one$"):
        labelled.require_label(None, "name one")
    plain.require_label(None, "name one")
