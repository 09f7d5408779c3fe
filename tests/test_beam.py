"""Beam search: width 1 is greedy, a wide enough beam is exact search, outputs are well formed."""
import itertools
import math

import keras
import numpy as np
import pytest

from translator.beam import beam_search
from translator.model import Translator
from translator.vocab import END_ID, PAD_ID, START_ID, UNK_ID


def make_model(target_vocab=40, **kwargs):
    keras.utils.set_random_seed(7)
    model = Translator(30, target_vocab, embedding_dim=16, units=32, dropout=0.0, **kwargs)
    model.build(None)
    return model


SOURCE = np.array([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]], np.int32)


def search(model, beam_size, length_penalty, max_lengths, steps):
    values, final, mask = model.encoder(SOURCE)
    tokens = beam_search(model.decoder, model.bridge(final), values, mask, np.asarray(max_lengths, np.int32), steps,
                         beam_size, length_penalty, model.decoder.never_predicted(True))
    return np.asarray(tokens)


def test_width_one_is_greedy():
    greedy = make_model()
    beam = make_model(beam_size=1)
    beam.set_weights(greedy.get_weights())
    values, final, mask = greedy.encoder(SOURCE)
    lengths = np.array([13, 9, 7], np.int32)
    expected, _ = greedy.decoder.greedy(greedy.bridge(final), values, mask, lengths, 13)
    for found, wanted in zip(search(greedy, 1, 1.0, lengths, 13), np.asarray(expected)):
        assert words(found) == words(wanted)  # greedy stops at its limit; the beam adds <end> there


def words(row):
    """The tokens before the first <end> or padding."""
    stops = np.flatnonzero((row == END_ID) | (row == PAD_ID))
    return list(row[: stops[0]] if stops.size else row)


def sequence_log_prob(model, row, tokens):
    """Sum of the model's log-probabilities of ``tokens`` (ending in <end>) for source ``row``."""
    target_in = np.array([[START_ID] + tokens[:-1]], np.int32)
    logits, _ = model.forward((SOURCE[row : row + 1], target_in))
    logits = np.asarray(logits)[0] + model.decoder.never_predicted(True)
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    return float(sum(log_probs[i, t] for i, t in enumerate(tokens)))


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_beam_as_wide_as_all_outputs_finds_the_best_one(length_penalty):
    """3 real words, at most 2 before <end>: 1 + 3 + 9 outputs; a beam of 13 keeps them all."""
    model = make_model(target_vocab=7)
    words = [4, 5, 6]
    found = search(model, 13, length_penalty, [2, 2, 2], 3)
    for row in range(3):
        outputs = [[END_ID]] + [[w, END_ID] for w in words] + [[a, b, END_ID] for a, b in itertools.product(words, words)]
        scores = [sequence_log_prob(model, row, out) / len(out) ** length_penalty for out in outputs]
        best = outputs[int(np.argmax(scores))]
        assert list(found[row][: len(best)]) == best and (found[row][len(best):] == PAD_ID).all()


def test_outputs_are_well_formed_and_within_their_length_limit():
    model = make_model(beam_size=4, max_length_ratio=1.5, max_length_offset=2)
    out = model.predict_on_batch(SOURCE)
    tokens, attention = np.asarray(out["tokens"]), np.asarray(out["attention"])
    steps = math.ceil(4 * 1.5) + 2
    assert tokens.shape == (3, steps) and attention.shape == (3, steps, 4)
    for row, source_length in zip(tokens, (SOURCE != 0).sum(1)):
        length = int(np.flatnonzero((row == END_ID) | (row == PAD_ID))[0]) if ((row == END_ID) | (row == PAD_ID)).any() else len(row)
        assert length <= math.ceil(source_length * 1.5) + 2
        assert not np.isin(row[:length], [PAD_ID, START_ID, UNK_ID]).any()
        assert (row[length + 1 :] == PAD_ID).all()
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert (attention[1][:, 2:] == 0).all()  # padded source positions get no attention
