import json

import pytest

from vae.config import LEARNING_RATES, VAEConfig
from vae.errors import UsageError


def test_json_round_trip_keeps_every_field():
    config = VAEConfig(latent_dim=8, beta=0.5, binarize=True, dataset="fashion-mnist", limit=100, seed=7)
    assert VAEConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["latent_dim"] == 8


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        VAEConfig().latent_dim = 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"learning_rate": -1e-3}, "learning_rate must be a finite number > 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
        ({"eval_every": 0}, "eval_every must be at least 1, got 0"),
        ({"latent_dim": 0}, "latent_dim must be at least 1"),
        ({"beta": -1.0}, "beta must be a finite number >= 0"),
        ({"dataset": "cifar10"}, "dataset must be one of mnist, fashion-mnist"),
        ({"architecture": "vgg"}, "architecture must be one of"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"latent_dim": "2"}, "latent_dim must be an integer"),
        ({"epochs": True}, "epochs must be an integer"),
        ({"binarize": 1}, "binarize must be true or false"),
    ],
)
def test_bad_values_raise_value_error_naming_the_field(changes, message):
    with pytest.raises(UsageError, match=message):
        VAEConfig().replace(**changes)


def test_from_json_rejects_broken_json_unknown_and_missing_fields():
    with pytest.raises(UsageError, match="not valid JSON"):
        VAEConfig.from_json("{latent_dim: 2")
    with pytest.raises(UsageError, match="must be a JSON object"):
        VAEConfig.from_json("[1, 2]")
    values = VAEConfig().to_dict()
    with pytest.raises(UsageError, match="unknown config field.*colour"):
        VAEConfig.from_dict({**values, "colour": "red"})
    del values["beta"]
    with pytest.raises(UsageError, match="missing config field.*beta"):
        VAEConfig.from_dict(values)


def test_the_learning_rate_not_given_is_the_architectures_and_is_saved_as_a_number():
    assert VAEConfig().learning_rate == LEARNING_RATES["conv"] == 6e-3
    assert VAEConfig(architecture="mlp").learning_rate == LEARNING_RATES["mlp"] == 3e-3
    assert VAEConfig(architecture="hierarchical").learning_rate == LEARNING_RATES["hierarchical"] == 3e-3
    assert VAEConfig(architecture="hierarchical", learning_rate=1e-3).learning_rate == 1e-3
    saved = json.loads(VAEConfig(architecture="hierarchical").to_json())
    assert saved["learning_rate"] == 3e-3


def test_a_run_saved_at_another_default_keeps_its_learning_rate():
    saved = json.loads(VAEConfig().to_json())
    saved["learning_rate"] = 3e-3  # the default of the releases up to 0.2.0
    assert VAEConfig.from_json(json.dumps(saved)).learning_rate == 3e-3
