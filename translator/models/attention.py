"""Attention over the encoder states, with the softmax masked over padded source positions."""

from __future__ import annotations

import keras
from keras import ops

NEG_INF = -1e9


def summarise(weights, values):
    """The context: the ``weights`` (batch, src_len) average of ``values`` (batch, src_len, h)."""
    return ops.einsum("bs,bsh->bh", ops.cast(weights, values.dtype), values)


@keras.saving.register_keras_serializable(package="translator")
class Attention(keras.layers.Layer):
    """Bahdanau (additive) attention, or Luong ``dot`` / ``general`` scores.

    * ``bahdanau``: score(s, h_j) = vᵀ tanh(W₁h_j + W₂s)
    * ``general``:  score(s, h_j) = sᵀ W h_j
    * ``dot``:      score(s, h_j) = sᵀ h_j   (query and values must have the same size)

    The keys (W₁h or W h) depend only on the encoder states, so ``keys`` computes them once
    per batch and ``attend`` reuses them at every decoder step. Padded source positions
    (``mask`` False) get a weight of exactly 0 and every row of weights sums to 1.

    Args:
        units: size of the additive scoring layer (``bahdanau`` only).
        score: ``"bahdanau"``, ``"general"`` or ``"dot"``.

    Call arguments: ``query`` (batch, query_dim), ``values`` (batch, src_len, value_dim),
    ``mask`` (batch, src_len) bool. Returns ``context`` (batch, value_dim) and ``weights``
    (batch, src_len).

    Example:
        >>> attention = Attention(units=8)
        >>> context, weights = attention(ops.ones((2, 4)), ops.ones((2, 5, 6)))
    """

    def __init__(self, units: int = 128, score: str = "bahdanau", **kwargs):
        super().__init__(**kwargs)
        if score not in ("bahdanau", "general", "dot"):
            raise ValueError(f"score must be 'bahdanau', 'general' or 'dot', not {score!r}")
        self.units = units
        self.score = score
        self.supports_masking = True

    def build(self, query_shape, values_shape):
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if self.score == "bahdanau":
            self.key_kernel = self.add_weight((value_dim, self.units), name="key_kernel")
            self.key_bias = self.add_weight((self.units,), initializer="zeros", name="key_bias")
            self.query_kernel = self.add_weight((query_dim, self.units), name="query_kernel")
            self.score_vector = self.add_weight((self.units,), name="score_vector")
        elif self.score == "general":
            self.key_kernel = self.add_weight((value_dim, query_dim), name="key_kernel")
        elif query_dim != value_dim:
            raise ValueError(
                f"dot attention needs query and values of one size, got {query_dim} and {value_dim}"
            )

    def keys(self, values):
        """Per-batch precomputation: (batch, src_len, units or query_dim)."""
        if self.score == "bahdanau":
            return ops.matmul(values, self.key_kernel) + self.key_bias
        if self.score == "general":
            return ops.matmul(values, self.key_kernel)
        return values

    def query_projection(self, query):
        """W₂s for ``bahdanau``; the query itself otherwise."""
        return ops.matmul(query, self.query_kernel) if self.score == "bahdanau" else query

    def attend(self, projected_query, keys, values, mask=None, score_vector=None):
        """Context and weights for one decoder step, given ``keys(values)``.

        Inside a loop, pass ``score_vector`` (and a query projected outside this layer) as
        tensors read before the loop, so the loop body reads no variable.
        """
        weights = self.weights_of(projected_query, keys, mask, score_vector)
        return summarise(weights, values), weights

    def weights_of(self, projected_query, keys, mask=None, score_vector=None):
        """The attention weights (batch, src_len) alone: ``attend`` without the context."""
        if self.score == "bahdanau":
            hidden = ops.tanh(keys + ops.expand_dims(projected_query, 1))
            scores = ops.einsum(
                "bsa,a->bs", hidden, self.score_vector if score_vector is None else score_vector
            )
        else:
            scores = ops.einsum("bsu,bu->bs", keys, projected_query)
        scores = ops.cast(scores, "float32")  # the softmax in float32 under any dtype policy
        if mask is not None:
            scores = ops.where(mask, scores, NEG_INF)
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            weights = ops.where(mask, weights, ops.zeros_like(weights))
        return weights

    def call(self, query, values, mask=None):
        return self.attend(self.query_projection(query), self.keys(values), values, mask)

    def compute_output_spec(self, query, values, mask=None):
        batch, value_dim = query.shape[0], values.shape[-1]
        return (
            keras.KerasTensor((batch, value_dim), values.dtype),
            keras.KerasTensor((batch, values.shape[1]), values.dtype),
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units, "score": self.score}
