"""A tiny Transformer run end to end, as the GRU's are tested: it learns its training pairs;
on JAX, where TensorFlow cannot be imported, it trains, resumes exactly after SIGKILL and
translates as TensorFlow does; the service and the SavedModel export translate like
``translate``."""

import json
import signal

import numpy as np
import pytest
from conftest import (
    RESUMABLE_TINY_RUN,
    assert_export_translates_like_translate,
    mistranslated_training_pairs,
    train_until_learned,
)
from test_jax import (  # noqa: F401  (compilation_cache: the module's JAX cache fixture)
    TRANSLATE_TWICE,
    compilation_cache,
    jax,
    trains_and_resumes_after_sigkill_at_step_9,
)
from test_serve import request, start_server

from translator.decoding.decode import translate_sentences
from translator.training.rundir import load_run

TRANSFORMER = (
    "model.architecture=transformer",
    "model.layers=2",
    "model.heads=2",
    "model.model_dim=32",
    "model.ffn_dim=64",
)
SENTENCES = ["I see the cat.", "They have a book.", "We want the summer.", "She likes my sister."]


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory, corpus_path):
    run_dir = tmp_path_factory.mktemp("transformer") / "run"
    train_until_learned(run_dir, corpus_path, *TRANSFORMER, "train.learning_rate=0.005")
    return run_dir


def test_a_transformer_run_learns_its_training_pairs(transformer_run):
    run = load_run(transformer_run)
    assert run.model.get_config()["layers"] == 2
    wrong = mistranslated_training_pairs(run)
    assert not wrong, wrong[:5]
    for result in translate_sentences(run, SENTENCES):
        assert result.attention.shape == (len(result.target_tokens), len(result.source_tokens))
        np.testing.assert_allclose(result.attention.sum(1), 1.0, atol=1e-4)


def test_the_service_and_the_export_translate_like_translate(transformer_run, tmp_path):
    process, url = start_server(transformer_run)
    try:
        status, _, answer = request(url + "/translate", {"text": SENTENCES, "attention": True})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert status == 200
    expected = translate_sentences(load_run(transformer_run), SENTENCES)
    assert [t["translation"] for t in answer["translations"]] == [r.text for r in expected]
    for item, result in zip(answer["translations"], expected):
        np.testing.assert_allclose(np.asarray(item["attention"]), result.attention, atol=1e-4)
    assert_export_translates_like_translate(transformer_run, SENTENCES + [""], tmp_path)


def test_jax_trains_a_transformer_resumes_after_sigkill_and_tensorflow_translates_it_alike(
    tmp_path, corpus_path
):
    args = [*RESUMABLE_TINY_RUN, "--set", f"data.corpus={corpus_path}", "--set", "train.epochs=1"]
    for override in TRANSFORMER:
        args += ["--set", override]
    clean = trains_and_resumes_after_sigkill_at_step_9(args, tmp_path)
    (tmp_path / "translate.py").write_text(TRANSLATE_TWICE)
    done = jax("--script", str(tmp_path / "translate.py"), str(clean), *SENTENCES)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for beam, on_jax in ((1, lines[: len(SENTENCES)]), (3, lines[len(SENTENCES) :])):
        on_tensorflow = translate_sentences(load_run(clean, beam_size=beam), SENTENCES)
        assert [r.target_tokens for r in on_tensorflow] == [o["target_tokens"] for o in on_jax]
        for result, other in zip(on_tensorflow, on_jax):
            np.testing.assert_allclose(result.attention, np.asarray(other["attention"]), atol=1e-4)
