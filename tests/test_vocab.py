import json

import pytest

from translator.core.errors import UserError
from translator.data.vocab import END_ID, PAD_ID, START_ID, UNK_ID, LanguageIndex


def test_reserved_ids_and_frequency_order():
    index = LanguageIndex.build([["b", "a", "b"], ["c", "b", "a"]], "en")
    assert index.words[:4] == ["<pad>", "<unk>", "<start>", "<end>"]
    assert (PAD_ID, UNK_ID, START_ID, END_ID) == (0, 1, 2, 3)
    assert index.words[4:] == ["b", "a", "c"]


def test_min_count_and_max_size():
    sentences = [["a", "a", "a", "b", "b", "c"]]
    assert LanguageIndex.build(sentences, "en", min_count=2).words[4:] == ["a", "b"]
    assert LanguageIndex.build(sentences, "en", max_size=5).words[4:] == ["a"]


def test_unknown_word_encodes_to_unk_and_decode_stops_at_end():
    index = LanguageIndex.build([["le", "chat"]], "fr")
    ids = index.encode(["le", "zèbre"], add_start=True, add_end=True)
    assert ids == [START_ID, index.word_to_id["le"], UNK_ID, END_ID]
    assert index.decode(ids + [index.word_to_id["chat"]]) == ["le", "<unk>"]


def test_save_load_round_trip(tmp_path):
    index = LanguageIndex.build([["sœur", "été", "l'"]], "fr")
    index.save(tmp_path / "v.json")
    loaded = LanguageIndex.load(tmp_path / "v.json")
    assert loaded.words == index.words and loaded.lang == "fr"


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": "other"}),
        json.dumps([1, 2]),
        json.dumps({"format": "translator.LanguageIndex", "version": 99, "words": []}),
        json.dumps({"format": "translator.LanguageIndex", "version": 1, "words": ["a", "b"]}),
    ],
)
def test_corrupt_or_mismatched_file_is_one_line_error_naming_the_file(tmp_path, content):
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        LanguageIndex.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="missing"):
        LanguageIndex.load(tmp_path / "nope.json")
