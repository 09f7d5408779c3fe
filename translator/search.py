"""Decoding strategies over a step function: greedy search and batched beam search.

Both take ``next_fn(token, state, rows=None) -> (logits, state, attention)``, one decoder
step for a batch of rows (``Decoder.step_function`` gives it for the model; tests pass a fake
one), and run it in one compiled ``keras.ops.while_loop`` that ends as soon as every sentence
has ended, so they work on every Keras backend and know nothing of the model.
``DecodeOptions`` says how to decode.

With ``compact=True`` each step runs ``next_fn`` on the rows still decoding only (their
indices as ``rows``; ``token`` and ``state`` are theirs) and leaves the ended ones as they
are. In a batch of many sentences about 40 % of the rows have ended at an average step, so
this saves that share of the work; it needs shapes that change from step to step, which
TensorFlow graphs have and a compiling backend (JAX) does not.

Beam search keeps ``beam_size`` hypotheses per sentence. At every step each live hypothesis
is extended by every word; the ``beam_size`` best (sum of log-probabilities) of all
extensions survive. A hypothesis that has emitted ``<end>`` stays in the beam with its score
frozen (it can only be extended by padding at no cost), and at its length limit a hypothesis
must end. The winner has the best score divided by ``length ** length_penalty`` (0: raw sum,
which favours short outputs; 1: mean log-probability per token).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from keras import ops

from translator.attention import NEG_INF
from translator.vocab import END_ID, PAD_ID, START_ID, UNK_ID


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: the search, its width, and how long outputs may grow.

    A sentence of n source tokens gets at most ``ceil(max_length_ratio * n) +
    max_length_offset`` output tokens. ``ban_unk`` keeps ``<unk>`` out of the output.
    """

    beam_size: int = 5
    length_penalty: float = 0.6
    ban_unk: bool = True
    max_length_ratio: float = 2.0
    max_length_offset: int = 5

    @classmethod
    def from_config(cls, decode_config, **overrides) -> DecodeOptions:
        """The options of a ``config.DecodeConfig``; ``overrides`` that are None are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: getattr(decode_config, name) for name in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> DecodeOptions:
        return dataclasses.replace(self, **changes)


def never_predicted(vocab_size: int, ban_unk: bool = True) -> np.ndarray:
    """Logit offsets (0 or NEG_INF) keeping search off <pad>, <start> and maybe <unk>."""
    offsets = np.zeros(vocab_size, "float32")
    offsets[[PAD_ID, START_ID] + ([UNK_ID] if ban_unk else [])] = NEG_INF
    return offsets


def _step_rows(next_fn, token, state, active, compact):
    """``next_fn`` on the ``active`` rows (all rows unless ``compact``).

    Returns the stepped rows' indices (None: all) and ``next_fn``'s outputs for them.
    """
    if not compact:
        return None, *next_fn(token, state)
    rows = ops.nonzero(active)[0]
    return rows, *next_fn(ops.take(token, rows, axis=0), ops.take(state, rows, axis=0), rows)


def _scatter(rows, values, default):
    """``values`` of the stepped ``rows`` in a full tensor that is ``default`` elsewhere."""
    if rows is None:
        return values
    return ops.scatter_update(default, ops.expand_dims(rows, 1), values)


def greedy_search(
    next_fn, initial_state, max_lengths, steps, offsets, source_length, compact=False
):
    """The likeliest word at every step; sentence b stops at <end> or ``max_lengths[b]``.

    A ``while_loop`` that ends as soon as every sentence has ended: with batches of similar
    lengths that is about half of the ``steps`` the longest limit allows.

    Args:
        next_fn: ``next_fn(token (batch,), state) -> (logits (batch, vocab), state, attention)``.
        initial_state: (batch, units) first decoder state.
        max_lengths: (batch,) int32 output-length limits.
        steps: number of loop steps at most (at least the largest limit).
        offsets: (vocab,) added to every step's logits (``never_predicted``).
        source_length: the width of each step's attention (src_len).
        compact: step the unfinished rows only (module docstring).

    Returns tokens (batch, steps) with 0 after the end, and attention (batch, steps, src_len).
    """
    batch = ops.shape(initial_state)[0]

    def running(i, state, token, finished, tokens, attention):
        return ops.logical_and(ops.less(i, steps), ops.logical_not(ops.all(finished)))

    def step(i, state, token, finished, tokens, attention):
        rows, logits, new_state, weights = _step_rows(
            next_fn, token, state, ops.logical_not(finished), compact
        )
        next_token = ops.cast(ops.argmax(ops.cast(logits, "float32") + offsets, axis=-1), "int32")
        next_token = _scatter(rows, next_token, ops.zeros_like(token))
        state = _scatter(rows, new_state, state)
        weights = _scatter(rows, weights, ops.zeros_like(attention[:, 0]))
        next_token = ops.where(finished, ops.zeros_like(next_token) + PAD_ID, next_token)
        finished = finished | ops.equal(next_token, END_ID) | ops.greater_equal(i + 1, max_lengths)
        tokens = ops.slice_update(tokens, (0, i), ops.expand_dims(next_token, 1))
        attention = ops.slice_update(attention, (0, i, 0), ops.expand_dims(weights, 1))
        return i + 1, state, next_token, finished, tokens, attention

    start = (
        ops.convert_to_tensor(0, "int32"),
        initial_state,
        ops.full((batch,), START_ID, "int32"),
        ops.zeros((batch,), "bool"),
        ops.zeros((batch, steps), "int32"),
        ops.zeros((batch, steps, source_length), "float32"),
    )
    *_, tokens, attention = ops.while_loop(running, step, start)
    return tokens, attention


def _only(token_id: int, vocab_size: int) -> np.ndarray:
    """Log-probability offsets that allow ``token_id`` alone."""
    offsets = np.full(vocab_size, NEG_INF, "float32")
    offsets[token_id] = 0.0
    return offsets


def beam_search(
    next_fn,
    initial_state,
    max_lengths,
    steps,
    *,
    beam_size,
    length_penalty,
    offsets,
    compact=False,
):
    """Best hypothesis per sentence: tokens (batch, steps), 0 after ``<end>``.

    ``next_fn`` works on ``batch * beam_size`` rows (sentence b's hypotheses are rows
    ``b * beam_size ...``); ``initial_state`` (batch, units) is repeated here. The other
    arguments are those of ``greedy_search``. With ``compact``, the rows stepped are the
    hypotheses that have neither ended nor a score of ``NEG_INF`` (at the first step, all
    but each sentence's first copy).
    """
    k, vocab = beam_size, offsets.shape[0]
    batch = ops.shape(initial_state)[0]
    per_row = min(k, vocab)
    first_only = _only(0, per_row)  # of a row's candidates, only the first may be taken
    row_offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * k, 1)  # (batch, 1)
    limits = ops.expand_dims(max_lengths, 1)  # (batch, 1)

    def running(*carry):
        i, finished = carry[0], carry[4]
        return ops.logical_and(ops.less(i, steps), ops.logical_not(ops.all(finished)))

    def step(*carry):
        i, state, token, scores, finished, lengths, tokens, parents = carry
        alive = ops.logical_not(finished) & ops.greater(scores, NEG_INF / 2)
        rows, logits, new_state, _ = _step_rows(
            next_fn, token, state, ops.reshape(alive, (-1,)), compact
        )
        state = _scatter(rows, new_state, state)
        # A sentence's k best extensions are among the k best words of each of its beams, so
        # only k words per row reach the (batch, k * k) choice; full-vocabulary work is one
        # top_k and one logsumexp per step.
        logits = ops.cast(logits, "float32") + offsets
        row_lse = ops.logsumexp(logits, axis=-1, keepdims=True)
        word_log_probs, words = ops.top_k(logits, per_row)
        # Rows not stepped extend by padding only, as ended ones do.
        every_row = ops.zeros((batch * k, per_row))
        word_log_probs = _scatter(rows, word_log_probs - row_lse, every_row + first_only)
        words = _scatter(rows, ops.cast(words, "int32"), ops.cast(every_row, "int32") + PAD_ID)
        end_log_prob = _scatter(
            rows, logits[:, END_ID : END_ID + 1] - row_lse, every_row[:, :1] + NEG_INF
        )
        word_log_probs = ops.reshape(word_log_probs, (batch, k, per_row))
        words = ops.reshape(words, (batch, k, per_row))
        end_log_prob = ops.reshape(end_log_prob, (batch, k, 1))
        at_limit = ops.expand_dims(ops.greater_equal(i, limits), -1)  # (batch, 1, 1): words used up
        word_log_probs = ops.where(at_limit, end_log_prob + first_only, word_log_probs)
        words = ops.where(at_limit, END_ID, words)
        ended = ops.expand_dims(finished, -1)
        word_log_probs = ops.where(
            ended, ops.zeros_like(word_log_probs) + first_only, word_log_probs
        )
        words = ops.where(ended, PAD_ID, words)
        candidates = ops.reshape(ops.expand_dims(scores, -1) + word_log_probs, (batch, k * per_row))
        scores, chosen = ops.top_k(candidates, k)
        chosen = ops.cast(chosen, "int32")
        step_parents = chosen // per_row
        step_tokens = ops.take_along_axis(ops.reshape(words, (batch, k * per_row)), chosen, axis=1)
        was_finished = ops.take_along_axis(finished, step_parents, axis=1)
        not_finished = ops.cast(ops.logical_not(was_finished), "int32")
        lengths = ops.take_along_axis(lengths, step_parents, axis=1) + not_finished
        finished = was_finished | ops.equal(step_tokens, END_ID)
        state = ops.take(state, ops.reshape(row_offsets + step_parents, (-1,)), axis=0)
        tokens = ops.slice_update(tokens, (i, 0, 0), ops.expand_dims(step_tokens, 0))
        parents = ops.slice_update(parents, (i, 0, 0), ops.expand_dims(step_parents, 0))
        token = ops.reshape(step_tokens, (-1,))
        return i + 1, state, token, scores, finished, lengths, tokens, parents

    first_scores = np.full(k, NEG_INF, "float32")
    first_scores[0] = 0.0  # all beams start identical: expand only the first
    start = (
        ops.convert_to_tensor(0, "int32"),
        ops.repeat(initial_state, k, axis=0),
        ops.full((batch * k,), START_ID, "int32"),
        ops.zeros((batch, k)) + first_scores,
        ops.zeros((batch, k), "bool"),
        ops.zeros((batch, k), "int32"),
        # Steps never run keep padding, and parents that point every beam to itself.
        ops.zeros((steps, batch, k), "int32"),
        ops.zeros((steps, batch, k), "int32") + ops.arange(k, dtype="int32"),
    )
    *_, scores, _, lengths, tokens, parents = ops.while_loop(running, step, start)
    normalised = scores / ops.power(ops.maximum(ops.cast(lengths, "float32"), 1.0), length_penalty)
    best = ops.cast(ops.argmax(normalised, axis=-1), "int32")

    def back(beam, step_outputs):  # walk the parent pointers from the last step to the first
        step_tokens, step_parents = step_outputs[..., 0], step_outputs[..., 1]
        beam = ops.expand_dims(beam, 1)
        token = ops.take_along_axis(step_tokens, beam, axis=1)[:, 0]
        return ops.take_along_axis(step_parents, beam, axis=1)[:, 0], token

    # One stacked tensor, not a pair: Keras' TensorFlow scan fails on several inputs of
    # unknown length.
    pointers = ops.stack([tokens, parents], axis=-1)
    _, best_tokens = ops.scan(back, best, pointers, reverse=True)
    return ops.transpose(best_tokens, (1, 0))
