"""The time budget: how many epochs fit in ``train.max_minutes`` on this machine.

A fixed epoch count either stops early on a fast machine or is cut by the budget on a slow
one, with its learning-rate schedule unfinished. With a budget, the trainer instead times
the first epoch (steps after a warm-up, which excludes compilation, and the validation that
follows) and plans the epochs that fit, ``train.epochs`` being the upper bound; the
schedule's horizon becomes that plan. After every later epoch it plans again from the
median timings of the last three epochs, so a machine that was busy early (or becomes busy)
gets a plan it can keep, and a noisy step time does not make the plan flap; the schedule
bends from where it is (``optimizer.PlannedCosine``) rather than jumping.
The plan and every change of it are kept in the run's state, so a resumed run follows them.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

MARGIN = 0.97  # plan into 97 % of the budget: timings of later epochs vary a little
WARMUP_FRACTION = 0.2  # the first 20 % of epoch 1's steps (at most 100) are not timed
RECENT_EPOCHS = 3  # plans use the median timings of the last 3 epochs


@dataclass
class Plan:
    epochs: int
    step_s: float
    validation_s: float

    def describe(self, minutes: float, revised: bool = False) -> str:
        verb = "re-planned" if revised else "planned"
        return (
            f"{verb} {self.epochs} epochs for the {minutes:g}-minute budget "
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
        self.first_step = 0  # step in epoch where this process began the current epoch
        self.timed_steps: list[tuple[int, float]] = []  # (step in epoch, time) of this epoch

    def restart(self) -> None:
        self.mark = self.now()

    def tick(self, state) -> float:
        """Add the time since the last tick to ``state.elapsed_s``; returns those seconds."""
        now = self.now()
        seconds, self.mark = now - self.mark, now
        state.elapsed_s += seconds
        return seconds

    def epoch_begins(self, state) -> None:
        self.first_step, self.timed_steps = state.step_in_epoch, []

    def step_done(self, state, steps_per_epoch: int) -> None:
        """Count a step's time; note when the epoch's warm-up (compilation) and last step end."""
        self.tick(state)
        warmup = min(100, max(1, int(steps_per_epoch * WARMUP_FRACTION)))
        if state.step_in_epoch in (self.first_step + warmup, steps_per_epoch):
            self.timed_steps.append((state.step_in_epoch, self.mark))

    def out_of_time(self, state) -> bool:
        return bool(self.train.max_minutes) and state.elapsed_s >= 60 * self.train.max_minutes

    def planning_due(self, state, steps_per_epoch: int) -> bool:
        """After each complete epoch but the plan's last, with a budget and planning on."""
        planning = self.train.max_minutes and self.train.plan_epochs
        epoch_done = state.step_in_epoch >= steps_per_epoch
        remaining = state.planned_epochs is None or state.epoch + 1 < state.planned_epochs
        return bool(planning and epoch_done and remaining)

    def plan(self, state, steps_per_epoch: int, validation_s: float) -> Plan | None:
        """Plan the epochs that fit from this epoch's timings; the plan if it changed.

        The timings are the medians of the last ``RECENT_EPOCHS`` epochs' (kept in ``state``,
        so a resumed run plans as the uninterrupted one); a change is recorded in ``state``.
        An epoch timed too little in this process (resumed near its end) keeps the plan made
        before it, or, in epoch 1, plans from the run's average step time, compilation
        included.
        """
        step_s = self.step_seconds()
        if step_s is None and state.planned_epochs is not None:
            return None
        if step_s is None:
            step_s = (state.elapsed_s - validation_s) / max(1, state.global_step)
        state.epoch_timings.append([round(step_s, 4), round(validation_s, 2)])
        recent = state.epoch_timings[-RECENT_EPOCHS:]
        step_s = statistics.median(t[0] for t in recent)
        validation_s = statistics.median(t[1] for t in recent)
        plan = plan_epochs(
            budget_s=60 * self.train.max_minutes,
            elapsed_s=state.elapsed_s,
            step_s=step_s,
            steps_per_epoch=steps_per_epoch,
            validation_s=validation_s,
            epochs_done=state.epoch + 1,
            upper_bound=self.train.epochs,
        )
        state.planned_step_s, state.planned_validation_s = round(step_s, 4), round(validation_s, 2)
        if plan.epochs == state.planned_epochs:
            return None
        state.planned_epochs = plan.epochs
        state.plan_changes.append(
            {
                "after_epoch": state.epoch + 1,
                "step": state.global_step,
                "epochs": plan.epochs,
                "step_ms": round(1000 * step_s, 1),
                "validation_s": round(validation_s, 1),
            }
        )
        return plan

    def step_seconds(self) -> float | None:
        """Seconds per step of this epoch after its warm-up, if this process timed them."""
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
