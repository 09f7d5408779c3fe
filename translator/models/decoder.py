"""The attention decoder: a GRU that attends over the encoder states before every step.

Teacher-forced over a whole target in ``call`` (training), or one step at a time through
``step_function`` (the interface the decoding strategies in ``search`` drive).
"""

from __future__ import annotations

import functools

import keras
from keras import ops

from translator.models.attention import NEG_INF, Attention, summarise
from translator.models.initializers import token_vectors
from translator.models.recurrent import gru_update, loop_product, transposed


def output_weights(embedding, tied_bias, logits, columns=None):
    """(kernel (dim, n), bias (n,)) of an output layer that is the ``embedding`` matrix with
    ``tied_bias`` when ``logits`` (an untied Dense layer) is None, for the vocabulary ids
    ``columns`` (all when None): a shortlist's rows are gathered once, not every step."""
    if logits is None:
        rows, bias = embedding.embeddings, tied_bias
        if columns is not None:
            rows, bias = ops.take(rows, columns, axis=0), ops.take(bias, columns, axis=0)
        return ops.transpose(rows), bias
    kernel, bias = logits.kernel, logits.bias
    if columns is not None:
        kernel, bias = ops.take(kernel, columns, axis=1), ops.take(bias, columns, axis=0)
    return kernel, bias


