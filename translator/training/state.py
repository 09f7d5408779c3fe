"""``TrainState``: where a training run stands, saved in every checkpoint's ``state.json``;
``TrainResult``: what a run ends with."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from translator.core.errors import UserError


@dataclass
class TrainState:
    """Counters, early-stopping bookkeeping and random-generator states of one run.

    ``epoch`` counts completed epochs and ``step_in_epoch`` the steps done in the current
    one, so a resumed run starts at the exact batch where it stopped. ``elapsed_s`` is the
    time spent training and validating (what ``train.max_minutes`` limits); ``planned_*``
    record the epochs that budget allows and the latest timings, ``plan_changes`` every
    change of that plan.
    """

    global_step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    elapsed_s: float = 0.0
    best_metric: float | None = None
    best_step: int | None = None
    bad_epochs: int = 0
    finished: bool = False
    seed_states: list = field(default_factory=list)
    planned_epochs: int | None = None  # what train.max_minutes allows, planned after epoch 1
    planned_step_s: float | None = None  # the latest epoch's timings
    planned_validation_s: float | None = None
    plan_changes: list = field(default_factory=list)  # {after_epoch, step, epochs, step_ms, ...}
    epoch_timings: list = field(default_factory=list)  # [step_s, validation_s] of each timed epoch

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainState:
        """Read a saved state; keys this version does not know are ignored, missing ones default."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def capture_seeds(self, model) -> None:
        """Keep the states of the model's random generators (dropout) for an exact resume."""
        self.seed_states = [np.asarray(v).tolist() for v in _seed_variables(model)]

    def restore_seeds(self, model) -> None:
        for variable, value in zip(_seed_variables(model), self.seed_states):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, checkpoint: Path) -> TrainState:
        path = Path(checkpoint) / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a mapping")
            return cls.from_dict(data)
        except (OSError, ValueError, TypeError) as error:
            raise UserError(
                f"checkpoint state {path} is unreadable ({error.__class__.__name__}); "
                f"delete {checkpoint} to fall back to an older one"
            ) from None


def _seed_variables(model) -> list:
    return [v for v in model.variables if "seed_generator" in v.path]


@dataclass
class TrainResult:
    """What a training run ends with: the final state, why it stopped early, the test scores."""

    state: TrainState
    stopped_by: str | None = None
    test: dict | None = None
