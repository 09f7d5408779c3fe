"""Decoding, translate / evaluate / plot on a small trained run."""

import json

import numpy as np
import pytest
from conftest import mistranslated_training_pairs, run_main

from translator.decoding.decode import translate_sentences
from translator.serving.plotting import heatmap, heatmap_grid
from translator.training.rundir import load_run


@pytest.fixture(scope="module")
def run(trained_run):
    return load_run(trained_run[0])


def cli(*args, stdin=""):
    return run_main(*args, stdin=stdin.encode())


def test_overfit_model_decodes_its_training_targets_exactly(run):
    wrong = mistranslated_training_pairs(run)
    assert not wrong, wrong[:5]


def test_attention_matrix_is_target_by_source_and_rows_sum_to_one(run):
    results = translate_sentences(
        run, ["I see the cat.", "They have a book.", "We want the summer."]
    )
    for result in results:
        assert result.attention.shape == (len(result.target_tokens), len(result.source_tokens))
        np.testing.assert_allclose(result.attention.sum(1), 1.0, atol=1e-4)
        assert "<end>" not in result.target_tokens


def test_batched_and_single_decoding_agree_and_keep_order(run):
    sentences = ["I see the cat.", "", "She likes my sister.", "They want an apple."]
    batched = [r.text for r in translate_sentences(run, sentences)]
    single = [translate_sentences(run, [s])[0].text for s in sentences]
    assert batched == single and batched[1] == ""


def test_unknown_words_show_as_unk_and_never_crash(run):
    result = translate_sentences(run, ["I see the zebra."])[0]
    assert result.source_tokens == ["I", "see", "the", "<unk>", ".", "<end>"]
    assert result.text


def test_overlong_input_warns_and_keeps_the_start(run):
    warnings = []
    long = "I see the cat. " * 60
    result = translate_sentences(run, [long], warn=warnings.append)[0]
    assert result.truncated and len(result.source_tokens) == run.config.decode.max_source_tokens + 1
    assert result.source_tokens[:4] == ["I", "see", "the", "cat"]
    assert warnings and "max_source_tokens" in warnings[0]


def test_translate_cli_json_empty_lines_and_order(trained_run, tmp_path):
    run_dir = trained_run[0]
    done = cli(
        "translate",
        "--run-dir",
        str(run_dir),
        "--json",
        stdin="I see the cat.\n\nWe like the dog.\n",
    )
    assert done.returncode == 0, done.stderr.decode()
    objects = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [o["source"] for o in objects] == ["I see the cat.", "", "We like the dog."]
    assert objects[1]["translation"] == "" and objects[1]["attention"] == []
    first = objects[0]
    assert np.asarray(first["attention"]).shape == (
        len(first["target_tokens"]),
        len(first["source_tokens"]),
    )
    plain = cli("translate", "--run-dir", str(run_dir), "I see the cat.", "", "We like the dog.")
    assert plain.stdout.decode().splitlines() == [o["translation"] for o in objects]


def test_translate_cli_plots_and_input_file(trained_run, tmp_path):
    run_dir = trained_run[0]
    (tmp_path / "in.txt").write_bytes(b"I see the cat.\nBad \xff line.\nShe has a book.\n")
    done = cli(
        "translate",
        "--run-dir",
        str(run_dir),
        "--input",
        str(tmp_path / "in.txt"),
        "--plot",
        str(tmp_path / "plots"),
    )
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout.decode().splitlines()) == 3
    assert "line 2 is not valid UTF-8" in done.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        f"attention-000{i}.png" for i in (1, 2, 3)
    ]


def test_evaluate_and_plot_commands(trained_run, tmp_path):
    run_dir = trained_run[0]
    done = cli("evaluate", "--run-dir", str(run_dir), "--split", "test")
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads((run_dir / "eval-test.json").read_text())
    assert report["bleu"] > 50 and report["bleu_signature"].startswith("nrefs:")
    assert "| test |" in (run_dir / "eval-test.md").read_text()
    done = cli("plot", "--run-dir", str(run_dir), "--count", "3", "--out", str(tmp_path / "plots"))
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "plots" / "grid.png").stat().st_size > 1000


def test_heatmap_has_one_tick_per_token():
    matrix = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    figure = heatmap(matrix, ["J'", "été", "!"], ["sœur", "<unk>"], title="à l'été")
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["J'", "été", "!"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sœur", "<unk>"]
    assert len(figure.axes) == 2  # the heatmap and its colorbar
    with pytest.raises(ValueError, match="does not match"):
        heatmap(matrix.T, ["a", "b", "c"], ["x", "y"])
    grid = heatmap_grid([(matrix, ["a", "b", "c"], ["x", "y"], "one")] * 3)
    assert sum(ax.get_visible() for ax in grid.axes) == 4  # three heatmaps and a colorbar


def test_heatmap_files_png_and_svg(tmp_path):
    from translator.serving.plotting import save_heatmap

    for suffix in ("png", "svg"):
        path = save_heatmap(np.eye(2), ["a", "b"], ["x", "y"], tmp_path / f"h.{suffix}")
        assert path.stat().st_size > 500


def test_decoding_options_override_the_run_config(trained_run):
    from translator.core.errors import UserError

    run = load_run(trained_run[0], beam_size=3, length_penalty=0.0)
    assert (run.options.beam_size, run.options.length_penalty) == (3, 0.0)
    default = load_run(trained_run[0])
    assert default.options.length_penalty == default.config.decode.length_penalty
    assert default.options.beam_size == default.config.decode.beam_size
    with pytest.raises(UserError, match="--length-penalty must be 0 or more"):
        load_run(trained_run[0], length_penalty=-0.5)
    # The shortlist: learned with the run, used unless 0 asks for the whole vocabulary.
    assert default.options.shortlist == default.config.decode.shortlist > 0
    assert default.model.shortlist is not None
    assert (trained_run[0] / "shortlist.npz").is_file()
    assert load_run(trained_run[0], shortlist=0).model.shortlist is None
    with pytest.raises(UserError, match="--shortlist must be 0"):
        load_run(trained_run[0], shortlist=-1)
    done = cli(
        "translate",
        "--run-dir",
        str(trained_run[0]),
        "--length-penalty",
        "0",
        "--beam-size",
        "2",
        "I see the cat.",
    )
    assert done.returncode == 0 and done.stdout.decode().strip(), done.stderr.decode()[-1000:]
