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


EXPORTED = """
import json, sys
import tensorflow as tf
try:
    import tensorflow_text  # registers the SentencePiece ops of a subword export
except ImportError:
    pass
try:
    import translator
    sys.exit("translator is importable here")
except ImportError:
    pass
saved = tf.saved_model.load(sys.argv[1])
out = saved.translate(tf.constant(json.loads(sys.argv[2])))
print(json.dumps({key: value.numpy().tolist() for key, value in out.items()}, default=bytes.decode))
"""


def assert_export_translates_like_translate(run_dir, sentences, tmp_path) -> None:
    """``export`` the run, load the SavedModel in a process that cannot import this project,
    and check its translations, tokens and attention against ``translate``'s."""
    import json
    import subprocess
    import sys

    import numpy as np

    from translator.decoding.decode import translate_sentences
    from translator.training.rundir import load_run

    done = run_main("export", "--run-dir", run_dir, "--out", tmp_path / "saved")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    done = subprocess.run(
        [sys.executable, "-I", "-c", EXPORTED, str(tmp_path / "saved"), json.dumps(sentences)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    expected = translate_sentences(load_run(run_dir), sentences)
    assert out["translation"] == [r.text for r in expected]
    for row, result in enumerate(expected):
        assert [t for t in out["target_tokens"][row] if t] == result.target_tokens
        assert [t for t in out["source_tokens"][row] if t] == result.source_tokens
        matrix = np.asarray(out["attention"][row])[
            : len(result.target_tokens), : len(result.source_tokens)
        ]
        np.testing.assert_allclose(matrix, result.attention, atol=1e-4)
