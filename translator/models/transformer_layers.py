"""The Transformer's blocks: an encoder layer and a decoder layer, pre-layer-norm.

Each sublayer is ``x + dropout(f(layer_norm(x)))``. Attention is
``keras.layers.MultiHeadAttention`` over whole sequences (training, teacher forcing); a
decoder layer's ``step`` reuses the same layer's projections for one position against
cached keys and values (``attend``), which the model's tests hold equal to the whole-sequence
path at every step.
"""

from __future__ import annotations

import keras
from keras import ops

from translator.models.attention import NEG_INF


def attend(query, keys, values, visible):
    """Scaled dot-product attention of projected heads: ``query`` (b, t, h, d), ``keys`` and
    ``values`` (b, s, h, d), ``visible`` bool broadcastable to (b, h, t, s). Returns the heads'
    outputs (b, t, h, d) and the float32 weights (b, h, t, s)."""
    scale = ops.cast(query.shape[-1] ** -0.5, query.dtype)
    scores = ops.cast(ops.einsum("bthd,bshd->bhts", query * scale, keys), "float32")
    weights = ops.softmax(ops.where(visible, scores, NEG_INF), axis=-1)
    return ops.einsum("bhts,bshd->bthd", ops.cast(weights, values.dtype), values), weights


def key_mask(mask, queries):
    """(batch, queries' length, src_len) bool: every query sees the real positions of
    ``mask`` (batch, src_len), as ``MultiHeadAttention``'s ``attention_mask``."""
    shape = (ops.shape(mask)[0], ops.shape(queries)[1], ops.shape(mask)[1])
    return ops.broadcast_to(ops.expand_dims(mask, 1), shape)


@keras.saving.register_keras_serializable(package="translator")
class FeedForward(keras.layers.Layer):
    """Position-wise ``ffn_dim`` ReLU layer and back to ``model_dim``, dropout between."""

    def __init__(self, *, model_dim, ffn_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.model_dim, self.ffn_dim, self.dropout = model_dim, ffn_dim, dropout
        policy = self.dtype_policy
        self.inner = keras.layers.Dense(ffn_dim, activation="relu", name="inner", dtype=policy)
        self.outer = keras.layers.Dense(model_dim, name="outer", dtype=policy)
        self.drop = keras.layers.Dropout(dropout, dtype=policy)

    def call(self, x, training=False):
        return self.outer(self.drop(self.inner(x), training=training))

    def get_config(self):
        return {
            **super().get_config(),
            "model_dim": self.model_dim,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
        }


class _Block(keras.layers.Layer):
    """What both layers hold: sizes, norms, the feed-forward block and residual dropout."""

    norms = 2

    def __init__(self, *, model_dim, heads, ffn_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.model_dim, self.heads, self.ffn_dim, self.dropout = model_dim, heads, ffn_dim, dropout
        policy = self.dtype_policy
        self.norm = [
            keras.layers.LayerNormalization(epsilon=1e-6, name=f"norm_{i}", dtype=policy)
            for i in range(self.norms)
        ]
        self.feed_forward = FeedForward(
            model_dim=model_dim, ffn_dim=ffn_dim, dropout=dropout, name="feed_forward", dtype=policy
        )
        self.drop = keras.layers.Dropout(dropout, dtype=policy)

    def _attention(self, name):
        return keras.layers.MultiHeadAttention(
            self.heads, self.model_dim // self.heads, name=name, dtype=self.dtype_policy
        )

    def _feed_forward(self, x, training=False):
        return x + self.drop(
            self.feed_forward(self.norm[-1](x), training=training), training=training
        )

    def get_config(self):
        return {
            **super().get_config(),
            "model_dim": self.model_dim,
            "heads": self.heads,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="translator")
class EncoderLayer(_Block):
    """Self-attention over the source (padding masked as keys), then the feed-forward block."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = self._attention("self_attention")

    def call(self, x, mask, training=False):
        """``x`` (batch, src_len, model_dim), ``mask`` (batch, src_len) bool."""
        h = self.norm[0](x)
        attended = self.self_attention(h, h, attention_mask=key_mask(mask, h), training=training)
        return self._feed_forward(x + self.drop(attended, training=training), training)


@keras.saving.register_keras_serializable(package="translator")
class DecoderLayer(_Block):
    """Causal self-attention, encoder–decoder attention, then the feed-forward block."""

    norms = 3

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = self._attention("self_attention")
        self.cross_attention = self._attention("cross_attention")

    def call(self, x, memory, mask, scores=False, training=False):
        """Teacher forcing: ``x`` (batch, tgt_len, model_dim) over the encoder's ``memory``
        (batch, src_len, model_dim) and its ``mask``; the encoder–decoder attention weights
        (batch, heads, tgt_len, src_len) too when ``scores`` (else None)."""
        h = self.norm[0](x)
        attended = self.self_attention(h, h, use_causal_mask=True, training=training)
        x = x + self.drop(attended, training=training)
        h = self.norm[1](x)
        result = self.cross_attention(
            h,
            memory,
            attention_mask=key_mask(mask, h),
            return_attention_scores=scores,
            training=training,
        )
        attended, weights = result if scores else (result, None)
        x = x + self.drop(attended, training=training)
        return self._feed_forward(x, training), weights

    def cross_keys_values(self, memory):
        """The encoder–decoder attention's keys and values of ``memory``: once per batch."""
        attention = self.cross_attention
        return attention.key_dense(memory), attention.value_dense(memory)

    def step(self, x, position, cache_keys, cache_values, cross_keys, cross_values, mask):
        """One position ``x`` (rows, 1, model_dim) at ``position`` (a scalar, every row's):
        writes its keys and values into the caches (rows, steps, heads, head_dim) and
        attends over the positions up to it, then over the source (``mask`` (rows,
        src_len)). Returns (x, cache_keys, cache_values, weights (rows, heads, 1, src_len))."""
        own = self.self_attention
        h = self.norm[0](x)
        start = (0, position, 0, 0)
        cache_keys = ops.slice_update(
            cache_keys, start, ops.cast(own.key_dense(h), cache_keys.dtype)
        )
        cache_values = ops.slice_update(
            cache_values, start, ops.cast(own.value_dense(h), cache_values.dtype)
        )
        visible = ops.less_equal(ops.arange(ops.shape(cache_keys)[1]), position)
        attended, _ = attend(own.query_dense(h), cache_keys, cache_values, visible)
        x = x + own.output_dense(attended)
        h = self.norm[1](x)
        cross = self.cross_attention
        visible = ops.reshape(mask, (-1, 1, 1, ops.shape(mask)[1]))
        attended, weights = attend(cross.query_dense(h), cross_keys, cross_values, visible)
        x = x + cross.output_dense(attended)
        return self._feed_forward(x), cache_keys, cache_values, weights
