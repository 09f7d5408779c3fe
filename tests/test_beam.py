"""Search: width 1 is greedy, a wide enough beam is exact search, outputs are well formed.

The first tests drive ``search`` with a fake step function (a fixed table of next-word
scores, no model at all); the last ones decode with a real ``Translator``.
"""

import itertools
import math

import keras
import numpy as np
import pytest
from keras import ops

from translator.data.vocab import END_ID, PAD_ID, START_ID, UNK_ID
from translator.models.model import Translator
from translator.models.search import DecodeOptions, beam_search, greedy_search, never_predicted

VOCAB = 7  # ids 0-3 reserved, words 4, 5, 6


def table_step(table):
    """A fake ``next_fn``: the logits depend on the previous token and the sentence (row) only."""
    table = np.asarray(
        table, "float32"
    )  # (sentences, vocab, vocab): row b, previous token -> logits

    def next_fn(token, state, rows=None):  # ``rows`` unused: the state names the sentence
        sentence = ops.cast(state[:, 0], "int32")  # the state just carries each row's sentence id
        logits = ops.take(ops.reshape(table, (-1, VOCAB)), sentence * VOCAB + token, axis=0)
        return logits, state, ops.zeros((ops.shape(token)[0], 2))

    return next_fn


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def sequence_score(table, row, tokens, offsets):
    """Sum of the table's log-probabilities of ``tokens`` (ending in <end>)."""
    previous = [START_ID] + tokens[:-1]
    return sum(log_softmax(table[row, p] + offsets)[t] for p, t in zip(previous, tokens))


def words(row):
    """The tokens before the first <end> or padding."""
    stops = np.flatnonzero((row == END_ID) | (row == PAD_ID))
    return list(row[: stops[0]] if stops.size else row)


TABLE = np.random.default_rng(5).normal(0, 2.0, (3, VOCAB, VOCAB))
OFFSETS = never_predicted(VOCAB, ban_unk=True)


def run_beam(beam_size, length_penalty, max_lengths, steps, table=TABLE, compact=False):
    k = beam_size
    sentences = np.arange(len(table), dtype="float32")[:, None]
    next_fn = table_step(table)
    state = np.repeat(sentences, 1, axis=0)  # beam_search repeats it k times itself
    tokens, _ = beam_search(
        next_fn,
        state,
        np.asarray(max_lengths, np.int32),
        steps,
        beam_size=k,
        length_penalty=length_penalty,
        offsets=OFFSETS,
        source_length=2,
        compact=compact,
    )
    return np.asarray(tokens)


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.0])
def test_a_beam_as_wide_as_all_outputs_finds_the_best_one(length_penalty, compact):
    """3 words, at most 2 before <end>: 1 + 3 + 9 outputs; a beam of 13 keeps them all."""
    found = run_beam(13, length_penalty, [2, 2, 2], 3, compact=compact)
    outputs = [[END_ID]] + [[w, END_ID] for w in (4, 5, 6)]
    outputs += [[a, b, END_ID] for a, b in itertools.product((4, 5, 6), repeat=2)]
    for row in range(3):
        scores = [
            sequence_score(TABLE, row, out, OFFSETS) / len(out) ** length_penalty for out in outputs
        ]
        best = outputs[int(np.argmax(scores))]
        assert list(found[row][: len(best)]) == best and (found[row][len(best) :] == PAD_ID).all()


def test_width_one_beam_is_greedy_search():
    sentences = np.arange(3, dtype="float32")[:, None]
    limits = np.array([6, 4, 2], np.int32)
    greedy, _ = greedy_search(
        table_step(TABLE), sentences, limits, 7, offsets=OFFSETS, source_length=2
    )
    beam = run_beam(1, 1.0, limits, 7)
    for found, wanted in zip(beam, np.asarray(greedy)):
        assert words(found) == words(wanted)  # greedy stops at its limit; the beam adds <end> there


@pytest.mark.parametrize("compact", [False, True])
def test_banned_and_reserved_tokens_never_come_out_and_limits_hold(compact):
    table = np.zeros((2, VOCAB, VOCAB))
    table[:, :, UNK_ID] = 50.0  # <unk> would win every step
    table[:, :, START_ID] = 40.0
    tokens = run_beam(3, 1.0, [3, 1], 5, table=table, compact=compact)
    for row, limit in zip(tokens, (3, 1)):
        assert not np.isin(row, [UNK_ID, START_ID]).any()
        assert len(words(row)) <= limit


def make_model(target_vocab=40):
    keras.utils.set_random_seed(7)
    model = Translator(
        source_vocab_size=30, target_vocab_size=target_vocab, embedding_dim=16, units=32
    )
    model.build(None)
    return model


SOURCE = np.array([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]], np.int32)


