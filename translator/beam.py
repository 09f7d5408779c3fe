"""Batched beam search over the attention decoder, in one compiled loop.

Each sentence keeps ``beam_size`` hypotheses. At every step each live hypothesis is extended
by every word; the ``beam_size`` best (sum of log-probabilities) of all extensions survive.
A hypothesis that has emitted ``<end>`` stays in the beam with its score frozen (it can only
be extended by padding at no cost), and at its length limit a hypothesis must end. The
winner has the best score divided by ``length ** length_penalty`` (0: raw sum, which favours
short outputs; 1: mean log-probability per token). Only ``keras.ops``: it runs on the
TensorFlow and JAX backends; the search and the back-tracking are both ``ops.scan`` loops.
"""
from __future__ import annotations

import numpy as np
from keras import ops

from translator.attention import NEG_INF
from translator.vocab import END_ID, PAD_ID, START_ID


def _only(token_id: int, vocab_size: int) -> np.ndarray:
    """Log-probability offsets that allow ``token_id`` alone."""
    offsets = np.full(vocab_size, NEG_INF, "float32")
    offsets[token_id] = 0.0
    return offsets


def beam_search(decoder, initial_state, values, mask, max_lengths, steps, beam_size, length_penalty, never_predicted):
    """Best hypothesis per sentence: tokens (batch, steps), 0 after ``<end>``.

    ``decoder`` is a ``model.Decoder``; ``never_predicted`` (vocab,) holds 0 or NEG_INF per word.
    """
    k, vocab = beam_size, decoder.vocab_size
    batch = ops.shape(values)[0]
    values_k, mask_k = ops.repeat(values, k, axis=0), ops.repeat(mask, k, axis=0)
    keys = decoder.attention.keys(values_k)
    loop_weights = decoder._loop_weights()
    padding_only, end_only = _only(PAD_ID, vocab), _only(END_ID, vocab)
    row_offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * k, 1)  # (batch, 1)
    limits = ops.expand_dims(max_lengths, 1)  # (batch, 1)

    def step(carry, i):
        state, token, scores, finished, lengths, _ = carry
        embedded = decoder.embedding(token)
        state, context, _ = decoder._step(state, decoder._project(embedded), keys, values_k, mask_k, loop_weights)
        logits = decoder._output(state, context, embedded, False, loop_weights["output_kernel"]) + never_predicted
        log_probs = ops.reshape(ops.log_softmax(logits, axis=-1), (batch, k, vocab))
        at_limit = ops.expand_dims(ops.greater_equal(i, limits), -1)  # (batch, 1, 1): words used up
        log_probs = ops.where(at_limit, log_probs + end_only, log_probs)
        log_probs = ops.where(ops.expand_dims(finished, -1), padding_only, log_probs)
        candidates = ops.reshape(ops.expand_dims(scores, -1) + log_probs, (batch, k * vocab))
        scores, chosen = ops.top_k(candidates, k)
        parents, tokens = chosen // vocab, ops.cast(chosen % vocab, "int32")
        was_finished = ops.take_along_axis(finished, parents, axis=1)
        lengths = ops.take_along_axis(lengths, parents, axis=1) + ops.cast(ops.logical_not(was_finished), "int32")
        finished = was_finished | ops.equal(tokens, END_ID)
        state = ops.take(state, ops.reshape(row_offsets + parents, (-1,)), axis=0)
        # The TensorFlow backend's scan stacks outputs shaped like the carry: the carry holds
        # this step's parent pointers, and the stacked tokens and parents feed the walk back.
        carry = (state, ops.reshape(tokens, (-1,)), scores, finished, lengths, ops.cast(parents, "int32"))
        return carry, carry

    first_scores = np.full(k, NEG_INF, "float32")
    first_scores[0] = 0.0  # all beams start identical: expand only the first
    init = (ops.repeat(initial_state, k, axis=0), ops.full((batch * k,), START_ID, "int32"),
            ops.zeros((batch, k)) + first_scores, ops.zeros((batch, k), "bool"), ops.zeros((batch, k), "int32"),
            ops.zeros((batch, k), "int32"))
    (_, _, scores, _, lengths, _), (_, tokens, _, _, _, parents) = ops.scan(step, init, ops.arange(steps, dtype="int32"))
    tokens = ops.reshape(tokens, (-1, batch, k))
    normalised = scores / ops.power(ops.maximum(ops.cast(lengths, "float32"), 1.0), length_penalty)
    best = ops.cast(ops.argmax(normalised, axis=-1), "int32")

    def back(beam, step_outputs):  # walk the parent pointers from the last step to the first
        step_tokens, step_parents = step_outputs[..., 0], step_outputs[..., 1]
        beam = ops.expand_dims(beam, 1)
        token = ops.take_along_axis(step_tokens, beam, axis=1)[:, 0]
        return ops.take_along_axis(step_parents, beam, axis=1)[:, 0], token

    # One stacked tensor rather than a pair: Keras' TensorFlow scan fails on several inputs of unknown length.
    _, best_tokens = ops.scan(back, best, ops.stack([tokens, parents], axis=-1), reverse=True)
    return ops.transpose(best_tokens, (1, 0))
