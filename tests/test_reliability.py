"""Faults and bad input: kill anywhere and resume, a full disk, one writer, clear errors."""

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import RESUMABLE_TINY_RUN, ROOT, TINY, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translator.core import files
from translator.core.errors import UserError
from translator.data.corpus import read_pairs
from translator.data.vocab import LanguageIndex
from translator.training.checkpoints import CheckpointManager
from translator.training.rundir import load_model

TRAIN_ARGS = [*RESUMABLE_TINY_RUN, "--set", "train.max_minutes=0"]


def cli(*args, env=None, stdin=b"", timeout=300):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "translator", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=environment,
        timeout=timeout,
    )


def in_process(*args, stdin=b""):
    """The command line without a new interpreter (for everything but kill tests)."""
    return run_main(*args, stdin=stdin)


def last_line(done) -> str:
    lines = done.stderr.decode().strip().splitlines()
    return lines[-1] if lines else ""


def assert_all_checkpoints_load(run_dir):
    for checkpoint in CheckpointManager(run_dir).all():
        model = load_model(checkpoint / "model.keras")
        assert all(np.isfinite(np.asarray(w)).all() for w in model.weights)


@pytest.mark.slow
def test_sigkill_anywhere_then_resume_matches_an_uninterrupted_run(tmp_path, corpus_path):
    args = [*TRAIN_ARGS, "--set", f"data.corpus={corpus_path}"]
    clean = in_process("train", *args, "--run-dir", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr.decode()[-2000:]
    run_dir = tmp_path / "killed"
    for failpoint in ("step:5", "checkpoint-write:2", "validation:1"):
        done = cli(
            "train", *args, "--run-dir", str(run_dir), env={"TRANSLATOR_FAILPOINT": failpoint}
        )
        assert done.returncode == -signal.SIGKILL, (failpoint, done.stderr.decode()[-2000:])
        assert_all_checkpoints_load(run_dir)
    done = cli("train", *args, "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))
    final_clean, final_killed = (
        CheckpointManager(tmp_path / "clean").latest(),
        CheckpointManager(run_dir).latest(),
    )
    assert final_clean.name == final_killed.name
    for a, b in zip(
        load_model(final_clean / "model.keras").weights,
        load_model(final_killed / "model.keras").weights,
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_before_exiting(tmp_path, corpus_path):
    run_dir = tmp_path / "run"
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "translator",
            "train",
            *TRAIN_ARGS,
            "--set",
            f"data.corpus={corpus_path}",
            "--set",
            "train.epochs=50",
            "--run-dir",
            str(run_dir),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 240
    while not CheckpointManager(run_dir).all() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 143
    assert b"stopped by SIGTERM: saved step-" in out
    assert_all_checkpoints_load(run_dir)


def test_full_disk_during_checkpoint_keeps_the_previous_one(tmp_path, corpus_path, monkeypatch):
    from conftest import tiny_config

    from translator.training import checkpoints
    from translator.training.train import train

    real_save = checkpoints.CheckpointManager.save
    calls = {"n": 0}

    def save_until_disk_is_full(self, model, state):
        calls["n"] += 1
        if calls["n"] == 3:

            def no_space(*args, **kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(model, "save", no_space)
        return real_save(self, model, state)

    monkeypatch.setattr(checkpoints.CheckpointManager, "save", save_until_disk_is_full)
    config = tiny_config(corpus_path, "train.epochs=2", "train.checkpoint_every_steps=7")
    with pytest.raises(
        UserError, match="No space left on device; the previous checkpoint step-00000014 is intact"
    ) as error:
        train(
            config, tmp_path / "run", show_progress=False, evaluate_test=False, log=lambda *_: None
        )
    assert "\n" not in str(error.value)
    assert [c.name for c in CheckpointManager(tmp_path / "run").all()] == [
        "step-00000007",
        "step-00000014",
    ]
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))
    assert_all_checkpoints_load(tmp_path / "run")


def test_full_disk_during_a_file_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    LanguageIndex.build([["old"]], "fr").save(path)
    before = path.read_text()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_space)
    with pytest.raises(UserError, match="No space left on device"):
        LanguageIndex.build([["new"]], "fr").save(path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["vocab.json"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "no usable sentence pairs"),
        (b"no tab\n\tonly target\nonly source\t\n", "no usable sentence pairs"),
        (bytes(range(256)) * 40, "no usable sentence pairs"),
    ],
)
def test_bad_corpora_give_one_line_errors(tmp_path, content, message):
    (tmp_path / "corpus.txt").write_bytes(content)
    done = in_process(
        "stats",
        "--config",
        str(TINY),
        "--set",
        f"data.corpus={tmp_path / 'corpus.txt'}",
        "--out",
        str(tmp_path / "s.json"),
    )
    assert done.returncode == 2 and message in last_line(done)
    assert last_line(done).startswith("error: ") and b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.corpus=/no/such/file.txt", "does not exist"),
        ("train.epochz=3", "unknown config key train.epochz"),
        ("train.batch_size=big", "must be a whole number"),
        ("model.units=-4", "must be greater than 0"),
    ],
)
def test_bad_train_settings_give_one_line_errors(tmp_path, override, message):
    done = in_process(
        "train", "--config", str(TINY), "--set", override, "--run-dir", str(tmp_path / "run")
    )
    assert done.returncode == 2 and message in last_line(done), done.stderr.decode()[-1000:]
    assert b"Traceback" not in done.stderr


