"""Decoding strategies over a step function: greedy search and batched beam search.

Both take ``next_fn(token, state, rows=None) -> (logits, state, attention)``, one decoder
step for a batch of rows (``Decoder.step_function`` gives it for the model; tests pass a fake
one), and run it in one compiled ``keras.ops.while_loop`` that ends as soon as every sentence
has ended, so they work on every Keras backend and know nothing of the model. The state is
a tensor with one row per hypothesis (the GRU's) or a structure of them (a Transformer's
cached keys and values): the searches take, repeat and place its rows, nothing else.
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
from keras import ops, tree

from translator.data.vocab import END_ID, PAD_ID, START_ID, UNK_ID
from translator.models.attention import NEG_INF


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: the search, its width, and how long outputs may grow.

    A sentence of n source tokens gets at most ``ceil(max_length_ratio * n) +
    max_length_offset`` output tokens. ``ban_unk`` keeps ``<unk>`` out of the output.
    ``shortlist``: candidates per source word of a model's vocabulary shortlist
    (``translator.models.shortlist``; 0 scores the whole vocabulary).
    """

    beam_size: int = 5
    length_penalty: float = 0.6
    ban_unk: bool = True
    max_length_ratio: float = 2.0
    max_length_offset: int = 5
    shortlist: int = 20

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
    """``next_fn`` on the ``active`` rows: ``(place, own, logits, new_state, attention)``.

    ``place(values, default)`` puts values of the stepped rows into a full-batch tensor that
    is ``default`` on the other rows; ``own(values)`` takes a full-batch tensor's values of
    the stepped rows. With ``compact`` only the active rows are stepped; otherwise all are,
    and ``place`` masks the others, so both give the same results.

    ``new_state`` is the whole batch's: the stepped rows' new state, the others' as it was.
    It has ``state``'s dtypes and the attention is float32, as the loops carry them: under
    mixed precision a step called outside a layer's ``__call__`` (JAX's predict) reads its
    weights in float32, so a bfloat16 state would come back float32.
    """
    if not compact:

        def place(values, default):
            active_rows = ops.reshape(active, (-1,) + (1,) * (len(values.shape) - 1))
            return ops.where(active_rows, values, default)

        def own(values):
            return values

        logits, new_state, weights = next_fn(token, state)
    else:
        rows = ops.nonzero(active)[0]

        def place(values, default):
            return ops.scatter_update(default, ops.expand_dims(rows, 1), values)

        def own(values):
            return ops.take(values, rows, axis=0)

        logits, new_state, weights = next_fn(ops.take(token, rows, axis=0), take(state, rows), rows)

    def placed(new, old):
        return place(ops.cast(new, old.dtype), old)

    new_state = tree.map_structure(placed, new_state, state)
    return place, own, logits, new_state, ops.cast(weights, "float32")


def take(state, rows):
    """The ``rows`` of every tensor of a search ``state`` (a tensor or a structure of them)."""
    return tree.map_structure(lambda part: ops.take(part, rows, axis=0), state)


def _end_banned(i, min_lengths, offsets):
    """Offsets (rows, vocab) that keep ``<end>`` from rows whose output is still shorter than
    their ``min_lengths`` (rows,) at step ``i``; 0 everywhere when ``min_lengths`` is None."""
    if min_lengths is None:
        return 0.0
    end_column = ops.expand_dims(ops.equal(ops.arange(ops.shape(offsets)[0]), END_ID), 0)
    too_short = ops.expand_dims(ops.less(i, min_lengths), 1)
    return ops.where(ops.logical_and(too_short, end_column), NEG_INF, 0.0)


