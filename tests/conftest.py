"""Shared fixtures: a synthetic corpus, tiny configs, and one small trained run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from synthetic import write_corpus

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny.yaml"
REAL_CORPUS = [ROOT / "data" / "fra-eng" / "fra.txt", ROOT.parent / "shared/data/fra-eng/fra.txt"]


def real_corpus() -> str:
    """The English-French corpus `make data` copies, or this test is skipped."""
    for path in REAL_CORPUS:
        if path.is_file():
            return str(path)
    pytest.skip("the real corpus is missing: `make data` copies it into data/fra-eng/")


# A tiny training run that checkpoints often: the kill-and-resume tests' command line.
RESUMABLE_TINY_RUN = [
    "--config",
    str(TINY),
    "--set",
    "train.epochs=2",
    "--set",
    "model.dropout=0.3",
    "--set",
    "train.checkpoint_every_steps=7",
    "--set",
    "train.bleu_sample=10",
    "--no-progress",
]


def tiny_config(corpus, *overrides):
    from translator.core import config

    return config.load(TINY, [f"data.corpus={corpus}", "train.max_minutes=0", *overrides])


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory) -> str:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "synthetic.txt")


# A tiny run trained until it reproduces its training pairs (about 20 s on 2 cores).
LEARNS_ITS_PAIRS = (
    "model.embedding_dim=32",
    "model.units=64",
    "train.epochs=14",
    "train.learning_rate=0.01",
    "train.bleu_every_epochs=7",
    "train.checkpoint_every_steps=1000",
    "train.early_stopping_patience=0",
    "data.valid_fraction=0.05",
    "data.test_fraction=0.05",
)


def train_until_learned(run_dir, corpus, *overrides):
    """Train ``LEARNS_ITS_PAIRS`` (and ``overrides``) quietly into ``run_dir``."""
    from translator.training.train import train

    config = tiny_config(corpus, *LEARNS_ITS_PAIRS, *overrides)
    return train(config, run_dir, show_progress=False, log=lambda *_: None)


def mistranslated_training_pairs(run) -> list:
    """(source, translation) of every training sentence whose translation is none of its
    references."""
    from translator.data.corpus import load_corpus, references_by_source
    from translator.decoding.decode import translate_run

    refs = references_by_source(load_corpus(run.config.data).split("train"))
    results = translate_run(run, list(refs["source_tokens"]))
    return [
        (source, result.text)
        for source, result, references in zip(refs["source"], results, refs["references"])
        if result.text not in references
    ]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, corpus_path):
    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    return run_dir, train_until_learned(run_dir, corpus_path).state


@dataclass
class Done:
    returncode: int
    stdout: bytes
    stderr: bytes


def run_main(*args, stdin: bytes = b"") -> Done:
    """``python -m translator ARGS`` in this process: its exit status and output.

    The command line's own code, without a new interpreter's start-up; the tests that kill
    or signal a training run use real subprocesses instead.
    """
    import contextlib
    import io
    import sys

    from translator.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        sys.stdin = saved_stdin
    return Done(code, out.getvalue().encode(), err.getvalue().encode())
