"""Vocabulary shortlists: what is learned, and that decoding over one is decoding restricted.

Decoding with a shortlist that holds every word must equal decoding over the vocabulary; a
smaller one must keep every output inside each sentence's own shortlist, and a sentence must
translate the same alone as beside others whose shortlists differ.
"""

import keras
import numpy as np
import pytest

from translator.core.errors import UserError
from translator.data.vocab import END_ID, PAD_ID
from translator.models.model import Translator
from translator.models.search import DecodeOptions
from translator.models.shortlist import RESERVED, Shortlist

TARGET_VOCAB = 40


def test_build_keeps_frequent_words_and_each_source_words_company():
    # source 4 always meets target 10, source 5 meets 11 twice and 12 once; target 20 is in
    # every pair (common); <end> (id 3) ends every sentence and gets no candidates.
    sources = [[4, 3], [4, 3], [5, 3], [5, 3], [5, 6, 3]]
    targets = [[20, 10, 3], [20, 10, 3], [20, 11, 3], [20, 11, 3], [20, 12, 3]]
    shortlist = Shortlist.build(sources, targets, 8, 30, common_words=1, max_per_word=3)
    assert shortlist.common.tolist() == [*RESERVED.tolist(), 20]
    assert shortlist.table(3)[4].tolist() == [10, PAD_ID, PAD_ID]
    assert shortlist.table(3)[5].tolist() == [11, 12, PAD_ID]  # Dice 0.8 before 0.5
    assert shortlist.table(1)[5].tolist() == [11]
    assert shortlist.table(3)[6].tolist() == [12, PAD_ID, PAD_ID]
    assert not shortlist.table(3)[END_ID].any()
    assert shortlist.words_for([5, 3], 1) == {*RESERVED.tolist(), 20, 11}


def test_save_and_load_round_trip_and_a_damaged_file_is_refused(tmp_path):
    shortlist = Shortlist.build([[4, 3]], [[9, 3]], 6, 12, common_words=2)
    shortlist.save(tmp_path / "shortlist.npz")
    loaded = Shortlist.load(tmp_path / "shortlist.npz")
    np.testing.assert_array_equal(loaded.candidates, shortlist.candidates)
    np.testing.assert_array_equal(loaded.common, shortlist.common)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="unreadable"):
        Shortlist.load(tmp_path / "bad.npz")


def make_model():
    keras.utils.set_random_seed(7)
    model = Translator(
        source_vocab_size=30, target_vocab_size=TARGET_VOCAB, embedding_dim=16, units=32
    )
    model.build(None)
    # Decisive logits: an untrained model's are so flat that a beam's choices are near ties,
    # which rounding in products of another width can flip. And it would end at once.
    logits = model.decoder.logits
    logits.kernel.assign(logits.kernel.numpy() * 20)
    bias = logits.bias.numpy()
    bias[END_ID] = -3.0
    logits.bias.assign(bias)
    return model


SOURCE = np.random.default_rng(3).integers(4, 30, (6, 5)).astype(np.int32)
SOURCE[np.arange(6)[:, None] >= 6 - np.arange(5)] = PAD_ID  # lengths 5, 5, 4, 3, 2, 1


def random_shortlist(per_word, common_words):
    """Each source word gets ``per_word`` random target words; ``common_words`` for all."""
    rng = np.random.default_rng(1)
    candidates = np.stack(
        [rng.permutation(np.arange(4, TARGET_VOCAB))[:per_word] for _ in range(30)]
    )
    common = np.concatenate([RESERVED, np.arange(4, 4 + common_words)]).astype(np.int32)
    return Shortlist(candidates, common)


def decode(model, source, beam_size, shortlist):
    model.shortlist = shortlist
    options = DecodeOptions(beam_size=beam_size, shortlist=3)
    model.decoding = DecodeOptions()  # a fresh compiled function per call
    return {k: np.asarray(v) for k, v in model.translate(source, options).items()}


def words(row):
    stops = np.flatnonzero((row == END_ID) | (row == PAD_ID))
    return row[: stops[0]] if stops.size else row


@pytest.mark.parametrize("beam_size", [1, 4])
def test_a_shortlist_of_every_word_decodes_as_the_whole_vocabulary(beam_size):
    model = make_model()
    full = decode(model, SOURCE, beam_size, None)
    every = decode(model, SOURCE, beam_size, random_shortlist(3, TARGET_VOCAB - 4))
    np.testing.assert_array_equal(every["tokens"], full["tokens"])
    np.testing.assert_allclose(every["attention"], full["attention"], atol=1e-5)


def test_outputs_stay_in_each_sentences_shortlist_whatever_is_decoded_beside_it():
    """With a beam (greedy search is its width-1 case): each row is searched, normalised
    and masked over its own shortlist, whatever the union of the batch's is."""
    model, shortlist, beam_size = make_model(), random_shortlist(3, 2), 4
    together = decode(model, SOURCE, beam_size, shortlist)["tokens"]
    full = decode(model, SOURCE, beam_size, None)["tokens"]
    assert not np.array_equal(together, full)  # the shortlist did restrict something
    for row, source in enumerate(SOURCE):
        allowed = shortlist.words_for(source[source != PAD_ID], 3)
        assert set(words(together[row]).tolist()) <= allowed
        alone = decode(model, source[None, : (source != PAD_ID).sum()], beam_size, shortlist)
        np.testing.assert_array_equal(words(alone["tokens"][0]), words(together[row]))
