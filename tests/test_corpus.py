import zipfile

import pytest
from conftest import tiny_config

from translator.core.config import DataConfig
from translator.core.errors import UserError
from translator.data.corpus import load_corpus, read_pairs, split_of


def test_two_and_three_column_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(
        "Go.\tVa !\nRun!\tCours !\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (x) & #2 (y)\n",
        encoding="utf-8",
    )
    frame, report = read_pairs(path)
    assert list(frame["source"]) == ["Go.", "Run!"]
    assert list(frame["target"]) == ["Va !", "Cours !"]
    assert report.skipped == 0


def test_malformed_lines_are_skipped_and_counted_with_line_numbers(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(
        b"Go.\tVa !\nno tab here\n\tVide\nEmpty.\t  \nBad \xff\xfe\tbytes\nRun!\tCours !\n"
    )
    frame, report = read_pairs(path)
    assert len(frame) == 2
    assert dict(report.counts) == {
        "no tab": 1,
        "empty source": 1,
        "empty target": 1,
        "invalid UTF-8": 1,
    }
    assert report.examples["no tab"] == [2] and report.examples["invalid UTF-8"] == [5]
    assert "no tab (line 2)" in report.summary()


def test_zip_and_parallel_files(tmp_path):
    with zipfile.ZipFile(tmp_path / "fra-eng.zip", "w") as archive:
        archive.writestr("_about.txt", "about")
        archive.writestr("fra.txt", "Go.\tVa !\n")
    frame, _ = read_pairs(tmp_path / "fra-eng.zip")
    assert list(frame["target"]) == ["Va !"]
    (tmp_path / "train.en").write_text("Go.\nRun!\n", encoding="utf-8")
    (tmp_path / "train.fr").write_text("Va !\nCours !\n", encoding="utf-8")
    frame, _ = read_pairs(tmp_path / "train", "en", "fr")
    assert list(frame["target"]) == ["Va !", "Cours !"]
    (tmp_path / "train.fr").write_text("Va !\n", encoding="utf-8")
    with pytest.raises(UserError, match="must match"):
        read_pairs(tmp_path / "train", "en", "fr")


def test_missing_empty_and_binary_corpora_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_corpus(DataConfig(corpus=str(tmp_path / "none.txt")))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UserError, match="no usable sentence pairs"):
        load_corpus(DataConfig(corpus=str(tmp_path / "empty.txt")))
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 50)
    with pytest.raises(UserError, match="no usable sentence pairs"):
        load_corpus(DataConfig(corpus=str(tmp_path / "binary.bin")))


def test_duplicates_removed_and_length_filter(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("Go.\tVa !\nGo.\tVa !\nGo.\tVas-y !\n" + "a " * 40 + "\tb\n", encoding="utf-8")
    corpus = load_corpus(DataConfig(corpus=str(path), max_tokens=30))
    assert len(corpus.frame) == 2
    assert corpus.report.counts["duplicate pair"] == 1
    assert corpus.report.counts["longer than 30 tokens"] == 1


def test_split_is_deterministic_and_keeps_all_translations_of_a_source_together(corpus_path):
    config = tiny_config(corpus_path, "data.valid_fraction=0.2", "data.test_fraction=0.2").data
    first, second = load_corpus(config).frame, load_corpus(config).frame
    assert list(first["split"]) == list(second["split"])
    splits_per_source = first.groupby("key")["split"].nunique()
    assert (splits_per_source == 1).all()
    train_sources = set(first.loc[first["split"] == "train", "key"])
    test_sources = set(first.loc[first["split"] == "test", "key"])
    assert test_sources and not train_sources & test_sources
    assert set(first["split"]) == {"train", "valid", "test"}


def test_split_does_not_depend_on_line_order():
    assert split_of("I see the cat .", 7, 0.1, 0.1) == split_of("I see the cat .", 7, 0.1, 0.1)
    shares = [split_of(f"sentence {i}", 1, 0.1, 0.1) for i in range(5000)]
    assert 0.08 < shares.count("test") / 5000 < 0.12
