"""Averaged weights (``train.average: ema``), validated and saved beside the trained ones.

The optimizer (``optimizer.AveragingAdam``) updates an exponential moving average of every
trainable weight after each step, inside the compiled train step. The average is optimizer
state: every checkpoint carries it, so a resumed run continues the same average. After each
epoch the trainer swaps the average into the model, validates it like the trained weights,
saves it as ``checkpoints/average-NNNNNNNN/`` and swaps the trained weights back; ``best``
points at whichever of the two scored the higher validation BLEU.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from translator.core.errors import UserError
from translator.models.optimizer import AveragingAdam
from translator.training.checkpoints import CheckpointManager

PREFIX = "average"


class WeightAverage:
    """The run's moving average of the weights: swap it in, save it, name its figures."""

    def __init__(self, run_dir: Path, model):
        if not isinstance(model.optimizer, AveragingAdam):
            raise UserError(
                f"run directory {run_dir} was trained without averaged weights; set "
                "train.average=none to resume it, or use a new --run-dir"
            )
        self.model = model
        self.checkpoints = CheckpointManager(run_dir, keep=1, prefix=PREFIX)

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block, its trained ones after."""
        variables = self.model.trainable_variables
        trained = [np.array(v) for v in variables]
        for variable, average in zip(variables, self.model.optimizer.averages(), strict=True):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(variables, trained, strict=True):
                variable.assign(value)

    def save(self, state) -> Path:
        """Checkpoint the averaged weights (with ``state``) as ``average-NNNNNNNN``."""
        with self.swapped_in():
            return self.checkpoints.save(self.model, state)

    @staticmethod
    def figures(validation: dict) -> dict:
        """Validation figures of the average, named ``avg_<figure>`` in the epoch's row."""
        return {f"avg_{key}": value for key, value in validation.items()}
