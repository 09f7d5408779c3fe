"""The GRU and the loop product behind both recurrences: Keras' GRU is the oracle."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gru_gradients
import keras
import numpy as np
import pytest
from keras import ops

import translator.models.model  # noqa: F401 (registers the saved models' classes)
from translator.models.recurrent import GRU, loop_product, transposed

FIXTURES = Path(__file__).parent / "fixtures" / "keras-gru"
ROOT = Path(__file__).resolve().parent.parent
NO_TF = ROOT / "tests" / "no_tensorflow.py"
RNG = np.random.default_rng(0)
INPUTS = RNG.normal(size=(3, 6, 5)).astype("float32")
MASK = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4], bool)  # padding at the end


def same_weights(ours, reference):
    """Build both on INPUTS, then give both the reference's weights (a non-zero bias too)."""
    ours(INPUTS, mask=MASK)
    reference(INPUTS, mask=MASK)
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    for mine, theirs in zip(ours.weights, reference.weights):
        theirs.assign(theirs + RNG.normal(size=theirs.shape).astype("float32") * 0.3)
        mine.assign(theirs)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_computes_what_keras_gru_computes(go_backwards):
    ours = GRU(4, go_backwards=go_backwards)
    reference = keras.layers.GRU(
        4, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    reference.zero_output_for_mask = True  # as inside Bidirectional: padding outputs zeros
    same_weights(ours, reference)
    (outputs, final), (expected, expected_final) = (
        ours(INPUTS, mask=MASK),
        reference(INPUTS, mask=MASK),
    )
    np.testing.assert_allclose(outputs, expected, atol=1e-6)
    np.testing.assert_allclose(final, expected_final, atol=1e-6)
    # A padded step keeps the state: the final state is the state after the last real token.
    short = ours(INPUTS[1:2, :4])
    np.testing.assert_allclose(final[1:2], short[1], atol=1e-6)


def test_gru_inside_bidirectional_matches_keras_and_stores_weights_at_the_same_paths():
    ours = keras.layers.Bidirectional(GRU(4))
    reference = keras.layers.Bidirectional(
        keras.layers.GRU(4, return_sequences=True, return_state=True)
    )
    same_weights(ours, reference)
    for mine, theirs in zip(ours(INPUTS, mask=MASK), reference(INPUTS, mask=MASK)):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in reference.weights
    ]


def test_gru_config_round_trips():
    layer = GRU(7, go_backwards=True, name="g")
    clone = GRU.from_config(layer.get_config())
    assert (clone.units, clone.go_backwards, clone.name) == (7, True, "g")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a plain product elsewhere")
def test_loop_product_gradients_equal_the_plain_product_s_inside_a_scan():
    """Its custom gradient must be the product's gradient, through a recurrence."""
    import tensorflow as tf

    kernel = tf.Variable(RNG.normal(size=(4, 4)).astype("float32") * 0.5)
    steps = tf.constant(RNG.normal(size=(6, 3, 4)).astype("float32"))
    start = tf.constant(RNG.normal(size=(3, 4)).astype("float32"))

    @tf.function
    def gradient(use_loop_product):
        with tf.GradientTape() as tape:
            tape.watch(start)
            weights = tf.convert_to_tensor(kernel)  # as the layers read theirs before the loop

            def step(state, x):
                if use_loop_product:
                    product = loop_product(state, weights, transposed(weights))
                else:
                    product = ops.matmul(state, weights)
                state = ops.tanh(product + x)
                return state, state

            loss = ops.sum(ops.scan(step, start, steps)[1] ** 2)
        return tape.gradient(loss, [kernel, start])

    for plain, custom in zip(gradient(False), gradient(True)):
        np.testing.assert_allclose(custom, plain, rtol=1e-5, atol=1e-6)
        assert np.abs(plain).sum() > 0


@pytest.mark.parametrize("name", ["bidirectional-2-layers", "unidirectional"])
def test_models_saved_with_keras_gru_load_and_compute_the_same(name):
    """Runs trained before this GRU (its encoder was ``keras.layers.GRU``) still load."""
    model = keras.saving.load_model(FIXTURES / f"{name}.keras")
    saved = np.load(FIXTURES / f"{name}.npz")
    logits = model((saved["source"], saved["target_in"]))
    np.testing.assert_allclose(logits, saved["logits"], atol=1e-5)


def test_model_gradients_with_this_gru_equal_those_with_keras_gru():
    """Every weight's gradient of a padded batch's training loss, in a graph as fit runs it
    (the loops' custom gradients included), two bidirectional layers deep."""
    result = gru_gradients.compare()
    assert result["loss"][0] == pytest.approx(result["loss"][1], rel=1e-6)
    assert result["weights"] == 29 and not result["zero"]  # every weight gets a gradient
    assert result["worst"] < 1e-5


def test_model_gradients_with_this_gru_equal_those_with_keras_gru_on_jax():
    pytest.importorskip("jax", reason="jax is pinned in requirements.txt; reinstall them")
    done = subprocess.run(
        [sys.executable, str(NO_TF), "--script", str(Path(gru_gradients.__file__))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=f"{ROOT}"),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loss"][0] == pytest.approx(result["loss"][1], rel=1e-6)
    assert result["weights"] == 29 and not result["zero"]
    assert result["worst"] < 1e-5
