"""The optimizer and its learning-rate schedule, built from the config's ``train`` section."""

from __future__ import annotations

import keras


def learning_rate(train, steps_per_epoch: int, epochs: int | None = None):
    """The schedule ``train.lr_schedule`` names, spanning ``epochs`` (default ``train.epochs``).

    ``cosine``: linear warm-up over ``train.warmup_steps``, then cosine decay to 2 % of the
    peak at the last step; ``exponential``: x0.8 per epoch; ``constant``: the peak throughout.
    """
    epochs = epochs or train.epochs
    if train.lr_schedule == "cosine":
        decay_steps = max(1, epochs * steps_per_epoch - train.warmup_steps)
        warm = train.warmup_steps > 0
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warm else train.learning_rate,
            decay_steps,
            alpha=0.02,
            warmup_target=train.learning_rate if warm else None,
            warmup_steps=train.warmup_steps,
        )
    if train.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            train.learning_rate, steps_per_epoch, decay_rate=0.8
        )
    return train.learning_rate


def build_optimizer(
    train, steps_per_epoch: int, epochs: int | None = None
) -> keras.optimizers.Optimizer:
    """Adam with the configured schedule and global gradient-norm clipping."""
    rate = learning_rate(train, steps_per_epoch, epochs)
    return keras.optimizers.Adam(rate, global_clipnorm=train.clipnorm or None)
