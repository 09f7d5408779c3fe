"""The learning-rate schedule a re-planned run follows, and the optimizer's weight average."""

import keras
import numpy as np
import pytest

from translator.core.config import TrainConfig
from translator.models.optimizer import (
    AveragingAdam,
    PlannedCosine,
    build_optimizer,
    replanned_rate,
)


@pytest.mark.parametrize("warmup", [0, 200])
def test_one_segment_is_keras_cosine_decay(warmup):
    peak, total = 0.002, 1000
    keras_schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else peak,
        total - warmup,
        alpha=0.02,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )
    ours = PlannedCosine.spanning(peak, warmup, total)
    for step in range(0, 1200, 13):
        expected = float(keras_schedule(step))
        assert float(ours(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9)
        assert ours.rate_at(step) == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_a_new_plan_bends_the_curve_without_a_jump():
    first = PlannedCosine.spanning(0.002, 200, 1000)
    longer = first.replanned(500, 1500)
    shorter = longer.replanned(900, 1100)
    for before, after, step in ((first, longer, 500), (longer, shorter, 900)):
        for s in range(0, step + 1, 25):  # the same curve up to the change
            assert float(after(s)) == pytest.approx(float(before(s)), rel=1e-5)
        assert float(after(step + 1)) == pytest.approx(float(before(step + 1)), rel=1e-2)
    assert float(longer(999)) > 2 * float(first(999))  # the longer plan decays more slowly
    assert float(shorter(1100)) == pytest.approx(0.02 * 0.002, rel=1e-4)  # ends at 2 % of the peak
    assert float(shorter(5000)) == pytest.approx(0.02 * 0.002, rel=1e-4)
    assert first.replanned(500, 1000) is first  # an unchanged plan keeps the schedule
    copy = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(shorter))
    assert isinstance(copy, PlannedCosine) and copy.get_config() == shorter.get_config()


def test_a_run_saved_with_keras_cosine_decay_is_replanned_from_its_curve():
    train = TrainConfig(learning_rate=0.002, warmup_steps=200)
    old = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(
            0.0, 800, alpha=0.02, warmup_target=0.002, warmup_steps=200
        )
    )
    bent = replanned_rate(old, train, step=600, total_steps=2000)
    assert isinstance(bent, PlannedCosine) and bent.total_steps == 2000
    assert bent.rate_at(600) == pytest.approx(float(old._learning_rate(600)), rel=1e-5)
    assert replanned_rate(old, TrainConfig(lr_schedule="constant"), 600, 2000) is None


def test_the_optimizer_keeps_a_moving_average_and_leaves_the_weights_trained():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    momentum = 0.5
    model.compile(
        optimizer=build_optimizer(
            TrainConfig(average="ema", ema_momentum=momentum, lr_schedule="constant"), 1
        ),
        loss="mse",
    )
    assert isinstance(model.optimizer, AveragingAdam)
    seen = []
    weights = lambda: [np.array(w) for w in model.trainable_weights]  # noqa: E731
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda *_, **__: seen.append(weights())
    )
    x, y = np.random.rand(12, 4), np.random.rand(12, 3)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    expected = [w.copy() for w in seen[0]]  # the first step's weights start the average
    for weights in seen[1:]:
        expected = [momentum * a + (1 - momentum) * w for a, w in zip(expected, weights)]
    averages = [np.array(a) for a in model.optimizer.averages()]
    for average, value in zip(averages, expected, strict=True):
        np.testing.assert_allclose(average, value, rtol=1e-5, atol=1e-7)
    for weight, trained in zip(model.trainable_weights, seen[-1]):  # fit did not swap it in
        np.testing.assert_array_equal(np.array(weight), trained)
    assert not np.allclose(averages[0], seen[-1][0])
