"""The Transformer (``model.architecture: transformer``): self-attention instead of a GRU.

Vaswani et al. (2017) with pre-layer-norm residual blocks (Xiong et al., 2020: no warm-up
cliff, a final norm on each stack), sinusoidal positions (no weights, and no length they
were trained for: decoding may run past the longest training sentence), and the target
embedding as the output layer when ``tie_embeddings``. Token vectors start as the GRU's,
N(0, 1/d), and are scaled by √d, so they enter the stack with unit variance as the
positions do.

Training runs each layer's attention over all positions at once through
``keras.layers.MultiHeadAttention``. Decoding goes through the same ``next_fn`` as the GRU's
(``search``): the state holds every decoder layer's keys and values of the positions decoded
so far, so a step projects one position and attends over the cache, not the whole prefix
again. The attention a user sees (heatmaps, ``--json``, the page) is the encoder–decoder
attention of the last decoder layer, averaged over its heads.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from translator.models.attention import NEG_INF
from translator.models.decoder import output_weights
from translator.models.initializers import token_vectors
from translator.models.seq2seq import Seq2Seq
from translator.models.transformer_layers import DecoderLayer, EncoderLayer


def positional_encoding(positions, dim: int):
    """Sinusoidal position vectors (..., dim) of int ``positions`` (...): sines in the first
    half, cosines in the second, wavelengths from 2π to 10000·2π."""
    rates = ops.exp(ops.arange(dim // 2, dtype="float32") * (-math.log(10000.0) * 2.0 / dim))
    angles = ops.expand_dims(ops.cast(positions, "float32"), -1) * rates
    return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


@keras.saving.register_keras_serializable(package="translator")
class Transformer(Seq2Seq):
    """Encoder and decoder stacks of ``layers`` each, ``heads`` heads of ``model_dim / heads``.

    ``model((source, target_in))`` gives teacher-forced logits; ``forward`` also the last
    decoder layer's encoder–decoder attention averaged over heads (batch, tgt_len, src_len).

    Args:
        source_vocab_size, target_vocab_size, decoding: as ``Seq2Seq``'s.
        layers, heads, model_dim, ffn_dim, dropout, tie_embeddings, dtype: the config's
            ``model`` keys (``dropout`` on embeddings, every block's output and the
            feed-forward's hidden layer).
    """

    architecture = "transformer"
    config_keys = ("layers", "heads", "model_dim", "ffn_dim", "dropout", "tie_embeddings", "dtype")

    def __init__(
        self,
        *,
        source_vocab_size,
        target_vocab_size,
        layers=3,
        heads=4,
        model_dim=256,
        ffn_dim=1024,
        dropout=0.1,
        tie_embeddings=True,
        decoding=None,
        **kwargs,
    ):
        super().__init__(
            source_vocab_size=source_vocab_size,
            target_vocab_size=target_vocab_size,
            decoding=decoding,
            **kwargs,
        )
        if model_dim % heads or model_dim % 2:
            raise ValueError(f"model_dim {model_dim} must be even and a multiple of heads {heads}")
        self.layers_count = layers  # ``layers`` is keras.Model's list of sublayers
        self.heads, self.model_dim, self.ffn_dim = heads, model_dim, ffn_dim
        self.dropout, self.tie_embeddings = dropout, tie_embeddings
        policy = self.dtype_policy
        sizes = dict(model_dim=model_dim, heads=heads, ffn_dim=ffn_dim, dropout=dropout)

        def embedding(vocab_size, name):
            initializer = token_vectors(model_dim)
            return keras.layers.Embedding(
                vocab_size, model_dim, embeddings_initializer=initializer, name=name, dtype=policy
            )

        self.source_embedding = embedding(source_vocab_size, "source_embedding")
        self.target_embedding = embedding(target_vocab_size, "target_embedding")
        self.encoder_stack = [
            EncoderLayer(**sizes, name=f"encoder_{i}", dtype=policy) for i in range(layers)
        ]
        self.decoder_stack = [
            DecoderLayer(**sizes, name=f"decoder_{i}", dtype=policy) for i in range(layers)
        ]
        norm = dict(epsilon=1e-6, dtype=policy)
        self.encoder_norm = keras.layers.LayerNormalization(name="encoder_norm", **norm)
        self.decoder_norm = keras.layers.LayerNormalization(name="decoder_norm", **norm)
        self.drop = keras.layers.Dropout(dropout, dtype=policy)
        self.logits = (
            None
            if tie_embeddings
            else keras.layers.Dense(
                target_vocab_size,
                kernel_initializer=token_vectors(model_dim),
                name="logits",
                dtype=policy,
            )
        )

    def build(self, input_shape=None):
        if self.tie_embeddings:
            self.output_bias = self.add_weight(
                (self.target_vocab_size,), initializer="zeros", name="output_bias"
            )
        else:
            self.logits.build((None, self.model_dim))
        super().build(input_shape)

    def _embed(self, embedding, tokens, positions, training):
        vectors = embedding(tokens) * ops.cast(math.sqrt(self.model_dim), self.compute_dtype)
        vectors = vectors + ops.cast(positional_encoding(positions, self.model_dim), vectors.dtype)
        return self.drop(vectors, training=training)

    def encode(self, source, training=False):
        """Encoder states (batch, src_len, model_dim) and the source mask (batch, src_len)."""
        mask = ops.not_equal(source, 0)
        x = self._embed(self.source_embedding, source, ops.arange(ops.shape(source)[1]), training)
        for layer in self.encoder_stack:
            x = layer(x, mask, training=training)
        return self.encoder_norm(x), mask

    def output_weights(self, columns=None):
        """(kernel (model_dim, n), bias (n,)) of the output layer, for the ids ``columns``."""
        bias = self.output_bias if self.tie_embeddings else None
        return output_weights(self.target_embedding, bias, self.logits, columns)

    def _logits(self, x, kernel, bias):
        """Float32 logits of the decoder stack's output ``x`` (..., model_dim)."""
        hidden = self.decoder_norm(x)
        logits = ops.matmul(hidden, ops.cast(kernel, hidden.dtype)) + ops.cast(bias, hidden.dtype)
        return ops.cast(logits, "float32")

    def forward(self, inputs, training=False):
        """Teacher-forced logits and attention weights (batch, tgt_len, src_len)."""
        source, target_in = inputs
        memory, mask = self.encode(source, training=training)
        length = ops.shape(target_in)[1]
        x = self._embed(self.target_embedding, target_in, ops.arange(length), training)
        for i, layer in enumerate(self.decoder_stack):
            last = i == len(self.decoder_stack) - 1
            x, scores = layer(x, memory, mask, scores=last, training=training)
        weights = ops.mean(ops.cast(scores, "float32"), axis=1)  # over heads
        return self._logits(x, *self.output_weights()), weights

    def decoding_start(self, source, steps, repeat, columns=None, allowed=None):
        """An empty cache for ``steps`` positions and the step over the encoded source.

        State: ``position`` (rows,), the index every row decodes next (the searches step all
        their rows once per loop iteration, so it is the same in every row), and per decoder
        layer ``keys`` and ``values`` (rows, steps, heads, model_dim / heads).
        """
        memory, mask = self.encode(source, training=False)
        cross = [layer.cross_keys_values(memory) for layer in self.decoder_stack]
        if repeat > 1:
            cross = [tuple(ops.repeat(t, repeat, axis=0) for t in pair) for pair in cross]
            mask = ops.repeat(mask, repeat, axis=0)
            if allowed is not None:
                allowed = ops.repeat(allowed, repeat, axis=0)
        if allowed is not None:
            allowed = ops.where(allowed, 0.0, NEG_INF)
        rows = ops.shape(source)[0]  # the searches repeat the state for beam copies
        dtype, head_dim = self.compute_dtype, self.model_dim // self.heads
        empty = ops.zeros((rows, steps, self.heads, head_dim), dtype)
        state = {
            "position": ops.zeros((rows,), "int32"),
            "keys": [empty] * len(self.decoder_stack),
            "values": [empty] * len(self.decoder_stack),
        }
        kernel, bias = self.output_weights(columns)

        def next_fn(token, state, rows=None):
            def own(t):
                return t if rows is None else ops.take(t, rows, axis=0)

            # Every row is at the same position; max() also serves a step of no rows.
            position = ops.max(state["position"])
            ids = token if columns is None else ops.take(columns, token)
            x = self._embed(self.target_embedding, ops.expand_dims(ids, 1), position, False)
            keys, values, source_mask = [], [], own(mask)
            for layer, cache_k, cache_v, (cross_k, cross_v) in zip(
                self.decoder_stack, state["keys"], state["values"], cross
            ):
                x, cache_k, cache_v, weights = layer.step(
                    x, position, cache_k, cache_v, own(cross_k), own(cross_v), source_mask
                )
                keys.append(cache_k)
                values.append(cache_v)
            logits = self._logits(x[:, 0], kernel, bias)
            if allowed is not None:
                logits = logits + own(allowed)
            new_state = {"position": state["position"] + 1, "keys": keys, "values": values}
            return logits, new_state, ops.mean(ops.cast(weights[:, :, 0], "float32"), axis=1)

        return state, next_fn

    def get_config(self):
        return {**super().get_config(), "layers": self.layers_count}
