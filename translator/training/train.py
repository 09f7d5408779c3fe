"""``train``: the library entry point of training (the CLI's ``train`` command calls it)."""

from __future__ import annotations

import time
from pathlib import Path

from translator.core.config import Config
from translator.training.state import TrainResult
from translator.training.trainer import Trainer


def train(
    config: Config,
    run_dir,
    *,
    show_progress: bool = True,
    evaluate_test: bool = True,
    log=print,
    clock=time.monotonic,
) -> TrainResult:
    """Train (or resume) the run in ``run_dir`` as ``config`` says.

    ``clock`` (seconds, monotonic) times the budget; tests pass a fake one.
    """
    trainer = Trainer(config, Path(run_dir), show_progress=show_progress, log=log, clock=clock)
    return trainer.run(evaluate_test=evaluate_test)