@keras.saving.register_keras_serializable(package="translator")
class Decoder(keras.layers.Layer):
    """GRU decoder with attention: teacher-forced in ``call``, step by step for search.

    At step i: attend with the previous state s_{i-1}, run the GRU on [embedding(y_{i-1});
    context] *from s_{i-1}*, and predict y_i from [s_i; context; embedding]. The parts that
    do not depend on the recurrence (the embedding's share of the GRU input projection, the
    attention keys and the output projection to the vocabulary) are computed once over all
    steps, outside the loop. ``step_function`` is the interface decoding strategies use.
    """

    def __init__(
        self,
        *,
        vocab_size,
        embedding_dim,
        units,
        attention="bahdanau",
        attention_units=0,
        dropout=0.0,
        tie_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.attention_type, self.attention_units, self.dropout = (
            attention,
            attention_units,
            dropout,
        )
        self.tie_embeddings = tie_embeddings
        policy = self.dtype_policy  # sublayers compute as this layer does (mixed precision)
        self.embedding = keras.layers.Embedding(
            vocab_size,
            embedding_dim,
            embeddings_initializer=token_vectors(embedding_dim),
            name="embedding",
            dtype=policy,
        )
        self.attention = Attention(
            attention_units or units, score=attention, name="attention", dtype=policy
        )
        self.drop = keras.layers.Dropout(dropout, dtype=policy)
        self.hidden = keras.layers.Dense(
            embedding_dim, activation="tanh", name="hidden", dtype=policy
        )
        # Tied: the output layer reuses the target embedding matrix (Press & Wolf, 2017), a
        # word's input and output vectors are one; fewer weights, better on small corpora.
        # Untied, its columns start as tied ones would (``translator.models.initializers``).
        self.logits = (
            None
            if tie_embeddings
            else keras.layers.Dense(
                vocab_size,
                kernel_initializer=token_vectors(embedding_dim),
                name="logits",
                dtype=policy,
            )
        )

    def build(self, target_in_shape, initial_state_shape, values_shape, mask_shape=None):
        value_dim, gates = values_shape[-1], 3 * self.units
        self.embedding.build(target_in_shape)
        self.attention.build((None, self.units), values_shape)
        self.input_kernel = self.add_weight((self.embedding_dim, gates), name="input_kernel")
        self.context_kernel = self.add_weight((value_dim, gates), name="context_kernel")
        self.recurrent_kernel = self.add_weight(
            (self.units, gates), initializer="orthogonal", name="recurrent_kernel"
        )
        self.input_bias = self.add_weight((gates,), initializer="zeros", name="input_bias")
        self.recurrent_bias = self.add_weight((gates,), initializer="zeros", name="recurrent_bias")
        self.hidden.build((None, self.units + value_dim + self.embedding_dim))
        if self.tie_embeddings:
            self.output_bias = self.add_weight(
                (self.vocab_size,), initializer="zeros", name="output_bias"
            )
        else:
            self.logits.build((None, self.embedding_dim))

    def _loop_weights(self, gradients: bool = False) -> dict:
        """The weights the recurrence needs, read once before the loop.

        The state is multiplied once per step by [W₂ | U] (the attention query projection and
        the GRU recurrent kernel side by side), one matrix product instead of two. With
        ``gradients`` (training), the kernels' transposes are made here too, for the
        gradients of the loop's products (``recurrent.loop_product``).
        """
        attention = self.attention
        if attention.score == "bahdanau":
            state_kernel = ops.concatenate([attention.query_kernel, self.recurrent_kernel], axis=1)
            score_vector = ops.convert_to_tensor(attention.score_vector)
        else:
            state_kernel, score_vector = ops.convert_to_tensor(self.recurrent_kernel), None
        context_kernel = ops.convert_to_tensor(self.context_kernel)
        return {
            "state_kernel": state_kernel,
            "score_vector": score_vector,
            "context_kernel": context_kernel,
            "recurrent_bias": ops.convert_to_tensor(self.recurrent_bias),
            "state_kernel_t": transposed(state_kernel) if gradients else None,
            "context_kernel_t": transposed(context_kernel) if gradients else None,
        }

    def _step(self, state, projected_input, memory, loop_weights):
        """One GRU step from ``state`` (= s_{i-1}); returns (s_i, context, attention weights).

        ``memory`` is what is attended over: (keys, mask, context_of) of the encoder states,
        where ``context_of(weights)`` sums the (maybe projected) states with the weights.
        """
        keys, mask, context_of = memory
        w = loop_weights
        projected_state = loop_product(state, w["state_kernel"], w["state_kernel_t"])
        gates = 3 * self.units
        query = projected_state[:, :-gates] if w["score_vector"] is not None else state
        h = projected_state[:, -gates:] + w["recurrent_bias"]
        weights = self.attention.weights_of(query, keys, mask, w["score_vector"])
        context = context_of(weights)
        if w["context_kernel"] is None:  # context_of gave it times [Wc | output rows] already
            x = projected_input + context[:, :gates]
        else:
            x = projected_input + loop_product(context, w["context_kernel"], w["context_kernel_t"])
        return gru_update(state, x, h), context, weights

    def _project(self, embedded):
        return ops.matmul(embedded, self.input_kernel) + self.input_bias

    def _output(self, states, contexts, embedded, training):
        """Logits in float32 under any dtype policy (cast once, here)."""
        features = ops.concatenate([states, contexts, embedded], axis=-1)
        hidden = self.drop(self.hidden(self.drop(features, training=training)), training=training)
        kernel, bias = self.output_weights()
        logits = ops.matmul(hidden, ops.cast(kernel, hidden.dtype)) + ops.cast(bias, hidden.dtype)
        return ops.cast(logits, "float32")

    def output_weights(self, columns=None):
        """(kernel (embedding_dim, n), bias (n,)) of the output layer (``output_weights``)."""
        bias = self.output_bias if self.tie_embeddings else None
        return output_weights(self.embedding, bias, self.logits, columns)

    def call(self, target_in, initial_state, values, mask, training=False):
        """Teacher forcing: logits (batch, tgt_len, vocab), weights (batch, tgt_len, src_len)."""
        embedded = self.drop(self.embedding(target_in), training=training)
        keys = self.attention.keys(values)
        loop_weights = self._loop_weights(gradients=bool(training))
        time_major_inputs = ops.transpose(self._project(embedded), (1, 0, 2))

        memory = (keys, mask, functools.partial(summarise, values=values))

        def step(carry, projected_input):
            state, _, _ = carry
            outputs = self._step(state, projected_input, memory, loop_weights)
            return outputs, outputs

        # Attention weights are float32 under any dtype policy (a softmax in bfloat16 is coarse).
        init = (
            initial_state,
            ops.zeros_like(values[:, 0, :]),
            ops.cast(ops.zeros_like(mask), "float32"),
        )
        _, (states, contexts, weights) = ops.scan(step, init, time_major_inputs)
        states, contexts, weights = (
            ops.transpose(t, (1, 0, 2)) for t in (states, contexts, weights)
        )
        return self._output(states, contexts, embedded, training), weights

    def step_function(self, values, mask, repeat: int = 1, columns=None, allowed=None):
        """``next_fn(token, state, rows=None) -> (logits, state, attention)``: one step.

        The attention keys and the loop's weights are computed here, once. With ``repeat``
        k, every source row is repeated k times (row b's copies are rows b*k ... b*k+k-1),
        as beam search needs. ``rows`` (indices into those rows) steps only them: ``token``
        and ``state`` are then theirs, and they attend over their own sources. Shapes:
        ``token`` (rows,) int32, ``state`` (rows, units); ``logits`` (rows, vocab),
        ``attention`` (rows, src_len).

        A shortlist (``translator.models.shortlist``): the logits are those of the vocabulary ids
        ``columns`` (S,) only, and ``NEG_INF`` where ``allowed`` (batch, S) is false for a
        source row; ``token`` is then a column index too (``columns[i] == i`` for the
        reserved ids).
        """
        dtype = self.compute_dtype
        # The context feeds the GRU input and the output layer: one product for both.
        loop_weights = {**self._loop_weights(), "context_kernel": None}
        state_rows, context_rows = self.units, self.units + values.shape[-1]
        hidden_kernel = ops.cast(self.hidden.kernel, dtype)
        context_kernel = ops.concatenate(
            [ops.cast(self.context_kernel, dtype), hidden_kernel[state_rows:context_rows]], axis=1
        )
        keys = self.attention.keys(values)
        if repeat > 1:
            # A context's product with a kernel is the weighted sum of the states' products
            # with it. The states are projected once here, not a context for each of a
            # sentence's beam copies at every step: about half of a step's arithmetic.
            values = ops.matmul(values, context_kernel)
            keys, mask = ops.repeat(keys, repeat, axis=0), ops.repeat(mask, repeat, axis=0)
            if allowed is not None:
                allowed = ops.repeat(allowed, repeat, axis=0)
        # The embedding feeds the GRU input and the output layer: one product for both.
        gates = 3 * self.units
        embedding_kernel = ops.concatenate(
            [ops.cast(self.input_kernel, dtype), hidden_kernel[context_rows:]], axis=1
        )
        embedding_bias = ops.concatenate(
            [ops.cast(self.input_bias, dtype), ops.cast(self.hidden.bias, dtype)], axis=0
        )
        state_kernel = hidden_kernel[:state_rows]
        kernel, bias = self.output_weights(columns)
        kernel, bias = ops.cast(kernel, dtype), ops.cast(bias, dtype)
        if allowed is not None:
            allowed = ops.where(allowed, 0.0, NEG_INF)

        def next_fn(token, state, rows=None):
            embedded = self.embedding(token if columns is None else ops.take(columns, token))
            projected = ops.matmul(embedded, embedding_kernel) + embedding_bias
            memory = (
                (keys, mask) if rows is None else (ops.take(keys, rows, 0), ops.take(mask, rows, 0))
            )
            if repeat > 1:
                context_of = functools.partial(
                    self._grouped_context, values=values, rows=rows, repeat=repeat
                )
            else:
                own = values if rows is None else ops.take(values, rows, axis=0)

                def context_of(weights):
                    return ops.matmul(summarise(weights, own), context_kernel)

            state, context, weights = self._step(
                state, projected[:, :gates], (*memory, context_of), loop_weights
            )
            hidden = self.hidden.activation(
                ops.matmul(state, state_kernel) + context[:, gates:] + projected[:, gates:]
            )
            logits = ops.cast(ops.matmul(hidden, kernel) + bias, "float32")
            if allowed is not None:
                logits = logits + (allowed if rows is None else ops.take(allowed, rows, axis=0))
            return logits, state, weights

        return next_fn

    @staticmethod
    def _grouped_context(weights, values, rows, repeat):
        """``summarise`` for rows that are ``repeat`` copies of each sentence of ``values``
        (batch, src_len, h), or those ``rows`` of them: one batched product over the
        sentences, instead of a copy of every state of a sentence for each of its rows."""
        batch, src_len = ops.shape(values)[0], ops.shape(values)[1]
        if rows is not None:  # the rows not stepped weigh nothing
            every_row = ops.zeros((batch * repeat, src_len), weights.dtype)
            weights = ops.scatter_update(every_row, ops.expand_dims(rows, 1), weights)
        weights = ops.reshape(ops.cast(weights, values.dtype), (batch, repeat, src_len))
        context = ops.reshape(ops.matmul(weights, values), (batch * repeat, -1))
        return context if rows is None else ops.take(context, rows, axis=0)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention": self.attention_type,
            "attention_units": self.attention_units,
            "dropout": self.dropout,
            "tie_embeddings": self.tie_embeddings,
        }
