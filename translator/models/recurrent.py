"""The GRU both sides run, shaped for a quick training step on TensorFlow's CPU kernels.

Two costs of a recurrent loop there, measured on a 2-core AVX2 machine:

* The gradient of ``state @ kernel`` inside a loop multiplies by the kernel transposed at
  every step (``matmul(..., transpose_b=True)``), a product TensorFlow's CPU kernel runs 1.5
  to 4.5 times slower than the same product with a transposed copy: (64, 4096) by (1024,
  4096)ᵀ took 35.6 ms against 7.8 ms. ``loop_product`` gives the loop's products a gradient
  that reads a transpose made once, before the loop.
* Keras' GRU projects its inputs inside the loop, one small product per step; ``GRU``
  projects all steps at once and loops over the recurrence only.

On other backends (JAX compiles the loop with XLA, which lays products out itself)
``loop_product`` is a plain product.
"""

from __future__ import annotations

import keras
from keras import ops


def transposed(kernel):
    """The transpose ``loop_product`` reads in the gradient: made here, outside the loop, on
    TensorFlow; None elsewhere (a plain product)."""
    return ops.transpose(kernel) if keras.backend.backend() == "tensorflow" else None


def loop_product(x, kernel, kernel_t=None):
    """``x @ kernel`` whose gradient with respect to ``x`` is ``upstream @ kernel_t``."""
    if kernel_t is None:
        return ops.matmul(x, kernel)

    @ops.custom_gradient
    def product(x, kernel):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.matmul(upstream, kernel_t), ops.matmul(ops.transpose(x), upstream)

        return ops.matmul(x, kernel), grad

    return product(x, kernel)


def gru_update(state, x, h):
    """A GRU's next state from ``x`` = W·input + b and ``h`` = U·state + b' (gates z, r, n,
    the reset gate applied after the recurrent product, as Keras' and cuDNN's GRU)."""
    x_z, x_r, x_n = ops.split(x, 3, axis=-1)
    h_z, h_r, h_n = ops.split(h, 3, axis=-1)
    z = ops.sigmoid(x_z + h_z)
    r = ops.sigmoid(x_r + h_r)
    return z * state + (1.0 - z) * ops.tanh(x_n + r * h_n)


@keras.saving.register_keras_serializable(package="translator")
class GRUWeights(keras.layers.Layer):
    """The kernels of a ``GRU``, named and ordered as in Keras' ``GRUCell``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        gates = 3 * self.units
        self.kernel = self.add_weight((input_shape[-1], gates), name="kernel")
        self.recurrent_kernel = self.add_weight(
            (self.units, gates), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight((2, gates), initializer="zeros", name="bias")

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="translator")
class GRU(keras.layers.Layer):
    """A GRU layer computing what ``keras.layers.GRU`` computes, weights included.

    Same defaults (tanh, sigmoid gates, reset after), the same weights at the same places in
    a saved model (``cell`` with ``kernel``, ``recurrent_kernel``, ``bias``), so runs saved
    with Keras' GRU load unchanged; and it works inside ``keras.layers.Bidirectional``. A
    masked step keeps the state and outputs zeros. Returns ``[outputs, final_state]`` (the
    outputs (batch, len, units) in the order processed: reversed with ``go_backwards``).
    """

    states = None  # never stateful (``keras.layers.Bidirectional`` asks)

    def __init__(
        self, units, *, return_sequences=True, return_state=True, go_backwards=False, **kwargs
    ):
        super().__init__(**kwargs)
        self.units, self.go_backwards = units, go_backwards
        self.return_sequences, self.return_state = return_sequences, return_state
        self.stateful = False
        self.supports_masking = True
        self.cell = GRUWeights(units, name="gru_cell", dtype=self.dtype_policy)

    def build(self, sequences_shape, initial_state_shape=None):
        self.cell.build(sequences_shape)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        dtype = self.compute_dtype
        kernel, recurrent_kernel, bias = (
            ops.cast(w, dtype)
            for w in (self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias)
        )
        projected = ops.matmul(ops.cast(sequences, dtype), kernel) + bias[0]  # all steps at once
        if mask is None:
            mask = ops.ones(ops.shape(sequences)[:2], "bool")
        # One input tensor per step (Keras' TensorFlow scan wants one): [W·x + b ; keep].
        steps = ops.concatenate([projected, ops.expand_dims(ops.cast(mask, dtype), -1)], axis=-1)
        steps = ops.transpose(steps, (1, 0, 2))
        if self.go_backwards:
            steps = ops.flip(steps, axis=0)
        if initial_state:
            state = ops.cast(initial_state[0], dtype)
        else:
            state = ops.zeros((ops.shape(sequences)[0], self.units), dtype)
        recurrent_t = transposed(recurrent_kernel) if training else None  # for gradients only

        def step(state, inputs):
            x, keep = inputs[:, :-1], inputs[:, -1:]
            h = loop_product(state, recurrent_kernel, recurrent_t) + bias[1]
            new_state = gru_update(state, x, h)
            return ops.where(keep > 0, new_state, state), new_state * keep

        final, outputs = ops.scan(step, state, steps)
        outputs = ops.transpose(outputs, (1, 0, 2)) if self.return_sequences else final
        return [outputs, final] if self.return_state else outputs

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, length = sequences_shape[0], sequences_shape[1]
        outputs = (batch, length, self.units) if self.return_sequences else (batch, self.units)
        return [outputs, (batch, self.units)] if self.return_state else outputs

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
        }
