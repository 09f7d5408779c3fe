"""The optimizer and its learning-rate schedule, built from the config's ``train`` section.

The cosine schedule is a ``PlannedCosine``: the time budget re-plans the run's length after
every epoch, and each new plan continues the curve from the learning rate it has reached,
so a changed plan bends the schedule but never makes it jump. With ``train.average: ema``
the optimizer also keeps an exponential moving average of the weights (``AveragingAdam``).
"""

from __future__ import annotations

import math

import keras
from keras import ops

FINAL_FRACTION = 0.02  # the cosine ends at 2 % of the peak


@keras.saving.register_keras_serializable(package="translator")
class PlannedCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak``, then cosine segments down to ``alpha * peak``.

    A segment ``[start_step, start_rate, end_step]`` runs a half cosine from ``start_rate``
    at ``start_step`` to the final rate at ``end_step``; the last segment begun rules.
    One segment starting at the warm-up's end with the peak is Keras' ``CosineDecay``.
    """

    def __init__(self, peak, warmup_steps, segments, alpha=FINAL_FRACTION):
        self.peak, self.warmup_steps, self.alpha = float(peak), int(warmup_steps), float(alpha)
        self.segments = [[int(a), float(r), int(b)] for a, r, b in segments]

    @classmethod
    def spanning(cls, peak, warmup_steps, total_steps, alpha=FINAL_FRACTION) -> PlannedCosine:
        return cls(peak, warmup_steps, [[warmup_steps, peak, max(total_steps, warmup_steps + 1)]])

    @property
    def total_steps(self) -> int:
        return self.segments[-1][2]

    def rate_at(self, step: int) -> float:
        """The rate at ``step``, in Python (for planning and tests)."""
        if step < self.warmup_steps:
            return self.peak * step / self.warmup_steps
        start, rate, end = [s for s in self.segments if s[0] <= step][-1]
        progress = min(1.0, (step - start) / max(1, end - start))
        final = self.alpha * self.peak
        return final + (rate - final) * 0.5 * (1 + math.cos(math.pi * progress))

    def replanned(self, step: int, total_steps: int) -> PlannedCosine:
        """The same curve up to ``step``, then a cosine from its rate there to ``total_steps``."""
        start = max(step, self.warmup_steps)
        if total_steps == self.total_steps:
            return self
        kept = [s for s in self.segments if s[0] < start]
        segment = [start, self.rate_at(start), max(total_steps, start + 1)]
        return PlannedCosine(self.peak, self.warmup_steps, [*kept, segment], self.alpha)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        final = self.alpha * self.peak
        rate = ops.convert_to_tensor(self.peak)
        if self.warmup_steps:
            rate = ops.where(step < self.warmup_steps, self.peak * step / self.warmup_steps, rate)
        for start, start_rate, end in self.segments:
            progress = ops.clip((step - start) / max(1, end - start), 0.0, 1.0)
            cosine = final + (start_rate - final) * 0.5 * (1 + ops.cos(math.pi * progress))
            rate = ops.where(step >= start, cosine, rate)
        return rate

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "segments": self.segments,
            "alpha": self.alpha,
        }


@keras.saving.register_keras_serializable(package="translator")
class AveragingAdam(keras.optimizers.Adam):
    """Adam that keeps Keras' moving average of the weights but never swaps it in by itself.

    Keras' ``use_ema`` overwrites the weights with their average when ``fit`` returns; the
    trainer calls ``fit`` once per epoch, so that would train on from the average. Here the
    trainer decides: it validates and saves the average beside the trained weights.
    """

    def finalize_variable_values(self, var_list):
        pass

    def averages(self) -> list:
        """The moving averages, in the order of the model's trainable variables."""
        return list(self._model_variables_moving_average)


def learning_rate(train, steps_per_epoch: int, epochs: int | None = None):
    """The schedule ``train.lr_schedule`` names, spanning ``epochs`` (default ``train.epochs``).

    ``cosine``: linear warm-up over ``train.warmup_steps``, then cosine decay to 2 % of the
    peak at the last step; ``exponential``: x0.8 per epoch; ``constant``: the peak throughout.
    """
    epochs = epochs or train.epochs
    if train.lr_schedule == "cosine":
        return PlannedCosine.spanning(
            train.learning_rate, train.warmup_steps, epochs * steps_per_epoch
        )
    if train.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            train.learning_rate, steps_per_epoch, decay_rate=0.8
        )
    return train.learning_rate


def replanned_rate(optimizer, train, step: int, total_steps: int):
    """The optimizer's cosine schedule continued from ``step`` to end at ``total_steps``.

    ``None`` when the schedule does not depend on the run's length (constant, exponential).
    A run saved before ``PlannedCosine`` has Keras' ``CosineDecay``: it is read as one.
    """
    if train.lr_schedule != "cosine":
        return None
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    if isinstance(schedule, keras.optimizers.schedules.CosineDecay):
        c = schedule.get_config()
        peak = c["warmup_target"] or c["initial_learning_rate"]
        end = c["warmup_steps"] + c["decay_steps"]
        schedule = PlannedCosine(peak, c["warmup_steps"], [[c["warmup_steps"], peak, end]])
    changed = schedule.replanned(step, total_steps)
    return None if changed is schedule else changed


def build_optimizer(
    train, steps_per_epoch: int, epochs: int | None = None
) -> keras.optimizers.Optimizer:
    """Adam with the configured schedule, global gradient-norm clipping and maybe an EMA."""
    rate = learning_rate(train, steps_per_epoch, epochs)
    clip = train.clipnorm or None
    if train.average == "ema":
        return AveragingAdam(
            rate, global_clipnorm=clip, use_ema=True, ema_momentum=train.ema_momentum
        )
    return keras.optimizers.Adam(rate, global_clipnorm=clip)
