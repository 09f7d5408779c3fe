"""Training on JAX in processes where TensorFlow cannot be imported, and on two devices.

Each JAX run is a subprocess of ``tests/no_tensorflow.py`` (the backend is fixed per
process, and ``import tensorflow`` fails there as on a JAX-only machine); the test process
itself runs on TensorFlow, so it also checks that what JAX wrote loads and decodes there.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import RESUMABLE_TINY_RUN, ROOT

from translator.training.checkpoints import CheckpointManager
from translator.training.rundir import load_model, load_run

pytest.importorskip("jax", reason="jax is pinned in requirements.txt; reinstall them")

NO_TF = str(ROOT / "tests" / "no_tensorflow.py")
TRAIN_ARGS = RESUMABLE_TINY_RUN
SENTENCES = ["I see the cat.", "They have a book.", "We want the summer.", "She likes my sister."]


COMPILATION_CACHE = {}


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """One JAX compilation cache for this module's processes: each compiles less."""
    COMPILATION_CACHE.update(
        JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax-cache")),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
    )


def jax(*args, devices: int = 1, env=None, timeout=300):
    environment = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(ROOT),
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        **COMPILATION_CACHE,
        **(env or {}),
    )
    return subprocess.run(
        [sys.executable, NO_TF, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=timeout,
    )


def final_weights(run_dir):
    return [
        np.asarray(w)
        for w in load_model(CheckpointManager(run_dir).latest() / "model.keras").weights
    ]


def trains_and_resumes_after_sigkill_at_step_9(args, tmp_path):
    """Train ``args`` on JAX into ``clean``, and into ``killed`` with a SIGKILL at step 9 and a
    resume from step 7's checkpoint; both end with the same weights. Returns ``clean``."""
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    done = jax("train", *args, "--run-dir", str(clean))
    assert done.returncode == 0, done.stderr[-2000:]
    done = jax("train", *args, "--run-dir", str(killed), env={"TRANSLATOR_FAILPOINT": "step:9"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    done = jax("train", *args, "--run-dir", str(killed))
    assert done.returncode == 0 and "resuming from step-00000007" in done.stdout, done.stderr[
        -2000:
    ]
    for a, b in zip(final_weights(clean), final_weights(killed), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    return clean


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory, corpus_path):
    run_dir = tmp_path_factory.mktemp("jax") / "run"
    done = jax(
        "train", *TRAIN_ARGS, "--set", f"data.corpus={corpus_path}", "--run-dir", str(run_dir)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, done.stdout


def test_jax_trains_without_tensorflow_and_resumes_exactly_after_sigkill(
    jax_run, tmp_path, corpus_path
):
    clean_dir, log = jax_run
    assert "training on 1 device (cpu:0), Keras backend jax" in log.splitlines()[1]
    args = [
        *TRAIN_ARGS,
        "--set",
        f"data.corpus={corpus_path}",
        "--run-dir",
        str(tmp_path / "killed"),
    ]
    for failpoint in ("step:5", "checkpoint-write:2"):
        done = jax("train", *args, env={"TRANSLATOR_FAILPOINT": failpoint})
        assert done.returncode == -signal.SIGKILL, (failpoint, done.stderr[-2000:])
    done = jax("train", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from step-00000007" in done.stdout  # step 14 was killed while written
    for clean, resumed in zip(
        final_weights(clean_dir), final_weights(tmp_path / "killed"), strict=True
    ):
        np.testing.assert_allclose(clean, resumed, atol=1e-5)
    assert (clean_dir / "best").is_symlink() and (clean_dir / "eval-test.json").is_file()


def test_jax_trains_and_translates_with_subwords_without_tensorflow_and_resumes_after_sigkill(
    tmp_path, corpus_path
):
    args = [*TRAIN_ARGS, "--set", f"data.corpus={corpus_path}", "--set", "data.vocab=unigram"]
    args += ["--set", "data.vocab_size=300", "--set", "train.epochs=1"]
    clean = trains_and_resumes_after_sigkill_at_step_9(args, tmp_path)
    done = jax("translate", "--run-dir", str(clean), "--json", *SENTENCES)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in done.stdout.splitlines():
        item = json.loads(line)
        assert item["source_pieces"][-1] == "<end>" and "<unk>" not in item["target_tokens"]
        assert len(item["attention"]) == len(item["target_tokens"])
        assert all(len(row) == len(item["source_tokens"]) for row in item["attention"])


def test_tensorboard_scalars_written_on_jax_are_readable(jax_run):
    from translator.training.runlog import read_scalars

    scalars = read_scalars(jax_run[0] / "tensorboard")
    assert [step for step, _ in scalars["loss"]] == [23, 46]
    assert {"val_loss", "val_bleu", "learning_rate", "perplexity"} <= set(scalars)
    rows = (jax_run[0] / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and float(rows[2].split(",")[2]) == pytest.approx(
        scalars["loss"][1][1], rel=1e-5
    )


TRANSLATE_TWICE = textwrap.dedent("""
    import sys
    from translator.__main__ import main

    run_dir, *sentences = sys.argv[1:]
    for beam in ("1", "3"):  # one process, two widths: the command line's JSON lines
        args = ["translate", "--run-dir", run_dir, "--json", "--beam-size", beam, *sentences]
        assert main(args) == 0
""")


def test_a_run_trained_on_jax_translates_the_same_on_tensorflow(jax_run, tmp_path):
    from translator.decoding.decode import translate_sentences

    run_dir = jax_run[0]
    (tmp_path / "translate.py").write_text(TRANSLATE_TWICE)
    done = jax("--script", str(tmp_path / "translate.py"), str(run_dir), *SENTENCES)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 2 * len(SENTENCES)
    for beam, on_jax in ((1, lines[: len(SENTENCES)]), (3, lines[len(SENTENCES) :])):
        run = load_run(run_dir, beam_size=beam)
        on_tensorflow = translate_sentences(run, SENTENCES)
        assert [r.target_tokens for r in on_tensorflow] == [o["target_tokens"] for o in on_jax]
        for result, other in zip(on_tensorflow, on_jax):
            np.testing.assert_allclose(result.attention, np.asarray(other["attention"]), atol=1e-4)


TWO_DEVICES = textwrap.dedent("""
    import json, os, signal, sys
    import keras
    from translator.core import config as config_lib
    from translator.training import progress
    from translator.training.train import train

    corpus, out = sys.argv[1:3]
    losses, original = {}, progress.StepCallback.on_train_batch_end

    def record(self, batch, logs=None):
        name = self.trainer.run_dir.name
        losses.setdefault(name, []).append(float(logs["loss"]))
        if name == "interrupted" and self.state.global_step == 9:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after step 10
        original(self, batch, logs)

    progress.StepCallback.on_train_batch_end = record
    for name, devices in (("one", 1), ("two", 2), ("interrupted", 2), ("interrupted", 2)):
        overrides = [f"data.corpus={corpus}", f"train.devices={devices}", "train.epochs=1",
                     "model.dropout=0.3", "train.checkpoint_every_steps=100",
                     "data.valid_fraction=0", "data.test_fraction=0"]
        config = config_lib.load("configs/tiny.yaml", overrides)
        train(config, f"{out}/{name}", show_progress=False, evaluate_test=False,
                       log=lambda line: print(line, flush=True))
        keras.distribution.set_distribution(None)
    json.dump(losses, open(f"{out}/losses.json", "w"))
""")


def test_two_devices_train_like_one_and_resume(tmp_path, corpus_path):
    script = tmp_path / "two_devices.py"
    script.write_text(TWO_DEVICES)
    done = jax("--script", str(script), corpus_path, str(tmp_path), devices=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training on 2 devices (cpu:0, cpu:1), Keras backend jax" in done.stdout
    losses = json.loads((tmp_path / "losses.json").read_text())
    assert len(losses["one"]) == len(losses["two"]) == 27  # one epoch: 27 batches of up to 8 pairs
    np.testing.assert_allclose(losses["two"][:20], losses["one"][:20], rtol=1e-5, atol=1e-6)
    assert "stopped by SIGINT: saved step-00000010" in done.stdout
    for whole, resumed in zip(
        final_weights(tmp_path / "two"), final_weights(tmp_path / "interrupted")
    ):
        np.testing.assert_allclose(whole, resumed, atol=1e-6)


MIXED_PRECISION_DECODING = textwrap.dedent("""
    import json
    import numpy as np
    from translator.core import config as config_lib
    from translator.models.model import build_model
    from translator.models.search import DecodeOptions

    config = config_lib.load("configs/tiny.yaml", ["model.dtype=mixed_bfloat16"])
    model = build_model(config, 40, 50, 10)  # the training model, as validation decodes it
    source = np.array([[5, 6, 7, 8, 2, 0], [9, 10, 2, 0, 0, 0]], "int32")
    for beam in (1, 3):
        output = model.translate(source, DecodeOptions(beam_size=beam, ban_unk=False))
        tokens, attention = np.asarray(output["tokens"]), np.asarray(output["attention"])
        print(json.dumps({"tokens": tokens.tolist(), "attention": attention.tolist()}))
""")


def test_a_mixed_precision_model_decodes_on_jax(tmp_path):
    """The default dtype: a bfloat16 state whose step returns float32 keeps the loop's dtype."""
    (tmp_path / "decode.py").write_text(MIXED_PRECISION_DECODING)
    done = jax("--script", str(tmp_path / "decode.py"))
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(outputs) == 2  # greedy, then beam 3
    for output in outputs:
        tokens, attention = np.asarray(output["tokens"]), np.asarray(output["attention"])
        assert tokens.shape[0] == 2 and attention.shape == (2, tokens.shape[1], 6)
        produced = np.cumsum(tokens == 0, axis=1) == 0  # positions before the first padding
        np.testing.assert_allclose(attention.sum(-1)[produced], 1.0, atol=1e-2)
        assert np.all(attention[~produced] == 0)