def test_the_model_decodes_the_same_with_a_width_one_beam_and_greedily():
    model = make_model()
    values, final, mask = model.encoder(SOURCE)
    state, limits = model.bridge(final), np.array([13, 9, 7], np.int32)
    offsets = never_predicted(40)
    greedy, _ = greedy_search(
        model.decoder.step_function(values, mask),
        state,
        limits,
        13,
        offsets=offsets,
        source_length=4,
    )
    beam, _ = beam_search(
        model.decoder.step_function(values, mask, repeat=1),
        state,
        limits,
        13,
        beam_size=1,
        length_penalty=1.0,
        offsets=offsets,
        source_length=4,
    )
    for found, wanted in zip(np.asarray(beam), np.asarray(greedy)):
        assert words(found) == words(wanted)
    translated = model.translate(SOURCE, DecodeOptions(beam_size=1))["tokens"]
    np.testing.assert_array_equal(np.asarray(translated)[:, :13], np.asarray(greedy))


@pytest.mark.parametrize("beam_size", [1, 3])
def test_stepping_only_unfinished_rows_decodes_exactly_as_stepping_all(beam_size):
    """``compact`` skips ended rows (and a beam's copies at the first step): same output."""
    model = make_model(target_vocab=12)
    bias = model.decoder.logits.bias.numpy()
    bias[END_ID] = -2.0  # an untrained model would end at once; here the limits end the rows
    model.decoder.logits.bias.assign(bias)
    source = np.random.default_rng(3).integers(4, 30, (9, 6)).astype(np.int32)
    source[np.arange(9)[:, None] >= 9 - np.arange(6)] = 0  # lengths 6, 6, 6, 6, 5, ... 1
    values, final, mask = model.encoder(source)
    state = model.bridge(final)
    limits = np.array([3, 17, 8, 1, 12, 5, 17, 2, 9], np.int32)
    offsets = never_predicted(12)
    outputs = []
    for compact in (False, True):
        next_fn = model.decoder.step_function(values, mask, repeat=beam_size)
        if beam_size == 1:
            tokens, attention = greedy_search(
                next_fn, state, limits, 17, offsets=offsets, source_length=6, compact=compact
            )
        else:
            tokens, attention = beam_search(
                next_fn,
                state,
                limits,
                17,
                beam_size=beam_size,
                length_penalty=0.6,
                offsets=offsets,
                source_length=6,
                compact=compact,
            )
        outputs.append((np.asarray(tokens), np.asarray(attention)))
    (full_tokens, full_attention), (compact_tokens, compact_attention) = outputs
    lengths = [len(words(row)) for row in full_tokens]
    assert len(set(lengths)) > 3  # the rows did end at different steps
    np.testing.assert_array_equal(compact_tokens, full_tokens)
    np.testing.assert_allclose(compact_attention, full_attention, atol=1e-6)


def test_beams_ending_at_different_steps_decode_the_same_compacted():
    table = np.random.default_rng(11).normal(0, 2.0, (8, VOCAB, VOCAB))
    limits = [6, 2, 9, 4, 9, 1, 7, 3]
    full = run_beam(3, 0.6, limits, 9, table=table)
    assert len({len(words(row)) for row in full}) > 3
    np.testing.assert_array_equal(run_beam(3, 0.6, limits, 9, table=table, compact=True), full)


def test_model_outputs_are_well_formed_and_within_their_length_limit():
    model = make_model()
    options = DecodeOptions(beam_size=4, max_length_ratio=1.5, max_length_offset=2)
    out = model.translate(SOURCE, options)
    tokens, attention = np.asarray(out["tokens"]), np.asarray(out["attention"])
    steps = math.ceil(4 * 1.5) + 2
    assert tokens.shape == (3, steps) and attention.shape == (3, steps, 4)
    for row, source_length in zip(tokens, (SOURCE != 0).sum(1)):
        length = len(words(row))
        assert length <= math.ceil(source_length * 1.5) + 2
        assert not np.isin(row[:length], [PAD_ID, START_ID, UNK_ID]).any()
        assert (row[length + 1 :] == PAD_ID).all()
    for row, rows in zip(tokens, attention):
        emitted = min(len(words(row)) + 1, len(row))  # with <end>, if it fitted
        np.testing.assert_allclose(rows[:emitted].sum(-1), 1.0, atol=1e-5)
        assert (rows[emitted:] == 0).all()
    assert (attention[1][:, 2:] == 0).all()  # padded source positions get no attention


def test_the_winners_attention_is_its_own_at_every_step():
    """The fake "attends" to the previous word: the winner's row t must show its word t-1."""
    table = np.random.default_rng(2).normal(0, 2.0, (6, VOCAB, VOCAB))
    sentences = np.arange(6, dtype="float32")[:, None]

    def next_fn(token, state, rows=None):
        logits, state, _ = table_step(table)(token, state)
        return logits, state, ops.one_hot(token, VOCAB)

    limits = np.array([5, 3, 6, 2, 6, 4], np.int32)
    tokens, attention = beam_search(
        next_fn,
        sentences,
        limits,
        6,
        beam_size=3,
        length_penalty=0.6,
        offsets=OFFSETS,
        source_length=VOCAB,
        compact=True,
    )
    for row, rows in zip(np.asarray(tokens), np.asarray(attention)):
        emitted = min(len(words(row)) + 1, len(row))  # with <end>, if it fitted
        previous = [START_ID] + list(row[: emitted - 1])
        np.testing.assert_array_equal(rows[:emitted].argmax(-1), previous)
        assert (rows[emitted:] == 0).all()


