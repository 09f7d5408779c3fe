"""The encoder: source embedding and a (bidirectional) GRU stack over the source sentence."""

from __future__ import annotations

import keras
from keras import ops

from translator.data.vocab import PAD_ID
from translator.models.initializers import token_vectors
from translator.models.recurrent import GRU


@keras.saving.register_keras_serializable(package="translator")
class Encoder(keras.layers.Layer):
    """Embedding (masking padding) and a stack of GRUs, bidirectional by default.

    The GRUs are ``translator.models.recurrent.GRU``: Keras' GRU in what they compute and store,
    with a quicker training step on TensorFlow's CPU kernels.

    A bidirectional layer has ``units // 2`` cells per direction, so the states always have
    ``units`` features. Returns every position's state (batch, src_len, units), the final
    state (batch, units) and the source mask (batch, src_len).
    """

    def __init__(
        self,
        *,
        vocab_size,
        embedding_dim,
        units,
        num_layers=1,
        bidirectional=True,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if bidirectional and units % 2:
            raise ValueError(f"a bidirectional encoder needs an even number of units, got {units}")
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.num_layers, self.bidirectional, self.dropout = num_layers, bidirectional, dropout
        self.embedding = keras.layers.Embedding(
            vocab_size,
            embedding_dim,
            embeddings_initializer=token_vectors(embedding_dim),
            mask_zero=True,
            name="embedding",
            dtype=self.dtype_policy,
        )
        self.drop = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.rnns = []
        for i in range(num_layers):
            cell_units = units // 2 if bidirectional else units
            gru = GRU(cell_units, name=f"gru_{i}", dtype=self.dtype_policy)
            self.rnns.append(
                keras.layers.Bidirectional(gru, name=f"bigru_{i}", dtype=self.dtype_policy)
                if bidirectional
                else gru
            )

    def call(self, source, training=False):
        mask = ops.not_equal(source, PAD_ID)
        outputs = self.drop(self.embedding(source), training=training)
        for rnn in self.rnns:
            outputs, *finals = rnn(outputs, mask=mask, training=training)
        final = ops.concatenate(finals, axis=-1) if self.bidirectional else finals[0]
        return outputs, final, mask

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
        }
