"""Other language pairs and directions, trained end to end on small Anki-format fixtures;
rare words put back with ``decode.unk_replace``."""

import json

import numpy as np
import pytest
from conftest import ROOT, TINY, run_main

from translator.core import config as config_lib
from translator.core.errors import UserError
from translator.data.corpus import column_order, load_corpus, read_pairs
from translator.decoding.unk import Lexicon, replace_unknown

FIXTURES = ROOT / "tests" / "fixtures"
TRAIN = [
    "model.embedding_dim=32",
    "model.units=64",
    "train.epochs=12",
    "train.bleu_every_epochs=12",
    "train.early_stopping_patience=0",
    "train.max_minutes=0",
    "train.checkpoint_every_steps=1000",
    "data.valid_fraction=0.05",
    "data.test_fraction=0.05",
]


def train_pair(tmp_path, corpus, source, target, *extra):
    overrides = [
        f"data.corpus={corpus}",
        f"data.source_lang={source}",
        f"data.target_lang={target}",
    ]
    args = [f"--set={o}" for o in overrides + TRAIN + list(extra)]
    run_dir = tmp_path / f"{source}-{target}"
    done = run_main("train", "--config", TINY, "--run-dir", run_dir, "--no-progress", *args)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return run_dir


def translate(run_dir, *sentences, options=()):
    done = run_main("translate", "--run-dir", run_dir, "--json", *options, *sentences)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def test_the_source_column_follows_the_languages():
    assert column_order(["en", "auto"], "en", "fr") == (0, 1)
    assert column_order(["en", "auto"], "fr", "en") == (1, 0)
    assert column_order(["en", "es"], "es", "en") == (1, 0)
    frame, _ = read_pairs(FIXTURES / "spa-eng.txt", "es", "en")
    assert (
        frame["source"].iloc[0] == "Yo veo el perro."
        and frame["target"].iloc[0] == "I see the dog."
    )
    for columns, source, target in (
        (["en", "auto"], "de", "fr"),
        (["en", "de"], "es", "en"),
        (["en"], "es", "en"),
    ):
        with pytest.raises(UserError, match="data.columns") as error:
            column_order(columns, source, target)
        assert "\n" not in str(error.value)


def test_unknown_languages_and_columns_that_do_not_fit_are_one_line_errors(tmp_path):
    corpus = FIXTURES / "deu-eng.txt"
    for setting, message in (
        ("data.source_lang=xx", "language 'xx' has no text rules"),
        ("data.target_lang=fr", "does not fit data.source_lang de"),
    ):
        done = run_main(
            "train",
            "--config",
            TINY,
            "--run-dir",
            tmp_path / "run",
            "--set",
            f"data.corpus={corpus}",
            "--set",
            "data.source_lang=de",
            "--set",
            "data.target_lang=en",
            "--set",
            setting,
        )
        assert done.returncode == 2, done.stderr.decode()
        lines = done.stderr.decode().strip().splitlines()
        assert (
            lines[-1].startswith("error: ")
            and message in lines[-1]
            and b"Traceback" not in done.stderr
        )


def test_spanish_to_english_trains_translates_and_copies_rare_names(tmp_path):
    run_dir = train_pair(tmp_path, FIXTURES / "spa-eng.txt", "es", "en", "data.min_count=2")
    config = config_lib.load(run_dir / "config.yaml")
    train = load_corpus(config.data).split("train")
    sources = [s for s in train["source"] if s.split()[0] not in ("Ramiro", "Vera")][:20]
    outputs = translate(run_dir, *sources)
    references = dict(zip(train["source"], train["target"]))
    exact = sum(o["translation"] == references[s] for s, o in zip(sources, outputs))
    assert exact >= 16, [(s, o["translation"]) for s, o in zip(sources, outputs)]
    question = translate(run_dir, "¿Dónde está el perro?")[0]
    assert question["source_tokens"][:2] == ["¿", "Dónde"] and question["translation"].endswith("?")
    assert " ?" not in question["translation"]  # English spacing in the output
    # A name never seen in training: <unk> to the model, copied back from the source.
    name = "Maximiliano ve el gato."
    plain, copied, default = (
        translate(run_dir, name, options=["--unk-replace", "none"])[0],
        translate(run_dir, name, options=["--unk-replace", "copy"])[0],
        translate(run_dir, name)[0],
    )
    assert "Maximiliano" not in plain["translation"]
    # The default (lexicon) has no entry for an unseen name, so it falls back to copying it.
    assert default["translation"].startswith("Maximiliano"), default
    assert copied["translation"].startswith("Maximiliano"), copied
    assert copied["replaced"][0] == {
        "position": 0,
        "source": "Maximiliano",
        "word": "Maximiliano",
        "by": "copy",
    }
    assert (run_dir / "lexicon.json").is_file()  # learned with the run


def test_german_to_english_trains_and_translates(tmp_path):
    run_dir = train_pair(tmp_path, FIXTURES / "deu-eng.txt", "de", "en")
    outputs = translate(run_dir, "Ich sehe den Hund.", "Wo ist das Haus?")
    assert outputs[0]["source_tokens"] == ["Ich", "sehe", "den", "Hund", ".", "<end>"]
    assert all(o["translation"] and o["translation"][-1] in ".?" for o in outputs)


def test_replacements_use_the_attended_word_and_the_lexicon():
    attention = np.array([[0.1, 0.8, 0.05, 0.05], [0.7, 0.1, 0.1, 0.1]])
    words, replaced = replace_unknown(
        ["<unk>", "<unk>"], attention, ["Tom", "kangaroo", "."], mode="copy"
    )
    assert words == ["kangaroo", "Tom"] and [r["by"] for r in replaced] == ["copy", "copy"]
    lexicon = Lexicon.build(
        [["the", "kangaroo", "."], ["the", "dog", "."], ["a", "dog"]],
        [["le", "kangourou", "."], ["le", "chien", "."], ["un", "chien"]],
    )
    assert lexicon.get("kangaroo") == "kangourou" and lexicon.get("dog") == "chien"
    assert lexicon.get(".") is None  # punctuation is left out
    words, replaced = replace_unknown(
        ["<unk>", "<unk>"], attention, ["Tom", "kangaroo", "."], mode="lexicon", lexicon=lexicon
    )
    assert words == ["kangourou", "Tom"] and [r["by"] for r in replaced] == ["lexicon", "copy"]
    assert replace_unknown(["<unk>"], attention[:1], ["Tom"], mode="none")[0] == ["<unk>"]
