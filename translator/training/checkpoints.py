"""Checkpoints that are whole or absent, and one writer per run directory.

A checkpoint is a directory ``checkpoints/step-NNNNNNNN/`` holding ``model.keras`` (the
model with its optimizer state, Keras' own format) and ``state.json`` (epoch, position in
the epoch, random-generator states, early-stopping state). It is written under a temporary
name, fsynced, then renamed: a reader never sees half of one, whatever kills the writer.
``best`` is a symbolic link to the best checkpoint, replaced atomically. Averaged weights
(``train.average``) are saved the same way as ``checkpoints/average-NNNNNNNN/``; a run
resumes from ``step-`` checkpoints only.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path

from translator.core.errors import UserError
from translator.core.faults import failpoint
from translator.core.files import WRITE_ERRORS, fsync_dir


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_dir(directory)


class CheckpointManager:
    """Save, list, prune and point at checkpoints under ``run_dir/checkpoints``."""

    def __init__(self, run_dir: Path, keep: int = 3, prefix: str = "step"):
        self.run_dir, self.prefix = Path(run_dir), prefix
        self.pattern = re.compile(rf"^{prefix}-(\d{{8,}})$")
        self.directory = self.run_dir / "checkpoints"
        self.best_link = self.run_dir / "best"
        self.keep = keep

    def clean_partial(self) -> None:
        """Remove what a killed writer left behind (temporary directories only)."""
        if self.directory.is_dir():
            for path in self.directory.glob(".tmp-*"):
                shutil.rmtree(path, ignore_errors=True)

    def all(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if self.pattern.match(p.name) and p.is_dir()]
        return sorted(found, key=lambda p: int(self.pattern.match(p.name).group(1)))

    def latest(self) -> Path | None:
        checkpoints = self.all()
        return checkpoints[-1] if checkpoints else None

    def best(self) -> Path | None:
        return (
            self.best_link.resolve()
            if self.best_link.is_symlink() and self.best_link.exists()
            else None
        )

    def save(self, model, state) -> Path:
        """Write a checkpoint of ``model`` and ``state`` (a ``TrainState``) atomically; prune."""
        final = self.directory / f"{self.prefix}-{state.global_step:08d}"
        if final.is_dir():
            return final
        tmp = self.directory / f".tmp-{final.name}-{os.getpid()}"
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            model.save(tmp / "model.keras")
            state.save(tmp / "state.json")
            failpoint("checkpoint-write")
            _fsync_tree(tmp)
            os.rename(tmp, final)
            fsync_dir(self.directory)
        except OSError as error:
            shutil.rmtree(tmp, ignore_errors=True)
            if error.errno not in WRITE_ERRORS:
                raise
            previous = self.latest()
            kept = (
                f"the previous checkpoint {previous.name} is intact"
                if previous
                else "no earlier checkpoint exists"
            )
            raise UserError(
                f"could not write checkpoint {final.name}: {error.strerror}; {kept}; "
                "free disk space and run the same command to resume"
            ) from None
        self.prune()
        return final

    def mark_best(self, checkpoint: Path) -> None:
        tmp_link = self.run_dir / f".best-{os.getpid()}"
        tmp_link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(checkpoint, self.run_dir), tmp_link)
        os.replace(tmp_link, self.best_link)
        fsync_dir(self.run_dir)

    def prune(self) -> None:
        """Keep the newest ``keep`` checkpoints and the best one."""
        best = self.best()
        for old in self.all()[: -self.keep]:
            if best is None or old.resolve() != best:
                shutil.rmtree(old, ignore_errors=True)


class RunLock:
    """An exclusive lock on a run directory; the OS drops it when the process dies."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.handle = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            owner = self.handle.read().strip() or "another process"
            self.handle.close()
            raise UserError(
                f"run directory {self.path.parent} is in use by process {owner}; wait for it "
                "to finish or use another --run-dir"
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
