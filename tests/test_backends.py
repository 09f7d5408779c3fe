"""The same saved model on the JAX backend: identical outputs, decoding, and it still trains.

The suite runs on TensorFlow; this test loads a run trained there in a JAX subprocess (the
backend is fixed per process) and compares what both backends compute from the same file.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT

pytest.importorskip("jax", reason="jax is pinned in requirements.txt; reinstall them")

JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    from translator.training import rundir
    assert keras.backend.backend() == "jax", keras.backend.backend()
    run_dir, inputs, output = sys.argv[1:4]
    data = np.load(inputs)
    run = rundir.load_run(run_dir)
    result = {"logits": np.asarray(run.model.predict_on_batch((data["source"], data["target_in"])))}
    for beam in (1, 3):
        decoded = run.model.translate(data["source"], run.options.replace(beam_size=beam))
        result[f"tokens_{beam}"] = np.asarray(decoded["tokens"])
        result[f"attention_{beam}"] = np.asarray(decoded["attention"])
    model = rundir.load_model(run.checkpoint / "model.keras", compile=True)
    batch = (data["source"], data["held_target_in"]), data["held_target_out"]
    losses = [float(model.train_on_batch(*batch, return_dict=True)["loss"]) for _ in range(11)]
    before, after = losses[0], losses[-1]  # each is the loss before that step's update
    np.savez(output, **result)
    print(json.dumps({"before": before, "after": after}))
""")


def test_a_run_trained_on_tensorflow_gives_the_same_outputs_on_jax(trained_run, tmp_path):
    from translator.data.corpus import load_corpus
    from translator.data.pipeline import BatchPlan, encode_pairs
    from translator.training import rundir

    run_dir, _ = trained_run
    run = rundir.load_run(run_dir)
    frame = load_corpus(run.config.data).split("train").head(12)
    plan = BatchPlan(*encode_pairs(frame, run.source_index, run.target_index), 12, shuffle=False)
    (source, target_in), target_out = next(plan.arrays(0))
    # Training resumes on a batch the run has not fitted (its pairs are near loss 0): each
    # source with the next pair's target, so the loss starts high and must fall.
    held_target_in, held_target_out = np.roll(target_in, 1, axis=0), np.roll(target_out, 1, axis=0)
    np.savez(
        tmp_path / "inputs.npz",
        source=source,
        target_in=target_in,
        held_target_in=held_target_in,
        held_target_out=held_target_out,
    )
    expected = {"logits": np.asarray(run.model.predict_on_batch((source, target_in)))}
    for beam in (1, 3):
        decoded = run.model.translate(source, run.options.replace(beam_size=beam))
        expected[f"tokens_{beam}"] = np.asarray(decoded["tokens"])
        expected[f"attention_{beam}"] = np.asarray(decoded["attention"])

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            JAX_SCRIPT,
            str(run_dir),
            str(tmp_path / "inputs.npz"),
            str(tmp_path / "jax.npz"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    got = np.load(tmp_path / "jax.npz")

    np.testing.assert_allclose(got["logits"], expected["logits"], atol=2e-4, rtol=1e-4)
    for beam in (1, 3):
        np.testing.assert_array_equal(got[f"tokens_{beam}"], expected[f"tokens_{beam}"])
        np.testing.assert_allclose(
            got[f"attention_{beam}"], expected[f"attention_{beam}"], atol=1e-4
        )
    assert (expected["tokens_1"] > 3).any(), "the trained model should emit real words"
    # Training resumes on JAX from the TensorFlow optimizer state and lowers the loss.
    assert losses["after"] < 0.9 * losses["before"], losses