def test_the_beams_attention_is_the_decoders_over_the_words_it_chose():
    model = make_model()
    bias = model.decoder.logits.bias.numpy()
    bias[END_ID] = -2.0  # run to the length limits
    model.decoder.logits.bias.assign(bias)
    out = model.translate(SOURCE, DecodeOptions(beam_size=3))
    tokens, attention = np.asarray(out["tokens"]), np.asarray(out["attention"])
    values, final, mask = model.encoder(SOURCE)
    starts = np.full((3, 1), START_ID, np.int32)
    _, forced = model.decoder(
        np.concatenate([starts, tokens[:, :-1]], 1), model.bridge(final), values, mask
    )
    for row, (chosen, forced_rows) in enumerate(zip(tokens, np.asarray(forced))):
        emitted = min(len(words(chosen)) + 1, len(chosen))
        np.testing.assert_allclose(attention[row, :emitted], forced_rows[:emitted], atol=1e-5)


def test_a_beam_at_its_length_limit_decodes_the_same_alone_and_in_a_longer_batch():
    """Hypotheses that reach their limit take <end> there (and its log-probability), also
    when theirs is the batch's longest sentence, whose limit is the loop's last step."""
    model = make_model()
    logits = model.decoder.logits
    logits.kernel.assign(logits.kernel.numpy() * 20)  # decisive: no near ties
    bias = logits.bias.numpy()
    bias[END_ID] = -4.0  # outputs run to their limits
    logits.bias.assign(bias)
    source = np.random.default_rng(3).integers(4, 30, (6, 5)).astype(np.int32)
    source[np.arange(6)[:, None] >= 6 - np.arange(5)] = PAD_ID  # lengths 5, 5, 4, 3, 2, 1
    options = DecodeOptions(beam_size=4)
    together = np.asarray(model.translate(source, options)["tokens"])
    at_limit = 0
    for row, sentence in enumerate(source):
        alone = np.asarray(model.translate(sentence[None, sentence != PAD_ID], options)["tokens"])
        assert words(alone[0]) == words(together[row])
        at_limit += len(words(alone[0])) == 2 * (sentence != PAD_ID).sum() + 5
    assert at_limit >= 2


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_minimum_length_keeps_end_out_until_it_is_reached(beam_size, compact):
    """<end> wins every step in this table; rows with a minimum emit that many words first,
    and a row without one (an empty source) may still end at once."""
    table = np.random.default_rng(4).normal(0, 1.0, (3, VOCAB, VOCAB))
    table[:, :, END_ID] = 30.0
    sentences = np.arange(3, dtype="float32")[:, None]
    limits, minimum = np.array([5, 5, 5], np.int32), np.array([1, 2, 0], np.int32)
    if beam_size == 1:
        tokens, _ = greedy_search(
            table_step(table),
            sentences,
            limits,
            6,
            offsets=OFFSETS,
            source_length=2,
            compact=compact,
            min_lengths=minimum,
        )
    else:
        tokens, _ = beam_search(
            table_step(table),
            sentences,
            limits,
            6,
            beam_size=beam_size,
            length_penalty=0.6,
            offsets=OFFSETS,
            source_length=2,
            compact=compact,
            min_lengths=minimum,
        )
    tokens = np.asarray(tokens)
    assert [len(words(row)) for row in tokens] == [1, 2, 0]
    for row, length in zip(tokens, (1, 2, 0)):
        assert row[length] == END_ID and not np.isin(row[:length], [PAD_ID, START_ID]).any()


@pytest.mark.parametrize("beam_size", [1, 4])
def test_a_model_that_would_end_at_once_still_translates_every_non_empty_source(beam_size):
    """An untrained model whose <end> outweighs every word (the first token of a collapsed
    run): each real source gets one word or more, greedy and beam alike."""
    model = make_model()
    bias = model.decoder.logits.bias.numpy()
    bias[END_ID] = 20.0
    model.decoder.logits.bias.assign(bias)
    source = np.array([[5, 6, 7, END_ID], [9, END_ID, 0, 0], [END_ID, 0, 0, 0]], np.int32)
    tokens = np.asarray(model.translate(source, DecodeOptions(beam_size=beam_size))["tokens"])
    assert [len(words(row)) for row in tokens] == [1, 1, 0]  # the last source has no word
    assert (tokens[:2, 1] == END_ID).all() and tokens[2, 0] == END_ID
