"""The time budget: how many epochs fit in ``train.max_minutes`` on this machine.

A fixed epoch count either stops early on a fast machine or is cut by the budget on a slow
one, with its learning-rate schedule unfinished. With a budget, the trainer instead times
the first epoch (steps after a warm-up, which excludes compilation, and the validation that
follows) and plans the epochs that fit, ``train.epochs`` being the upper bound; the
schedule's horizon becomes that plan. The plan is kept in the run's state, so a resumed run
follows the same schedule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

MARGIN = 0.97  # plan into 97 % of the budget: timings of later epochs vary a little
WARMUP_FRACTION = 0.2  # the first 20 % of epoch 1's steps (at most 100) are not timed


@dataclass
class Plan:
    epochs: int
    step_s: float
    validation_s: float

    def describe(self, minutes: float) -> str:
        return (
            f"planned {self.epochs} epochs for the {minutes:g}-minute budget "
            f"({1000 * self.step_s:.0f} ms per step, {self.validation_s:.0f} s of validation "
            "per epoch)"
        )


class Budget:
    """Time spent inside the epoch loop against ``train.max_minutes``, and the epoch plan.

    ``now`` is the clock (seconds, monotonic); tests pass a fake one.
    """

    def __init__(self, train_config, now=time.monotonic):
        self.train, self.now = train_config, now
        self.mark = now()
        self.timed_steps: list[tuple[int, float]] = []  # (step in epoch, time) in epoch 1

    def restart(self) -> None:
        self.mark = self.now()

    def tick(self, state) -> float:
        """Add the time since the last tick to ``state.elapsed_s``; returns those seconds."""
        now = self.now()
        seconds, self.mark = now - self.mark, now
        state.elapsed_s += seconds
        return seconds

    def step_done(self, state, steps_per_epoch: int) -> None:
        """Count a step's time; in epoch 1, note when its warm-up and its last step end."""
        self.tick(state)
        warmup = min(100, max(1, int(steps_per_epoch * WARMUP_FRACTION)))
        if state.epoch == 0 and state.step_in_epoch in (warmup, steps_per_epoch):
            self.timed_steps.append((state.step_in_epoch, self.mark))

    def out_of_time(self, state) -> bool:
        return bool(self.train.max_minutes) and state.elapsed_s >= 60 * self.train.max_minutes

    def planning_due(self, state, steps_per_epoch: int) -> bool:
        """After epoch 1, once per run, when a budget is set and planning is on."""
        first_epoch_done = state.epoch == 0 and state.step_in_epoch >= steps_per_epoch
        planning = self.train.max_minutes and self.train.plan_epochs
        return bool(planning and state.planned_epochs is None and first_epoch_done)

    def plan(self, state, steps_per_epoch: int, validation_s: float) -> Plan:
        """Plan the epochs that fit and record the plan in ``state``."""
        step_s = self.step_seconds()
        if step_s is None:  # epoch 1 was resumed in this process: its average, compilation included
            step_s = (state.elapsed_s - validation_s) / max(1, state.global_step)
        plan = plan_epochs(
            budget_s=60 * self.train.max_minutes,
            elapsed_s=state.elapsed_s,
            step_s=step_s,
            steps_per_epoch=steps_per_epoch,
            validation_s=validation_s,
            epochs_done=1,
            upper_bound=self.train.epochs,
        )
        state.planned_epochs = plan.epochs
        state.planned_step_s, state.planned_validation_s = round(step_s, 4), round(validation_s, 2)
        return plan

    def step_seconds(self) -> float | None:
        """Seconds per step after the warm-up of epoch 1, if it was timed in this process."""
        if len(self.timed_steps) < 2:
            return None
        (first, start), (last, end) = self.timed_steps[0], self.timed_steps[-1]
        return (end - start) / (last - first) if last > first else None


def plan_epochs(
    *,
    budget_s: float,
    elapsed_s: float,
    step_s: float,
    steps_per_epoch: int,
    validation_s: float,
    epochs_done: int,
    upper_bound: int,
) -> Plan:
    """The number of epochs (at least the ones done, at most ``upper_bound``) that fit."""
    per_epoch = step_s * steps_per_epoch + validation_s
    more = math.floor(max(0.0, MARGIN * budget_s - elapsed_s) / per_epoch) if per_epoch > 0 else 0
    epochs = max(epochs_done, min(upper_bound, epochs_done + more), 1)
    return Plan(epochs, step_s, validation_s)
