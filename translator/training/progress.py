"""The per-step training callback: progress bar, step checkpoints, NaN guard, stop requests.

Ctrl-C (SIGINT) and SIGTERM do not kill the step in flight: they ask the callback to save a
checkpoint after the current step and stop, so the next ``train`` resumes exactly there.
"""

from __future__ import annotations

import math
import signal

import keras
from tqdm import tqdm

from translator.core.faults import failpoint


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag that the training loop checks after each step."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None:  # asked twice: stop at once
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class StepCallback(keras.callbacks.Callback):
    """Counts steps into the trainer's ``TrainState``, shows progress, checkpoints every N steps.

    ``stop_reason`` says why training stopped early: ``"nan"``, ``"time"`` or a signal name.
    """

    def __init__(self, trainer, stop: StopRequest, description: str):
        super().__init__()
        self.trainer, self.stop, self.description = trainer, stop, description
        self.state = trainer.state
        self.stop_reason: str | None = None
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = tqdm(
            total=self.trainer.steps_per_epoch,
            initial=self.state.step_in_epoch,
            unit="step",
            desc=self.description,
            disable=not self.trainer.show_progress,
            dynamic_ncols=True,
            leave=True,
        )

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = float(logs.get("loss", math.nan))
        if not math.isfinite(loss):
            self.stop_reason = "nan"
            self.model.stop_training = True
            return
        self.state.global_step += 1
        self.state.step_in_epoch += 1
        failpoint("step")
        self.trainer.step_done()
        self.bar.update(1)
        accuracy = float(logs.get("accuracy", 0))
        self.bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.3f}", refresh=False)
        if self.stop.signal_name:
            self.stop_reason = self.stop.signal_name
        elif self.trainer.out_of_time():
            self.stop_reason = "time"
        if self.stop_reason:
            self.model.stop_training = True
        elif self.trainer.checkpoint_due():
            self.trainer.save()

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
