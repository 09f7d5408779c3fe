"""Decoding parts: a small model trained to a fixed step count, decoded one sentence at
a time and in batches, beside the reference's eager loop."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from scripts.benchmark.common import DECODE_MODEL_STEPS, MODEL_DIR, ROOT, load_config, peak_rss_mb


def decode_model(quick: bool):
    """A small model (emb 128 / units 256) trained for a fixed number of steps, kept on disk."""
    import keras

    from translator.core import backends
    from translator.data.pipeline import BatchPlan, encode_pairs
    from translator.models.model import build_model
    from translator.training import rundir

    config, corpus, source, target = load_config("train_small", quick)
    config.model.bidirectional = True
    steps = 200 if quick else DECODE_MODEL_STEPS
    path = MODEL_DIR / f"model-{steps}-{config.model.dtype}.keras"
    if path.is_file():
        return rundir.load_model(path), config, corpus, source, target, f"{path.relative_to(ROOT)}"
    plan = BatchPlan(*encode_pairs(corpus.split("train"), source, target), config.train.batch_size)
    keras.utils.set_random_seed(0)
    model = build_model(config, len(source), len(target), len(plan))
    epochs = -(-steps // len(plan))
    for epoch in range(epochs):
        model.fit(
            backends.training_batches(plan, epoch),
            verbose=0,
            steps_per_epoch=min(len(plan), steps - epoch * len(plan)),
        )
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return (
        model,
        config,
        corpus,
        source,
        target,
        f"trained here: {steps} steps, {path.relative_to(ROOT)}",
    )


def worker_decode(quick: bool) -> dict:
    """Decoding speed of a trained small model, and its greedy outputs' lengths.

    Timed with the config's vocabulary shortlist (what ``translate`` does) and, beside it,
    over the whole vocabulary (``decode.shortlist`` 0).
    """
    from translator.data.pipeline import encode_pairs
    from translator.decoding.decode import translate_tokens
    from translator.models.search import DecodeOptions
    from translator.models.shortlist import Shortlist

    model, config, corpus, source, target, origin = decode_model(quick)
    train_pairs = encode_pairs(corpus.split("train"), source, target)
    model.shortlist = Shortlist.build(*train_pairs, len(source), len(target))
    sentences = list(corpus.split("test")["source_tokens"])
    singles = sentences[: 20 if quick else 100]
    batched = (sentences * (1 + 1000 // len(sentences)))[: 200 if quick else 1000]
    report = {
        "model": origin,
        "test_sentences": len(singles),
        "batched_sentences": len(batched),
        "shortlist": config.decode.shortlist,
        "whole_vocabulary": {},
    }

    def translate(items, options, batch_size):
        return translate_tokens(
            model, source, target, items, options=options, batch_size=batch_size, target_lang="fr"
        )

    # The config's decoding, then, if it uses a shortlist, the whole vocabulary beside it.
    settings = [(report, config.decode.shortlist)]
    if config.decode.shortlist:
        settings.append((report["whole_vocabulary"], 0))
    for into, shortlist in settings:
        into |= time_searches(translate, config.decode, shortlist, singles, batched)
    greedy_options = DecodeOptions.from_config(config.decode, beam_size=1)
    greedy = translate(singles, greedy_options, config.decode.batch_size)  # one batch
    lengths = [len(r.target_tokens) + 1 for r in greedy]  # + <end>
    report["greedy_output_lengths"] = lengths  # for the reference's loop, run on TensorFlow
    return report | {"peak_rss_mb": peak_rss_mb()}


def time_searches(translate, decode_config, shortlist, singles, batched) -> dict:
    """Greedy and beam 5: sentences per second in batches, and the median milliseconds of
    one sentence alone, after a warm-up that traces every shape."""
    from translator.models.search import DecodeOptions

    timings = {}
    for name, width in (("greedy", 1), ("beam", 5)):
        options = DecodeOptions.from_config(decode_config, beam_size=width, shortlist=shortlist)
        translate(batched[:300], options, decode_config.batch_size)  # warm-up: trace
        for sentence in singles[:5]:
            translate([sentence], options, 1)
        started = time.perf_counter()
        translate(batched, options, decode_config.batch_size)
        batched_rate = len(batched) / (time.perf_counter() - started)
        times = []
        for sentence in singles:
            started = time.perf_counter()
            translate([sentence], options, 1)
            times.append(time.perf_counter() - started)
        timings[name] = {
            "batched_sentences_per_s": round(batched_rate, 1),
            "single_sentence_ms": round(1000 * statistics.median(times), 2),
        }
    return timings


def worker_decode_run(run_dir: str, quick: bool) -> dict:
    """Decoding speed of a trained run (the Transformer's, ``runs/transformer``) on its own
    test split, with its own vocabularies, shortlist and decoding settings."""
    import dataclasses

    from translator.data.corpus import load_corpus
    from translator.decoding.decode import translate_run
    from translator.training.rundir import load_run

    run = load_run(run_dir)
    data = run.config.data
    data.corpus = str(ROOT / data.corpus)  # as load_config does (an absolute path stays)
    sentences = list(load_corpus(data).split("test")["source_tokens"])
    singles = sentences[: 20 if quick else 100]
    batched = (sentences * (1 + 1000 // len(sentences)))[: 200 if quick else 1000]

    def translate(items, options, batch_size):
        return translate_run(dataclasses.replace(run, options=options), items, batch_size)

    timings = time_searches(
        translate, run.config.decode, run.config.decode.shortlist, singles, batched
    )
    return {
        "model": f"{Path(run_dir).name} ({run.config.model.architecture}, {run.checkpoint.name})",
        "test_sentences": len(singles),
        "batched_sentences": len(batched),
        "shortlist": run.config.decode.shortlist,
        **timings,
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_reference_decode(quick: bool) -> dict:
    """The tutorial's eager one-sentence loop on TensorFlow, for as many words as ours wrote.

    Its own process on TensorFlow whatever backend this project's parts use: the recipe is
    TensorFlow code, and run under another Keras backend it would measure the mix.
    """
    from scripts.reference import Reference

    _, corpus, source, target = load_config("train_small", quick)
    sentences = list(corpus.split("test")["source_tokens"])
    lengths = json.loads(os.environ["BENCHMARK_LENGTHS"])
    reference = Reference(len(source), len(target), 128, 256, 1)
    width = max(len(s) for s in sentences) + 1
    encoded = [source.encode(s, add_end=True) for s in sentences[: len(lengths)]]
    reference.translate(encoded[0], width, 3)  # warm-up
    started = time.perf_counter()
    for ids, steps in zip(encoded, lengths):
        reference.translate(ids, width, steps)
    rate = len(encoded) / (time.perf_counter() - started)
    return {"reference_sentences_per_s": round(rate, 2), "peak_rss_mb": peak_rss_mb()}