def greedy_search(
    next_fn,
    initial_state,
    max_lengths,
    steps,
    *,
    offsets,
    source_length,
    compact=False,
    min_lengths=None,
):
    """The likeliest word at every step; sentence b stops at <end> or ``max_lengths[b]``,
    and not at <end> before ``min_lengths[b]`` tokens.

    A ``while_loop`` that ends as soon as every sentence has ended: with batches of similar
    lengths that is about half of the ``steps`` the longest limit allows.

    Args:
        next_fn: ``next_fn(token (batch,), state) -> (logits (batch, vocab), state, attention)``.
        initial_state: the first decoder state: (batch, units), or a structure of tensors
            whose first axis is the batch.
        max_lengths: (batch,) int32 output-length limits.
        steps: number of loop steps at most (at least the largest limit).
        offsets: (vocab,) added to every step's logits (``never_predicted``).
        source_length: the width of each step's attention (src_len).
        compact: step the unfinished rows only (module docstring).
        min_lengths: (batch,) int32 words a sentence emits before it may end (None: 0), as
            fairseq's ``min_len``: 1 keeps a non-empty source from an empty translation.

    Returns tokens (batch, steps) with 0 after the end, and attention (batch, steps, src_len),
    whose rows after the end are 0.
    """
    batch = ops.shape(max_lengths)[0]

    def running(i, state, token, finished, tokens, attention):
        return ops.logical_and(ops.less(i, steps), ops.logical_not(ops.all(finished)))

    def step(i, state, token, finished, tokens, attention):
        place, own, logits, state, weights = _step_rows(
            next_fn, token, state, ops.logical_not(finished), compact
        )
        logits = ops.cast(logits, "float32") + offsets
        logits = logits + _end_banned(i, None if min_lengths is None else own(min_lengths), offsets)
        next_token = ops.cast(ops.argmax(logits, axis=-1), "int32")
        next_token = place(next_token, ops.zeros_like(token) + PAD_ID)
        weights = place(weights, ops.zeros_like(attention[:, 0]))
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
    source_length,
    compact=False,
    min_lengths=None,
):
    """Best hypothesis per sentence: tokens (batch, steps), 0 after ``<end>``, and attention.

    ``next_fn`` works on ``batch * beam_size`` rows (sentence b's hypotheses are rows
    ``b * beam_size ...``); ``initial_state`` (one row per sentence) is repeated here. The other
    arguments are those of ``greedy_search`` (``min_lengths`` per sentence). The rows
    stepped are the hypotheses that have neither ended nor a score of ``NEG_INF`` (at the
    first step, all but each sentence's first copy). Every step's attention is kept and
    walked back with the tokens, so the winner's attention (batch, steps, src_len; rows
    after ``<end>`` are 0) costs no pass.
    """
    k, vocab = beam_size, offsets.shape[0]
    batch = ops.shape(max_lengths)[0]
    # One step more than the longest limit: a hypothesis at its limit takes <end> there, so it
    # is ranked with the <end>'s log-probability whether or not its sentence is the batch's
    # longest. That step's tokens (all <end>) are cut from the result.
    out_steps, steps = steps, steps + 1
    per_row = k if vocab is None else min(k, vocab)  # None: a shortlist's, at least k
    first_only = _only(0, per_row)  # of a row's candidates, only the first may be taken
    row_offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * k, 1)  # (batch, 1)
    limits = ops.expand_dims(max_lengths, 1)  # (batch, 1)
    row_min_lengths = None if min_lengths is None else ops.repeat(min_lengths, k, axis=0)

    def running(*carry):
        i, finished = carry[0], carry[4]
        return ops.logical_and(ops.less(i, steps), ops.logical_not(ops.all(finished)))

    def step(*carry):
        i, state, token, scores, finished, lengths, tokens, parents, attention = carry
        alive = ops.logical_not(finished) & ops.greater(scores, NEG_INF / 2)
        place, own, logits, state, weights = _step_rows(
            next_fn, token, state, ops.reshape(alive, (-1,)), compact
        )
        weights = place(weights, ops.zeros_like(attention[0]))  # rows: hypotheses before the choice
        attention = ops.slice_update(attention, (i, 0, 0), ops.expand_dims(weights, 0))
        # A sentence's k best extensions are among the k best words of each of its beams, so
        # only k words per row reach the (batch, k * k) choice; full-vocabulary work is one
        # top_k and one logsumexp per step.
        logits = ops.cast(logits, "float32") + offsets
        if row_min_lengths is not None:
            logits = logits + _end_banned(i, own(row_min_lengths), offsets)
        row_lse = ops.logsumexp(logits, axis=-1, keepdims=True)
        word_log_probs, words = ops.top_k(logits, per_row)
        # Rows not stepped (ended, or a NEG_INF copy) extend by padding only, at no cost.
        every_row = ops.zeros((batch * k, per_row))
        word_log_probs = place(word_log_probs - row_lse, every_row + first_only)
        words = place(ops.cast(words, "int32"), ops.cast(every_row, "int32") + PAD_ID)
        end_log_prob = place(logits[:, END_ID : END_ID + 1] - row_lse, every_row[:, :1] + NEG_INF)
        word_log_probs = ops.reshape(word_log_probs, (batch, k, per_row))
        words = ops.reshape(words, (batch, k, per_row))
        end_log_prob = ops.reshape(end_log_prob, (batch, k, 1))
        # At its length limit a stepped hypothesis must end: words used up.
        at_limit = ops.expand_dims(ops.greater_equal(i, limits) & alive, -1)  # (batch, k, 1)
        word_log_probs = ops.where(at_limit, end_log_prob + first_only, word_log_probs)
        words = ops.where(at_limit, END_ID, words)
        candidates = ops.reshape(ops.expand_dims(scores, -1) + word_log_probs, (batch, k * per_row))
        scores, chosen = ops.top_k(candidates, k)
        chosen = ops.cast(chosen, "int32")
        step_parents = chosen // per_row
        step_tokens = ops.take_along_axis(ops.reshape(words, (batch, k * per_row)), chosen, axis=1)
        was_finished = ops.take_along_axis(finished, step_parents, axis=1)
        not_finished = ops.cast(ops.logical_not(was_finished), "int32")
        lengths = ops.take_along_axis(lengths, step_parents, axis=1) + not_finished
        finished = was_finished | ops.equal(step_tokens, END_ID)
        state = take(state, ops.reshape(row_offsets + step_parents, (-1,)))
        tokens = ops.slice_update(tokens, (i, 0, 0), ops.expand_dims(step_tokens, 0))
        parents = ops.slice_update(parents, (i, 0, 0), ops.expand_dims(step_parents, 0))
        token = ops.reshape(step_tokens, (-1,))
        return i + 1, state, token, scores, finished, lengths, tokens, parents, attention

    first_scores = np.full(k, NEG_INF, "float32")
    first_scores[0] = 0.0  # all beams start identical: expand only the first
    start = (
        ops.convert_to_tensor(0, "int32"),
        tree.map_structure(lambda part: ops.repeat(part, k, axis=0), initial_state),
        ops.full((batch * k,), START_ID, "int32"),
        ops.zeros((batch, k)) + first_scores,
        ops.zeros((batch, k), "bool"),
        ops.zeros((batch, k), "int32"),
        # Steps never run keep padding, and parents that point every beam to itself.
        ops.zeros((steps, batch, k), "int32"),
        ops.zeros((steps, batch, k), "int32") + ops.arange(k, dtype="int32"),
        ops.zeros((steps, batch * k, source_length), "float32"),
    )
    *_, scores, _, lengths, tokens, parents, attention = ops.while_loop(running, step, start)
    normalised = scores / ops.power(ops.maximum(ops.cast(lengths, "float32"), 1.0), length_penalty)
    best = ops.cast(ops.argmax(normalised, axis=-1), "int32")

    def back(carry, step_outputs):  # walk the parent pointers from the last step to the first
        step_tokens, step_parents = step_outputs[..., 0], step_outputs[..., 1]
        beam = carry[:, 1:]  # the winner's beam at this step
        token = ops.take_along_axis(step_tokens, beam, axis=1)
        parent = ops.take_along_axis(step_parents, beam, axis=1)  # its beam a step earlier
        carry = ops.concatenate([token, parent], axis=-1)
        return carry, carry

    # Stacked tensors, not pairs: Keras' TensorFlow scan fails on several inputs of unknown
    # length, and its outputs must have the carry's shape.
    pointers = ops.stack([tokens, parents], axis=-1)
    start = ops.stack([ops.zeros_like(best), best], axis=-1)
    _, path = ops.scan(back, start, pointers, reverse=True)  # (steps, batch, [token, parent])
    # A step's word was chosen from its parent's row, whose attention that step recorded.
    attention = ops.reshape(attention, (steps, batch, k, source_length))
    parent_rows = ops.reshape(path[..., 1], (steps, batch, 1, 1))
    parent_rows = ops.broadcast_to(parent_rows, (steps, batch, 1, source_length))
    best_attention = ops.take_along_axis(attention, parent_rows, axis=2)[:out_steps, :, 0]
    return ops.transpose(path[:out_steps, :, 0], (1, 0)), ops.transpose(best_attention, (1, 0, 2))
