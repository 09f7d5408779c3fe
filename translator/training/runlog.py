"""The epoch log of a run: a row per validation in ``metrics.csv`` and in TensorBoard.

TensorBoard files are written with the ``tensorboard`` package's own writer, which needs
neither TensorFlow nor any other framework, so the same files come from every backend
(``tensorboard --logdir runs/``). Without the package, ``metrics.csv`` alone is written.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

FIELDS = [
    "epoch",
    "step",
    "loss",
    "accuracy",
    "perplexity",
    "val_loss",
    "val_accuracy",
    "val_perplexity",
    "val_bleu",
    "val_chrf",
    "avg_val_loss",
    "avg_val_accuracy",
    "avg_val_perplexity",
    "avg_val_bleu",
    "avg_val_chrf",
    "learning_rate",
    "elapsed_s",
]


class RunLog:
    """Appends epoch rows to ``run_dir/metrics.csv`` and ``run_dir/tensorboard``."""

    def __init__(self, run_dir: Path):
        self.csv_path = Path(run_dir) / "metrics.csv"
        self.tensorboard_dir = Path(run_dir) / "tensorboard"
        try:
            from tensorboard.summary import Writer
        except ImportError:
            print(
                "warning: the tensorboard package is not installed; metrics go to "
                f"{self.csv_path} only",
                file=sys.stderr,
            )
            self.writer = None
        else:
            self.writer = Writer(str(self.tensorboard_dir))

    def write(self, row: dict) -> None:
        new = not self.csv_path.exists()
        fields = FIELDS if new else self.columns()  # a resumed run keeps its file's columns
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            out = csv.DictWriter(handle, fields)
            if new:
                out.writeheader()
            out.writerow({key: row.get(key, "") for key in fields})
        if self.writer is not None:
            for key in FIELDS[2:]:
                value = row.get(key)
                if isinstance(value, float) and math.isfinite(value):
                    self.writer.add_scalar(key, value, step=row["step"])
            self.writer.flush()

    def columns(self) -> list[str]:
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), None) or FIELDS

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_scalars(tensorboard_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in a TensorBoard directory: {tag: [(step, value), ...]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tensorboard_dir))
    accumulator.Reload()
    series = {}
    for tag in accumulator.Tags()["tensors"]:
        series[tag] = [
            (event.step, float(_scalar(event.tensor_proto))) for event in accumulator.Tensors(tag)
        ]
    return series


def _scalar(tensor_proto) -> float:
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(tensor_proto))
