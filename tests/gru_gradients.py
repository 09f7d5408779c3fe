"""The model's loss gradients with this project's GRU and with ``keras.layers.GRU``.

Two ``Translator``s differing only in the encoder's GRU class get the same weights, then the
training loss of one padded batch (training mode, as a step of ``fit`` computes it) is
differentiated with respect to every weight, on the backend this process runs. Imported by
``test_recurrent`` (TensorFlow) and run as a script in a JAX process, which prints
``{"loss": [ours, keras], "worst": largest relative difference, "weights": n}`` as JSON.
"""

from __future__ import annotations

import json
from unittest import mock

import keras
import numpy as np
from keras import ops

from translator.models import encoder
from translator.models.metrics import masked_loss
from translator.models.model import Translator

SOURCE = np.array(
    [[5, 6, 7, 8, 9, 10, 2], [11, 12, 13, 2, 0, 0, 0], [14, 2, 0, 0, 0, 0, 0]], np.int32
)
TARGET = np.array([[1, 5, 6, 7, 2, 0], [1, 8, 9, 10, 11, 2], [1, 12, 2, 0, 0, 0]], np.int32)


def keras_gru(units, **kwargs):
    return keras.layers.GRU(units, return_sequences=True, return_state=True, **kwargs)


def build(with_keras_gru: bool, encoder_layers: int = 2) -> Translator:
    factory = keras_gru if with_keras_gru else encoder.GRU
    with mock.patch.object(encoder, "GRU", factory):
        model = Translator(
            source_vocab_size=20,
            target_vocab_size=16,
            embedding_dim=8,
            units=12,
            encoder_layers=encoder_layers,
        )
        model.build(None)
    return model


def loss_and_gradients(model) -> tuple[float, list[np.ndarray]]:
    loss = masked_loss(0.1)
    inputs, labels = (SOURCE, TARGET[:, :-1]), TARGET[:, 1:]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function  # as fit runs a step: the loops' custom gradients need a graph
        def step():
            with tf.GradientTape() as tape:
                value = ops.sum(loss.call(labels, model(inputs, training=True)))
            return value, tape.gradient(value, model.trainable_variables)

        value, grads = step()
        grads = [tf.convert_to_tensor(g) for g in grads]  # embeddings' IndexedSlices, dense
    else:
        import jax

        trainable = [v.value for v in model.trainable_variables]
        others = [v.value for v in model.non_trainable_variables]

        def of(trainable):
            logits, _ = model.stateless_call(trainable, others, inputs, training=True)
            return ops.sum(loss.call(labels, logits))

        value, grads = jax.value_and_grad(of)(trainable)
    return float(value), [np.asarray(g) for g in grads]


def compare() -> dict:
    """Loss of both models and the worst relative difference of a weight's gradient."""
    ours, reference = build(False), build(True)
    inner = [(w.path.split("/", 1)[1], w.shape) for w in ours.weights]  # without the model's name
    assert inner == [(w.path.split("/", 1)[1], w.shape) for w in reference.weights]
    rng = np.random.default_rng(0)
    for mine, theirs in zip(ours.weights, reference.weights):
        value = np.asarray(mine) + rng.normal(0, 0.1, mine.shape).astype("float32")  # bias too
        mine.assign(value)
        theirs.assign(value)
    loss_ours, ours_grads = loss_and_gradients(ours)
    loss_keras, keras_grads = loss_and_gradients(reference)
    worst = max(
        float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
        for a, b in zip(ours_grads, keras_grads)
    )
    zero = [w.path for w, g in zip(ours.trainable_variables, keras_grads) if not np.abs(g).max()]
    return {
        "loss": [loss_ours, loss_keras],
        "worst": worst,
        "weights": len(keras_grads),
        "zero": zero,
    }


if __name__ == "__main__":
    print(json.dumps(compare()))
