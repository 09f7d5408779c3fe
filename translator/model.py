"""The sequence-to-sequence model: GRU encoder, attention decoder, greedy decoding.

Shapes: ``source`` (batch, src_len) and ``target_in`` (batch, tgt_len) int ids, 0 = padding.
Everything uses ``keras.ops``, so the model runs on the TensorFlow and JAX backends.
"""
from __future__ import annotations

import math

import numpy as np

import keras
from keras import ops

from translator.attention import NEG_INF, Attention
from translator.beam import beam_search
from translator.vocab import END_ID, PAD_ID, START_ID, UNK_ID


@keras.saving.register_keras_serializable(package="translator")
class Encoder(keras.layers.Layer):
    """Embedding (masking padding) and a stack of GRUs, bidirectional by default.

    A bidirectional layer has ``units // 2`` cells per direction, so the states always have
    ``units`` features. Returns every position's state (batch, src_len, units), the final
    state (batch, units) and the source mask (batch, src_len).
    """

    def __init__(self, vocab_size, embedding_dim, units, num_layers=1, bidirectional=True, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if bidirectional and units % 2:
            raise ValueError(f"a bidirectional encoder needs an even number of units, got {units}")
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.num_layers, self.bidirectional, self.dropout = num_layers, bidirectional, dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")
        self.drop = keras.layers.Dropout(dropout)
        self.rnns = []
        for i in range(num_layers):
            cell_units = units // 2 if bidirectional else units
            gru = keras.layers.GRU(cell_units, return_sequences=True, return_state=True, name=f"gru_{i}")
            self.rnns.append(keras.layers.Bidirectional(gru, name=f"bigru_{i}") if bidirectional else gru)

    def call(self, source, training=False):
        mask = ops.not_equal(source, PAD_ID)
        outputs = self.drop(self.embedding(source), training=training)
        for rnn in self.rnns:
            outputs, *finals = rnn(outputs, mask=mask, training=training)
        final = ops.concatenate(finals, axis=-1) if self.bidirectional else finals[0]
        return outputs, final, mask

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "num_layers": self.num_layers, "bidirectional": self.bidirectional,
                "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="translator")
class Decoder(keras.layers.Layer):
    """GRU decoder with attention, run over the whole target in one compiled loop.

    At step i: attend with the previous state s_{i-1}, run the GRU on [embedding(y_{i-1});
    context] *from s_{i-1}*, and predict y_i from [s_i; context; embedding]. The parts that
    do not depend on the recurrence (the embedding's share of the GRU input projection, the
    attention keys and the output projection to the vocabulary) are computed once over all
    steps, outside the loop.
    """

    def __init__(self, vocab_size, embedding_dim, units, attention="bahdanau", attention_units=0, dropout=0.0,
                 tie_embeddings=False, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.attention_type, self.attention_units, self.dropout = attention, attention_units, dropout
        self.tie_embeddings = tie_embeddings
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.attention = Attention(attention_units or units, score=attention, name="attention")
        self.drop = keras.layers.Dropout(dropout)
        self.hidden = keras.layers.Dense(embedding_dim, activation="tanh", name="hidden")
        # Tied: the output layer reuses the target embedding matrix (Press & Wolf, 2017), a
        # word's input and output vectors are one; fewer weights, better on small corpora.
        self.logits = None if tie_embeddings else keras.layers.Dense(vocab_size, name="logits")

    def build(self, target_in_shape, initial_state_shape, values_shape, mask_shape=None):
        value_dim, gates = values_shape[-1], 3 * self.units
        self.embedding.build(target_in_shape)
        self.attention.build((None, self.units), values_shape)
        self.input_kernel = self.add_weight((self.embedding_dim, gates), name="input_kernel")
        self.context_kernel = self.add_weight((value_dim, gates), name="context_kernel")
        self.recurrent_kernel = self.add_weight((self.units, gates), initializer="orthogonal", name="recurrent_kernel")
        self.input_bias = self.add_weight((gates,), initializer="zeros", name="input_bias")
        self.recurrent_bias = self.add_weight((gates,), initializer="zeros", name="recurrent_bias")
        self.hidden.build((None, self.units + value_dim + self.embedding_dim))
        if self.tie_embeddings:
            self.output_bias = self.add_weight((self.vocab_size,), initializer="zeros", name="output_bias")
        else:
            self.logits.build((None, self.embedding_dim))

    def _loop_weights(self) -> dict:
        """The weights the recurrence needs, read once before the loop.

        The state is multiplied once per step by [W₂ | U] (the attention query projection and
        the GRU recurrent kernel side by side), one matrix product instead of two.
        """
        attention = self.attention
        if attention.score == "bahdanau":
            state_kernel = ops.concatenate([attention.query_kernel, self.recurrent_kernel], axis=1)
            score_vector = ops.convert_to_tensor(attention.score_vector)
        else:
            state_kernel, score_vector = ops.convert_to_tensor(self.recurrent_kernel), None
        return {"state_kernel": state_kernel, "score_vector": score_vector,
                "context_kernel": ops.convert_to_tensor(self.context_kernel),
                "recurrent_bias": ops.convert_to_tensor(self.recurrent_bias),
                # Tied output layer: transpose the embedding once, not at every decoding step.
                "output_kernel": ops.transpose(self.embedding.embeddings) if self.tie_embeddings else None}

    def _step(self, state, projected_input, keys, values, mask, weights_of_loop):
        """One GRU step from ``state`` (= s_{i-1}); returns (s_i, context, attention weights)."""
        w = weights_of_loop
        projected_state = ops.matmul(state, w["state_kernel"])
        gates = 3 * self.units
        query = projected_state[:, :-gates] if w["score_vector"] is not None else state
        h = projected_state[:, -gates:] + w["recurrent_bias"]
        context, weights = self.attention.attend(query, keys, values, mask, w["score_vector"])
        x = projected_input + ops.matmul(context, w["context_kernel"])
        x_z, x_r, x_n = ops.split(x, 3, axis=-1)
        h_z, h_r, h_n = ops.split(h, 3, axis=-1)
        z = ops.sigmoid(x_z + h_z)
        r = ops.sigmoid(x_r + h_r)
        candidate = ops.tanh(x_n + r * h_n)
        return z * state + (1.0 - z) * candidate, context, weights

    def _project(self, embedded):
        return ops.matmul(embedded, self.input_kernel) + self.input_bias

    def _output(self, states, contexts, embedded, training, output_kernel=None):
        features = ops.concatenate([states, contexts, embedded], axis=-1)
        hidden = self.drop(self.hidden(self.drop(features, training=training)), training=training)
        if self.tie_embeddings:
            kernel = ops.transpose(self.embedding.embeddings) if output_kernel is None else output_kernel
            return ops.matmul(hidden, kernel) + self.output_bias
        return self.logits(hidden)

    def call(self, target_in, initial_state, values, mask, training=False):
        """Teacher forcing: logits (batch, tgt_len, vocab), weights (batch, tgt_len, src_len)."""
        embedded = self.drop(self.embedding(target_in), training=training)
        keys = self.attention.keys(values)
        loop_weights = self._loop_weights()
        time_major_inputs = ops.transpose(self._project(embedded), (1, 0, 2))

        def step(carry, projected_input):
            state, _, _ = carry
            outputs = self._step(state, projected_input, keys, values, mask, loop_weights)
            return outputs, outputs

        init = (initial_state, ops.zeros_like(values[:, 0, :]), ops.zeros_like(values[:, :, 0]))
        _, (states, contexts, weights) = ops.scan(step, init, time_major_inputs)
        states, contexts, weights = (ops.transpose(t, (1, 0, 2)) for t in (states, contexts, weights))
        return self._output(states, contexts, embedded, training), weights

    def never_predicted(self, ban_unk=True) -> np.ndarray:
        """Logit offsets (0 or NEG_INF) keeping search off <pad>, <start> and maybe <unk>."""
        offsets = np.zeros(self.vocab_size, "float32")
        offsets[[PAD_ID, START_ID] + ([UNK_ID] if ban_unk else [])] = NEG_INF
        return offsets

    def greedy(self, initial_state, values, mask, max_lengths, steps, ban_unk=True):
        """Greedy decoding of ``steps`` steps; sentence b stops at <end> or ``max_lengths[b]``.

        Returns tokens (batch, steps) with 0 after the end, and weights (batch, steps, src_len).
        ``ban_unk`` keeps ``<unk>`` out of the output: the class pools every rare training
        word, so it is often the single most likely token while never being a useful one.
        """
        keys = self.attention.keys(values)
        loop_weights = self._loop_weights()
        batch = ops.shape(values)[0]
        never_predicted = self.never_predicted(ban_unk)

        def step(carry, i):
            state, _, _, token, finished = carry
            embedded = self.embedding(token)
            state, context, weights = self._step(state, self._project(embedded), keys, values, mask, loop_weights)
            logits = self._output(state, context, embedded, False, loop_weights["output_kernel"]) + never_predicted
            next_token = ops.cast(ops.argmax(logits, axis=-1), "int32")
            next_token = ops.where(finished, ops.zeros_like(next_token) + PAD_ID, next_token)
            finished = finished | ops.equal(next_token, END_ID) | ops.greater_equal(i + 1, max_lengths)
            outputs = (state, context, weights, next_token, finished)
            return outputs, outputs

        init = (initial_state, ops.zeros_like(values[:, 0, :]), ops.zeros_like(values[:, :, 0]),
                ops.full((batch,), START_ID, "int32"), ops.zeros((batch,), "bool"))
        _, (_, _, weights, tokens, _) = ops.scan(step, init, ops.arange(steps, dtype="int32"))
        return ops.transpose(tokens, (1, 0)), ops.transpose(weights, (1, 0, 2))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "attention": self.attention_type,
                "attention_units": self.attention_units, "dropout": self.dropout,
                "tie_embeddings": self.tie_embeddings}


@keras.saving.register_keras_serializable(package="translator")
class Translator(keras.Model):
    """Encoder, bridge (final encoder state -> first decoder state) and attention decoder.

    ``model((source, target_in))`` gives teacher-forced logits (batch, tgt_len, tgt_vocab).
    ``model.predict_on_batch(source)`` decodes (greedily, or by beam search when
    ``beam_size`` > 1) and returns ``{"tokens": (batch,
    steps), "attention": (batch, steps, src_len)}``; sentence b runs for at most
    ``ceil(max_length_ratio * source_length_b) + max_length_offset`` tokens and never
    emits ``<unk>`` unless ``ban_unk`` is false.
    """

    def __init__(self, source_vocab_size, target_vocab_size, embedding_dim=256, units=512, encoder_layers=1,
                 bidirectional=True, attention="bahdanau", attention_units=0, dropout=0.0,
                 max_length_ratio=2.0, max_length_offset=5, ban_unk=True, tie_embeddings=False, beam_size=1,
                 length_penalty=1.0, **kwargs):
        super().__init__(**kwargs)
        self.source_vocab_size, self.target_vocab_size = source_vocab_size, target_vocab_size
        self.embedding_dim, self.units, self.encoder_layers = embedding_dim, units, encoder_layers
        self.bidirectional, self.attention_type, self.attention_units = bidirectional, attention, attention_units
        self.dropout, self.max_length_ratio, self.max_length_offset = dropout, max_length_ratio, max_length_offset
        self.ban_unk, self.tie_embeddings = ban_unk, tie_embeddings
        self.beam_size, self.length_penalty = beam_size, length_penalty
        self.encoder = Encoder(source_vocab_size, embedding_dim, units, encoder_layers, bidirectional, dropout, name="encoder")
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")
        self.decoder = Decoder(target_vocab_size, embedding_dim, units, attention, attention_units, dropout,
                               tie_embeddings, name="decoder")

    def build(self, input_shape=None):
        """Create every weight by running the model once on a dummy batch."""
        dummy = ops.ones((1, 2), "int32")
        self.forward((dummy, dummy))
        self.built = True

    def call(self, inputs, training=False):
        """``(source, target_in)``: teacher-forced logits; ``source`` alone: its translation.

        Decoding lives in ``call`` (not in an overridden ``predict_step``, whose signature
        differs between backends), so ``predict_on_batch(source)`` works on TensorFlow and JAX.
        """
        if isinstance(inputs, (tuple, list)):
            logits, _ = self.forward(inputs, training=training)
            return logits
        return self.decode(inputs)

    def forward(self, inputs, training=False):
        """Teacher-forced logits and attention weights (batch, tgt_len, src_len)."""
        source, target_in = inputs
        values, final, mask = self.encoder(source, training=training)
        return self.decoder(target_in, self.bridge(final), values, mask, training=training)

    def decode(self, source):
        """Greedy (``beam_size`` 1) or beam-search translation of a padded source batch."""
        values, final, mask = self.encoder(source, training=False)
        source_lengths = ops.sum(ops.cast(mask, "float32"), axis=-1)
        max_lengths = ops.cast(ops.ceil(source_lengths * self.max_length_ratio), "int32") + self.max_length_offset
        width = source.shape[1]
        if width is None:  # dynamic in a TensorFlow graph
            width = ops.cast(ops.shape(source)[1], "float32")
            steps = ops.cast(ops.ceil(width * self.max_length_ratio), "int32") + self.max_length_offset
        else:  # static: JAX needs a Python int for the loop length
            steps = math.ceil(width * self.max_length_ratio) + self.max_length_offset
        initial_state = self.bridge(final)
        if self.beam_size <= 1:
            tokens, weights = self.decoder.greedy(initial_state, values, mask, max_lengths, steps, self.ban_unk)
            return {"tokens": tokens, "attention": weights}
        tokens = beam_search(self.decoder, initial_state, values, mask, max_lengths, steps, self.beam_size,
                             self.length_penalty, self.decoder.never_predicted(self.ban_unk))
        # The winner's attention: run the decoder teacher-forced over the tokens it chose.
        target_in = ops.concatenate([ops.full((ops.shape(tokens)[0], 1), START_ID, "int32"), tokens[:, :-1]], axis=1)
        _, weights = self.decoder(target_in, initial_state, values, mask)
        return {"tokens": tokens, "attention": weights}

    def get_config(self):
        return {**super().get_config(), "source_vocab_size": self.source_vocab_size,
                "target_vocab_size": self.target_vocab_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "encoder_layers": self.encoder_layers, "bidirectional": self.bidirectional,
                "attention": self.attention_type, "attention_units": self.attention_units, "dropout": self.dropout,
                "max_length_ratio": self.max_length_ratio, "max_length_offset": self.max_length_offset,
                "ban_unk": self.ban_unk, "tie_embeddings": self.tie_embeddings, "beam_size": self.beam_size,
                "length_penalty": self.length_penalty}
