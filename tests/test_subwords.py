"""Subword vocabularies (SentencePiece unigram and BPE): pieces, words, attention, a whole run."""

import json

import numpy as np
import pytest
from conftest import (
    assert_export_translates_like_translate,
    mistranslated_training_pairs,
    run_main,
    tiny_config,
    train_until_learned,
)
from synthetic import synthetic_pairs

from translator.core.errors import UserError
from translator.data.subwords import SubwordIndex, groups_of, load_index, word_attention
from translator.data.text import tokenize
from translator.data.vocab import END_ID, UNK_ID
from translator.decoding.decode import translate_sentences
from translator.training.rundir import load_run

FRENCH = [tokenize(fr, "fr") for _, fr in synthetic_pairs()]
UNSEEN = [["Zoë", "mange", "des", "kiwis", "."], ["漢字", "☃", "l'", "œuvre"], ["aujourd'hui"]]


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_pieces_spell_every_sentence_and_unseen_words_without_unk(kind):
    index = SubwordIndex.build(FRENCH, "fr", 300, kind)
    assert 260 < len(index) <= 300  # reserved + 256 byte pieces + what the corpus supports
    for tokens in FRENCH + UNSEEN:
        ids = index.encode(tokens, add_start=True, add_end=True)
        assert ids[0] == 2 and ids[-1] == END_ID and UNK_ID not in ids
        assert index.decode(ids) == tokens
        assert max(index.word_of_piece(ids)) == len(tokens) + 1  # <start> and <end> on their own


def test_the_same_sentences_give_the_same_pieces_and_a_saved_index_loads_back(tmp_path):
    first, second = (SubwordIndex.build(FRENCH, "fr", 300) for _ in range(2))
    assert first.model_proto == second.model_proto and first.words == second.words
    first.save(tmp_path / "vocab.json")
    loaded = load_index(tmp_path / "vocab.json")
    assert isinstance(loaded, SubwordIndex) and (loaded.lang, loaded.kind) == ("fr", "unigram")
    assert loaded.words == first.words and loaded.encode(UNSEEN[0]) == first.encode(UNSEEN[0])


@pytest.mark.parametrize(
    "change", [{"sentencepiece": "bm90IGEgbW9kZWw="}, {"sentencepiece": "%%"}, {"version": 9}]
)
def test_a_damaged_piece_vocabulary_is_one_line_error(tmp_path, change):
    path = tmp_path / "vocab.json"
    path.write_text(
        json.dumps(json.loads(SubwordIndex.build(FRENCH, "fr", 300).to_json()) | change)
    )
    with pytest.raises(UserError) as error:
        load_index(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_word_attention_sums_a_source_words_pieces_and_averages_a_target_words():
    pieces = np.array([[0.5, 0.25, 0.25], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], np.float32)
    words = word_attention(pieces, rows=[[0, 1], [2]], columns=[[0], [1, 2]])
    np.testing.assert_allclose(words, [[0.25, 0.75], [1.0, 0.0]])
    assert groups_of([0, 0, 1, 2, 2]) == [[0, 1], [2], [3, 4]]
    assert word_attention(pieces, rows=[], columns=[[0], [1, 2]]).shape == (0, 2)


def test_spell_joins_pieces_into_words_and_skips_a_lone_word_mark():
    index = SubwordIndex.build(FRENCH, "fr", 300)
    ids = index.encode(["l'", "été", "."])
    lone_mark = index.words.index("\u2581")
    words, rows = index.spell([*ids, lone_mark])
    assert words == ["l'", "été", "."] and [p for row in rows for p in row] == list(range(len(ids)))


@pytest.fixture(scope="module")
def subword_run(tmp_path_factory, corpus_path):
    """A tiny unigram run trained until it reproduces its training pairs."""
    run_dir = tmp_path_factory.mktemp("subwords") / "run"
    train_until_learned(run_dir, corpus_path, "data.vocab=unigram", "data.vocab_size=300")
    return run_dir


def test_a_subword_run_learns_its_training_pairs_and_shows_words(subword_run):
    run = load_run(subword_run)
    assert run.unk_replace == "none" and not (subword_run / "lexicon.json").exists()
    wrong = mistranslated_training_pairs(run)
    assert not wrong, wrong[:5]
    zebra, sister = translate_sentences(run, ["I see the zebra.", "She likes my sister."])
    assert zebra.source_tokens == ["I", "see", "the", "zebra", ".", "<end>"]
    assert sister.text == "Elle aime ma sœur."
    for result in (zebra, sister):
        assert "<unk>" not in result.target_tokens
        assert result.attention.shape == (len(result.target_tokens), len(result.source_tokens))
        np.testing.assert_allclose(result.attention.sum(1), 1.0, atol=1e-4)
        assert len(result.source_pieces) >= len(result.source_tokens)
        spelled = "".join(result.target_pieces).replace("\u2581", "")
        assert spelled == "".join(result.target_tokens)


def test_translate_json_has_words_and_pieces_and_lexicon_says_it_has_nothing_to_do(
    subword_run, tmp_path
):
    done = run_main("translate", "--run-dir", subword_run, "--json", "I see the zebra.")
    assert done.returncode == 0, done.stderr
    item = json.loads(done.stdout)
    assert item["source_tokens"] == ["I", "see", "the", "zebra", ".", "<end>"]
    assert len(item["attention"]) == len(item["target_tokens"])
    assert {len(row) for row in item["attention"]} == {len(item["source_tokens"])}
    assert item["source_pieces"][-1] == "<end>" and item["target_pieces"]
    done = run_main("translate", "--run-dir", subword_run, "--unk-replace", "lexicon", "I see.")
    assert done.returncode == 0 and "no work to do" in done.stderr.decode()


def test_the_export_spells_pieces_in_the_graph_and_translates_like_translate(subword_run, tmp_path):
    sentences = ["I see the zebra.", "She likes my sister.", "", "Zoë sees 漢字 !"]
    assert_export_translates_like_translate(subword_run, sentences, tmp_path)


def test_a_joint_vocabulary_is_shared_by_both_sides(tmp_path, corpus_path):
    from translator.training.train import train

    config = tiny_config(
        corpus_path,
        "data.vocab=bpe",
        "data.vocab_size=320",
        "data.joint_vocab=true",
        "train.epochs=1",
    )
    train(config, tmp_path / "joint", show_progress=False, log=lambda *_: None, evaluate_test=False)
    source = load_index(tmp_path / "joint" / "vocab.source.json")
    target = load_index(tmp_path / "joint" / "vocab.target.json")
    assert source.words == target.words and source.kind == "bpe"
    assert source.encode(["chat"]) == target.encode(["chat"])  # a French word on either side
    assert source.decode(source.encode(["the", "cat"])) == ["the", "cat"]
