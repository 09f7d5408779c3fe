"""The reference for ``make bench``: the TensorFlow "NMT with attention" tutorial's recipe.

Written here from the tutorial's description (TensorFlow 2 tutorial, 2019-2022 edition), on
the same machine, data and vocabularies as this project's benchmark, so that a speed ratio
is measured in one run:

* every sentence padded to the longest of the data set (``pad_sequences``), batches of 64
  with ``drop_remainder``;
* a unidirectional GRU encoder; a decoder that recomputes additive (Bahdanau) attention
  over all encoder outputs at every step from its previous hidden state, feeds
  [context; embedding] to a GRU (called without an initial state, as the tutorial does) and
  a dense layer to the vocabulary;
* the train step is a ``tf.function`` with a Python loop over the target positions
  (teacher forcing), the masked loss summed over the steps and divided by the length;
* translation is eager, one sentence at a time, one decoder call per output word.

It needs TensorFlow (``tf.function``, ``GradientTape``), as the tutorial does.
"""

from __future__ import annotations

import numpy as np

from translator.data.vocab import END_ID, START_ID


def pad_all(sequences: list[np.ndarray]) -> np.ndarray:
    """``pad_sequences(..., padding="post")``: every row as long as the longest of all."""
    out = np.zeros((len(sequences), max(len(s) for s in sequences)), np.int32)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = sequence
    return out


def build(source_vocab: int, target_vocab: int, embedding_dim: int, units: int):
    """The tutorial's encoder, attention and decoder, as Keras layers on TensorFlow."""
    import keras
    import tensorflow as tf

    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = keras.layers.Embedding(source_vocab, embedding_dim)
            self.gru = keras.layers.GRU(
                units,
                return_sequences=True,
                return_state=True,
                recurrent_initializer="glorot_uniform",
            )

        def call(self, x, hidden):
            return self.gru(self.embedding(x), initial_state=hidden)

    class BahdanauAttention(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.W1, self.W2 = keras.layers.Dense(units), keras.layers.Dense(units)
            self.V = keras.layers.Dense(1)

        def call(self, query, values):
            score = self.V(tf.nn.tanh(self.W1(tf.expand_dims(query, 1)) + self.W2(values)))
            weights = tf.nn.softmax(score, axis=1)
            return tf.reduce_sum(weights * values, axis=1), weights

    class Decoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = keras.layers.Embedding(target_vocab, embedding_dim)
            self.gru = keras.layers.GRU(
                units,
                return_sequences=True,
                return_state=True,
                recurrent_initializer="glorot_uniform",
            )
            self.fc = keras.layers.Dense(target_vocab)
            self.attention = BahdanauAttention()

        def call(self, x, hidden, enc_output):
            context, weights = self.attention(hidden, enc_output)
            x = tf.concat([tf.expand_dims(context, 1), self.embedding(x)], axis=-1)
            output, state = self.gru(x)
            return self.fc(tf.reshape(output, (-1, output.shape[2]))), state, weights

    return Encoder(), Decoder()


class Reference:
    """The recipe's training step and its one-sentence-at-a-time translation."""

    def __init__(
        self, source_vocab: int, target_vocab: int, embedding_dim: int, units: int, batch: int
    ):
        import keras
        import tensorflow as tf

        self.units, self.batch = units, batch
        self.encoder, self.decoder = build(source_vocab, target_vocab, embedding_dim, units)
        self.optimizer = keras.optimizers.Adam()
        loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

        def loss_function(real, pred):
            mask = tf.cast(tf.math.logical_not(tf.math.equal(real, 0)), tf.float32)
            return tf.reduce_mean(loss_object(real, pred) * mask)

        @tf.function
        def train_step(inp, targ):
            loss = 0.0
            with tf.GradientTape() as tape:
                enc_output, enc_hidden = self.encoder(inp, tf.zeros((self.batch, self.units)))
                dec_hidden = enc_hidden
                dec_input = tf.expand_dims([START_ID] * self.batch, 1)
                for t in range(1, targ.shape[1]):
                    predictions, dec_hidden, _ = self.decoder(dec_input, dec_hidden, enc_output)
                    loss += loss_function(targ[:, t], predictions)
                    dec_input = tf.expand_dims(targ[:, t], 1)
            variables = self.encoder.trainable_variables + self.decoder.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss / int(targ.shape[1])

        self.train_step = train_step

    def batches(self, sources: list[np.ndarray], targets: list[np.ndarray], seed: int = 0):
        """Shuffled (source, target) batches of the data set padded to its longest sentences.

        ``targets`` hold ``<start> ... <end>``, as the tutorial's preprocessed sentences do.
        """
        source, target = pad_all(sources), pad_all(targets)
        order = np.random.default_rng(seed).permutation(len(source))
        for start in range(0, len(order) - self.batch + 1, self.batch):
            rows = order[start : start + self.batch]
            yield source[rows], target[rows]

    def translate(self, source_ids: list[int], source_width: int, steps: int) -> list[int]:
        """The tutorial's ``evaluate``: eager, one decoder call per word, ``steps`` at most."""
        import tensorflow as tf

        inputs = np.zeros((1, source_width), np.int32)
        inputs[0, : len(source_ids)] = source_ids
        enc_out, dec_hidden = self.encoder(tf.convert_to_tensor(inputs), tf.zeros((1, self.units)))
        dec_input, result = tf.expand_dims([START_ID], 0), []
        for _ in range(steps):
            predictions, dec_hidden, _ = self.decoder(dec_input, dec_hidden, enc_out)
            predicted_id = int(tf.argmax(predictions[0]).numpy())
            if predicted_id == END_ID:
                break
            result.append(predicted_id)
            dec_input = tf.expand_dims([predicted_id], 0)
        return result