def test_damaged_run_directories_give_one_line_errors(trained_run, tmp_path):
    import shutil

    source = trained_run[0]
    cases = {
        "missing vocabulary": (lambda d: (d / "vocab.target.json").unlink(), "is missing"),
        "corrupt vocabulary": (
            lambda d: (d / "vocab.source.json").write_text("{corrupt"),
            "is corrupt",
        ),
        "corrupt checkpoint": (
            lambda d: [
                (c / "model.keras").write_bytes(b"garbage") for c in d.glob("checkpoints/step-*")
            ],
            "cannot be loaded",
        ),
        "no checkpoint": (lambda d: shutil.rmtree(d / "checkpoints"), "has no checkpoint"),
    }
    for name, (damage, message) in cases.items():
        run_dir = tmp_path / name.replace(" ", "-")
        shutil.copytree(source, run_dir, symlinks=True)
        damage(run_dir)
        done = in_process("translate", "--run-dir", str(run_dir), "I see the cat.")
        assert done.returncode == 2 and message in last_line(done), (
            name,
            done.stderr.decode()[-1000:],
        )
        assert b"Traceback" not in done.stderr
    done = in_process("translate", "--run-dir", str(tmp_path / "nothing"), "hi")
    assert done.returncode == 2 and "does not exist" in last_line(done)


def test_translate_survives_odd_input_and_keeps_line_order(trained_run, tmp_path):
    lines = [
        b"",
        b"   ",
        "I see the cat \U0001f431 !".encode(),
        "Я see the 猫.".encode(),
        b"I\x00 see\x07 the\x1b cat.",
        b"I see the cat. " * 7000,
        b"Bad \xff\xfe bytes.",
        b"We like the dog.",
    ]
    (tmp_path / "odd.txt").write_bytes(b"\n".join(lines) + b"\n")
    done = in_process(
        "translate", "--run-dir", str(trained_run[0]), "--input", str(tmp_path / "odd.txt")
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode("utf-8").split("\n")[:-1]
    assert len(out) == len(lines)
    assert out[0] == "" and out[1] == ""
    assert all(out[i] for i in (2, 3, 4, 5, 6, 7))
    stderr = done.stderr.decode()
    assert "line 7 is not valid UTF-8" in stderr and "input 6 has more than 100 tokens" in stderr
    assert b"Traceback" not in done.stderr


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_corpus_reader_never_crashes_on_arbitrary_bytes(tmp_path, data):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    frame, report = read_pairs(path)
    assert report.lines_read == len(data.splitlines())
    assert len(frame) + report.skipped == report.lines_read


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(min_size=1, max_size=8).filter(lambda w: w.strip() == w and w),
        min_size=1,
        max_size=20,
    )
)
def test_vocabulary_round_trips_in_vocabulary_text(words):
    from translator.data.vocab import RESERVED

    words = [w for w in words if w not in RESERVED] or ["x"]
    index = LanguageIndex.build([words], "fr")
    assert index.decode(index.encode(words, add_start=True, add_end=True)) == words
