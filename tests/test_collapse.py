"""The defaults against posterior collapse: a warm-up counted in steps with a floor, and free bits."""

import numpy as np
import pytest

from vae.config import ADDED_FIELDS, VAEConfig
from vae.errors import UsageError
from vae.model.objectives import Losses
from vae.training.setup import learning_rate_schedule, warmup_steps_of


def rate_at(schedule, step):
    return float(schedule(step))


@pytest.mark.parametrize(
    ("steps_per_epoch", "epochs", "expected"),
    [
        (938, 30, 938),  # full MNIST at 64: one epoch is longer than the floor
        (32, 10, 160),  # 2,048 images at 64: the floor of 500 steps, capped at half of the 320 steps
        (32, 100, 500),  # the same folder over a longer run warms up for the whole floor
    ],
)
def test_the_warm_up_lasts_an_epoch_or_the_floor_in_steps_at_most_half_the_run(steps_per_epoch, epochs, expected):
    config = VAEConfig(epochs=epochs)
    schedule = learning_rate_schedule(config, steps_per_epoch)
    peak = config.learning_rate
    assert rate_at(schedule, expected) == pytest.approx(peak, rel=1e-6)
    assert rate_at(schedule, expected // 2) == pytest.approx(peak / 2, rel=1e-3)
    assert rate_at(schedule, expected - 1) < peak


def test_no_warm_up_means_none_and_runs_saved_before_the_floor_keep_theirs():
    assert warmup_steps_of(VAEConfig(warmup_epochs=0), 32) == 0
    assert warmup_steps_of(VAEConfig(min_warmup_steps=ADDED_FIELDS["min_warmup_steps"]), 32) == 32
    old = {k: v for k, v in VAEConfig().to_dict().items() if k not in ("min_warmup_steps", "free_nats")}
    assert VAEConfig.from_dict(old).min_warmup_steps == 0
    assert VAEConfig.from_dict(old).free_nats == 0.0


def per_image(values):
    return np.asarray(values, np.float32)


def test_free_bits_floor_the_batch_mean_kl_and_leave_it_alone_above_the_floor():
    reconstruction = per_image([100.0, 120.0])
    low = Losses(reconstruction, per_image([0.1, 0.3]))
    high = Losses(reconstruction, per_image([4.0, 6.0]))
    # Below the floor the KL term counts as the floor: 1 nat per image, whatever the KL.
    assert float(low.batch_loss(1.0, 1.0, 2)) == pytest.approx(110.0 + 1.0)
    # Above it, the ordinary negative ELBO.
    assert float(high.batch_loss(1.0, 1.0, 2)) == pytest.approx(110.0 + 5.0)
    assert float(low.batch_loss(1.0, 0.0, 2)) == pytest.approx(110.0 + 0.2)
    # A replica holding half of a global batch of 4 counts its share of the floor.
    assert float(low.batch_loss(1.0, 1.0, 4)) == pytest.approx((220.0 + 2.0) / 4)


def test_the_importance_weighted_bound_takes_no_free_bits():
    losses = Losses(per_image([100.0, 120.0]), per_image([0.1, 0.3]), negative_bound=per_image([99.0, 119.0]))
    assert float(losses.batch_loss(1.0, 5.0, 2)) == pytest.approx(109.0)


@pytest.mark.parametrize(("field", "value"), [("free_nats", -0.5), ("free_nats", 11.0), ("min_warmup_steps", -1)])
def test_bad_collapse_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(UsageError, match=field):
        VAEConfig(**{field: value})
