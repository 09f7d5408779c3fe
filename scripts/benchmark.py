"""Speed benchmark: this project beside a reference implementation, on one machine, in one run.

    make bench        # or: .venv/bin/python -m scripts.benchmark [--backend jax] [--quick]
    .venv/bin/python -m scripts.benchmark --readme   # rewrite README's table from the JSON

Writes ``runs/benchmark.json`` and ``runs/benchmark.md``. Every part runs in its own
subprocess (its own peak memory, one heavy job at a time):

* in each of ``--rounds`` rounds: the machine's matmul rate (2048x2048 fp32 products), the
  yardstick for "% of matmul", then every training part with its reference right after it;
* training: this project's trainer (``train_small``/``train_large``: the tutorial's sizes with
  a unidirectional encoder; ``train_default``: configs/default.yaml; on a GPU also
  ``train_gpu``) and the tutorial's recipe (``scripts/reference.py``) at the same sizes, on
  the first 30,000 pairs of the corpus with vocabularies capped at 4,500 / 7,800 words;
* decoding with a small model trained to a fixed step count (kept in ``runs/bench-model``):
  one sentence greedy and beam 5 (median of 100 test sentences), batched greedy, and the
  reference's eager one-sentence loop run (on TensorFlow, in its own process) for as many
  words as this model's outputs have.

Ratios (``ratio_vs_reference``) are only ever taken between figures of the same round.
On JAX an untimed first pass over the measured batches compiles every shape, and the probe
runs on JAX's default device (the GPU, where there is one). Without TensorFlow (a JAX-only
GPU install) the reference parts are left out and their ratios reported as not measured.
"Useful" FLOPs count 3 x 2 x the forward pass's multiply-adds over real (non-pad) tokens.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "benchmark.json"
MODEL_DIR = ROOT / "runs" / "bench-model"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZES = {  # name: (embedding, units, batch); a unidirectional encoder, as the tutorial's
    "train_small": (128, 256, 64),
    "train_large": (256, 1024, 64),
    "train_default": None,  # configs/default.yaml as it is
    "train_gpu": None,  # configs/gpu.yaml as it is (only where a GPU is found)
}
VOCAB_CAPS = (4500, 7800)
PAIRS = 30000
DECODE_MODEL_STEPS = 2000  # batch 64: about 4 epochs of the 30,000 pairs
REFERENCED = ("train_small", "train_large")  # the parts timed beside the tutorial's recipe
# Over the rounds: figures given as medians, the reference's too, and those listed per round.
MEDIAN_KEYS = (
    "median_ms_per_step",
    "real_tokens_per_s",
    "pairs_per_s",
    "useful_gflops_per_s",
    "percent_of_matmul",
    "ratio_vs_reference",
)
REFERENCE_KEYS = ("median_ms_per_step", "real_tokens_per_s")
ROUND_KEYS = ("real_tokens_per_s", "percent_of_matmul", "ratio_vs_reference")
BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}  # /proc/cpuinfo's names for native products
TARGETS = {  # what issue #14 asks for, checked in the report
    "train_small": {"ratio_vs_reference": 3.5, "percent_of_matmul": 50},
    "train_large": {"ratio_vs_reference": 4.5},
    "train_default": {"percent_of_matmul": 65},
}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_config(name: str, quick: bool):
    """The config of a benchmark part, its training split and vocabularies."""
    from translator.core import config as config_lib
    from translator.data.corpus import load_corpus
    from translator.data.vocab import LanguageIndex

    overrides = json.loads(os.environ.get("BENCHMARK_OVERRIDES", "[]"))
    path = ROOT / "configs" / ("gpu.yaml" if name == "train_gpu" else "default.yaml")
    config = config_lib.load(path, overrides)
    config.data.corpus = str(ROOT / config.data.corpus)
    if SIZES.get(name):
        config.model.embedding_dim, config.model.units, config.train.batch_size = SIZES[name]
        config.model.bidirectional = False
    config.data.max_pairs = 3000 if quick else PAIRS
    corpus = load_corpus(config.data)
    train = corpus.split("train")
    source = LanguageIndex.build(train["source_tokens"], "en", 1, VOCAB_CAPS[0])
    target = LanguageIndex.build(train["target_tokens"], "fr", 1, VOCAB_CAPS[1])
    return config, corpus, source, target


def useful_forward_macs(model_config, target_vocab: int, source_lengths, target_lengths) -> float:
    """Multiply-adds of one forward pass over real tokens, each matrix product once."""
    m = model_config
    E, U, V = m.embedding_dim, m.units, target_vocab
    A = m.attention_units or U
    cell = U // 2 if m.bidirectional else U
    directions = 2 if m.bidirectional else 1
    encoder_per_token = directions * 3 * cell * (E + cell) * m.encoder_layers + U * A
    decoder_per_token = 3 * U * E + U * (A + 3 * U) + U * 3 * U + (U + U + E) * E + E * V
    macs = 0.0
    for s, t in zip(source_lengths, target_lengths):
        macs += s * encoder_per_token + t * decoder_per_token + t * s * (A + U) + U * U
    return macs


def worker_train(name: str, quick: bool) -> dict:
    """This project's training speed on the first steps of an epoch."""
    import keras
    import numpy as np

    from translator.core import backends
    from translator.models.model import build_model
    from translator.data.pipeline import BatchPlan, encode_pairs

    config, corpus, source, target = load_config(name, quick)
    pairs = encode_pairs(corpus.split("train"), source, target)
    plan = BatchPlan(
        *pairs, config.train.batch_size, seed=0, bucket_width=config.train.bucket_width
    )
    keras.utils.set_random_seed(0)
    devices = backends.use_devices(config.train.devices, config.train.batch_size)
    model = build_model(config, len(source), len(target), len(plan))
    warmup = 5
    measured, repeats = (5, 2) if quick else (30 if name != "train_large" else 12, 3)
    batches = plan.batches(0)[: warmup + measured * repeats]
    first_pass_s = None
    if backends.name() != "tensorflow":
        # A compiling backend (JAX) builds one step function per batch shape: a first pass
        # over the same batches compiles every shape, so that no timed step includes it.
        started = time.perf_counter()
        model.fit(backends.training_batches(plan, 0), steps_per_epoch=len(batches), verbose=0)
        first_pass_s = round(time.perf_counter() - started, 1)
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    started = time.perf_counter()
    model.fit(
        backends.training_batches(plan, 0),
        steps_per_epoch=len(batches),
        verbose=0,
        callbacks=[Clock()],
    )
    step_s = np.diff([started] + times)[warmup:]
    chosen = batches[warmup:]
    real_target = sum(int(plan.target_lengths[b].sum() - len(b)) for b in chosen)
    source_lengths = [plan.source_lengths[i] for b in chosen for i in b]
    target_lengths = [plan.target_lengths[i] - 1 for b in chosen for i in b]
    macs = useful_forward_macs(config.model, len(target), source_lengths, target_lengths)
    total_s = float(step_s.sum())
    return {
        "backend": backends.name(),
        "device": backends.available_devices()[0],
        "devices": len(devices),
        "dtype": model.dtype_policy.name,
        "embedding": config.model.embedding_dim,
        "units": config.model.units,
        "batch": config.train.batch_size,
        "bidirectional": config.model.bidirectional,
        "vocab": [len(source), len(target)],
        "steps_measured": len(step_s),
        "first_pass_s": first_pass_s,  # compiling backends: the untimed pass that compiles
        "median_ms_per_step": round(1000 * float(np.median(step_s)), 1),
        "ms_per_step_repeats": [
            round(1000 * float(np.median(step_s[i * measured : (i + 1) * measured])), 1)
            for i in range(repeats)
        ],
        "real_tokens_per_s": round(real_target / total_s, 1),
        "pairs_per_s": round(sum(len(b) for b in chosen) / total_s, 1),
        "real_token_share": round(plan.real_token_share(0), 3),
        "useful_gflops_per_s": round(6 * macs / total_s / 1e9, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_reference(name: str, quick: bool) -> dict:
    """The tutorial recipe's training speed at the same sizes and data."""

    from scripts.reference import Reference
    from translator.data.pipeline import encode_pairs

    config, corpus, source, target = load_config(name, quick)
    sources, targets = encode_pairs(corpus.split("train"), source, target)
    embedding, units, batch = SIZES[name]
    reference = Reference(len(source), len(target), embedding, units, batch)
    warmup, measured = (2, 5) if quick else (3, 20 if name != "train_large" else 8)
    times, real = [], 0
    for step, (inp, targ) in enumerate(reference.batches(sources, targets)):
        if step == warmup + measured:
            break
        started = time.perf_counter()
        float(reference.train_step(inp, targ))
        if step >= warmup:
            times.append(time.perf_counter() - started)
            real += int((targ[:, 1:] != 0).sum())
    return {
        "embedding": embedding,
        "units": units,
        "batch": batch,
        "steps_measured": measured,
        "padded_shape": [int(max(len(s) for s in sources)), int(max(len(t) for t in targets))],
        "median_ms_per_step": round(1000 * statistics.median(times), 1),
        "real_tokens_per_s": round(real / sum(times), 1),
        "peak_rss_mb": peak_rss_mb(),
    }


def decode_model(quick: bool):
    """A small model (emb 128 / units 256) trained for a fixed number of steps, kept on disk."""
    import keras

    from translator.core import backends
    from translator.training import rundir
    from translator.models.model import build_model
    from translator.data.pipeline import BatchPlan, encode_pairs

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
    from translator.decoding.decode import translate_tokens
    from translator.data.pipeline import encode_pairs
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
        for name, width in (("greedy", 1), ("beam", 5)):
            options = DecodeOptions.from_config(config.decode, beam_size=width, shortlist=shortlist)
            translate(batched[:300], options, config.decode.batch_size)  # warm-up: trace
            for sentence in singles[:5]:
                translate([sentence], options, 1)
            started = time.perf_counter()
            results = translate(batched, options, config.decode.batch_size)
            batched_rate = len(batched) / (time.perf_counter() - started)
            times = []
            for sentence in singles:
                started = time.perf_counter()
                translate([sentence], options, 1)
                times.append(time.perf_counter() - started)
            into[name] = {
                "batched_sentences_per_s": round(batched_rate, 1),
                "single_sentence_ms": round(1000 * statistics.median(times), 2),
            }
            if name == "greedy" and into is report:
                lengths = [len(r.target_tokens) + 1 for r in results[: len(singles)]]  # + <end>
    report["greedy_output_lengths"] = lengths  # for the reference's loop, run on TensorFlow
    return report | {"peak_rss_mb": peak_rss_mb()}


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


def cpu_facts(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU's model name, and whether it multiplies bfloat16 natively (Linux; else unknown).

    Mixed bfloat16 training measured 1.3-1.7x faster on a CPU with AVX512_BF16 and 7-16 %
    slower on one with only AVX2, so a figure means little without this beside it.
    """
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return {"cpu_model": "", "native_bfloat16": None}
    fields = {}
    for line in lines:  # the first processor's block is enough
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name", ""),
        "native_bfloat16": bool(flags & BFLOAT16_CPU_FLAGS),
    }


def worker_matmul(backend: str) -> dict:
    """fp32 2048x2048 matrix products per second on the device the parts train on.

    JAX's default device (a GPU where there is one) for ``--backend jax``; otherwise
    TensorFlow on the CPU, else NumPy.
    """
    size = 2048
    if backend == "jax":
        import jax

        a = jax.random.normal(jax.random.key(0), (size, size))
        product, library = (lambda: (a @ a).block_until_ready()), f"jax {jax.default_backend()}"
    elif has_tensorflow():
        import tensorflow as tf

        a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
        product, library = (lambda: tf.matmul(a, b).numpy()), "tensorflow"
    else:
        import numpy as np

        a = np.random.default_rng(0).normal(size=(size, size)).astype("float32")
        product, library = (lambda: a @ a), "numpy"
    for _ in range(3):
        product()
    times = []
    for _ in range(10):
        started = time.perf_counter()
        product()
        times.append(time.perf_counter() - started)
    gflops = 2 * size**3 / statistics.median(times) / 1e9
    return {"matmul_gflops": round(gflops, 1), "size": size, "library": library, **cpu_facts()}


def run_worker(part: str, args, **environment_extra) -> dict:
    command = [sys.executable, "-m", "scripts.benchmark", "--worker", part]
    command += ["--backend", args.backend] + ["--quick"] * args.quick
    ours = part != "matmul" and not part.startswith("reference")
    environment = dict(
        os.environ,
        BENCHMARK_OVERRIDES=json.dumps(args.set),
        KERAS_BACKEND=args.backend if ours else "tensorflow",
        **environment_extra,
    )
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"benchmark part {part} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def has_tensorflow() -> bool:
    """The reference is TensorFlow code: without TensorFlow (a JAX-only GPU install) it is
    left out, and so are the ratios to it."""
    return importlib.util.find_spec("tensorflow") is not None


def has_gpu(backend: str) -> bool:
    if backend == "jax":
        probe = "import jax; print(jax.default_backend())"
    else:
        probe = (
            "import tensorflow as tf; print('gpu' * bool(tf.config.list_physical_devices('GPU')))"
        )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() == "gpu"


def summarise_round(results: dict, names: list[str]) -> dict:
    """One round's rows, each with its ratio to the reference and % of that round's probe."""
    matmul = results["matmul"]["matmul_gflops"]
    train = {}
    for name in names:
        row = dict(results[f"train:{name}"])
        row["percent_of_matmul"] = round(100 * row["useful_gflops_per_s"] / matmul, 1)
        if f"reference:{name}" in results:
            row["reference"] = results[f"reference:{name}"]
            row["ratio_vs_reference"] = round(
                row["real_tokens_per_s"] / row["reference"]["real_tokens_per_s"], 2
            )
        train[name] = row
    return {"matmul_gflops": matmul, "train": train}


def _median(values):
    return round(statistics.median(values), 2)


def merge_rounds(rounds: list[dict]) -> dict:
    """Per part: the median of every figure over the rounds, and each round's own figures.

    A ratio is only ever taken within a round (ours and the reference back to back, beside
    that round's matmul probe); the medians summarise those ratios, never divide across rounds.
    """
    merged = {}
    for name, first in rounds[0]["train"].items():
        rows = [r["train"][name] for r in rounds]
        row = dict(first)
        for key in MEDIAN_KEYS:
            if key in first:
                row[key] = _median([r[key] for r in rows])
        row["ms_per_step_repeats"] = [ms for r in rows for ms in r["ms_per_step_repeats"]]
        if "reference" in first:
            row["reference"] = {
                **first["reference"],
                **{k: _median([r["reference"][k] for r in rows]) for k in REFERENCE_KEYS},
            }
        row["rounds"] = [
            {
                "matmul_gflops": r["matmul_gflops"],
                **{k: r["train"][name][k] for k in ROUND_KEYS if k in r["train"][name]},
            }
            for r in rounds
        ]
        merged[name] = row
    return merged


def check_targets(report: dict) -> dict:
    """Which of issue #14's targets the run's medians meet."""
    checks = {}
    for name, targets in TARGETS.items():
        for key, wanted in targets.items():
            value = report["train"].get(name, {}).get(key)
            checks[f"{name} {key} >= {wanted}"] = None if value is None else value >= wanted
    decode = report["decode"]
    checks["greedy one sentence < 15 ms"] = decode["greedy"]["single_sentence_ms"] < 15
    checks["beam 5 one sentence < 30 ms"] = decode["beam"]["single_sentence_ms"] < 30
    ratio = decode.get("ratio_vs_reference")
    checks["batched greedy >= 200x the reference per sentence"] = (
        None if ratio is None else ratio >= 200
    )
    report["targets_met"] = checks
    return report


def markdown(report: dict) -> str:
    m = report["machine"]
    probes = ", ".join(map(str, m["matmul_per_round"]))
    dtypes = ", ".join(sorted({r["dtype"] for r in report["train"].values() if "dtype" in r}))
    cpu = f"{m['cpus']} CPU cores"
    if m.get("cpu_model"):  # reports before the CPU was recorded lack it
        native = "native" if m["native_bfloat16"] else "no native"
        cpu += f" ({m['cpu_model']}, {native} bfloat16 products)"
    lines = [
        f"Measured {report['date']} on {cpu}, Keras backend {report['backend']}"
        f"{', training dtype ' + dtypes if dtypes else ''}; "
        f"matmul probe (2048x2048 fp32, {m['library']}): **{m['matmul_gflops']} GFLOP/s** "
        "(median of the "
        f"rounds: {probes}). Each of the {len(m['matmul_per_round'])} rounds runs the probe, "
        "then every part with its reference right after it; figures are medians over the "
        "rounds, and brackets list each round's own.",
        "",
        "| training | emb / units / batch | real target tokens/s | ms/step (median; repeats) | "
        "useful GFLOP/s | % of matmul | reference tokens/s (ms/step) | ratio vs reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["train"].items():
        sizes = f"{r['embedding']} / {r['units']} / {r['batch']}" + " bi" * r["bidirectional"]
        repeats = ", ".join(map(str, r["ms_per_step_repeats"]))
        ref = r.get("reference")
        versus = "- | -"
        if ref:
            versus = f"{ref['real_tokens_per_s']:,.0f} ({ref['median_ms_per_step']}) | "
            versus += f"**{r['ratio_vs_reference']}x** ({_each(r, 'ratio_vs_reference')})"
        speed = f"{r['real_tokens_per_s']:,.0f} | {r['median_ms_per_step']} ({repeats})"
        lines.append(
            f"| {name} | {sizes} | {speed} | {r['useful_gflops_per_s']} "
            f"| {r['percent_of_matmul']} % ({_each(r, 'percent_of_matmul')}) | {versus} |"
        )
    d = report["decode"]
    reference_ms = reference_rate = "-"
    if d.get("reference_sentences_per_s"):
        reference_ms = f"{1000 / d['reference_sentences_per_s']:.1f} ms"
        reference_rate = f"{d['reference_sentences_per_s']} sentences/s "
        reference_rate += f"(**{d['ratio_vs_reference']}x**)"
    lines += [
        "",
        f"Decoding with {d['model']}"
        + (f", shortlist {d['shortlist']} words per source word" if d.get("shortlist") else "")
        + ":",
        "",
        "| decoding | this project | over the whole vocabulary | reference |",
        "|---|---|---|---|",
        f"| greedy, one sentence (median of {d['test_sentences']} test sentences) | "
        f"{d['greedy']['single_sentence_ms']} ms | {_whole(d, 'greedy', 'single_sentence_ms')} "
        f"| {reference_ms} |",
        f"| beam 5, one sentence (median) | {d['beam']['single_sentence_ms']} ms "
        f"| {_whole(d, 'beam', 'single_sentence_ms')} | - |",
        f"| greedy, batched ({d['batched_sentences']} sentences) | "
        f"{d['greedy']['batched_sentences_per_s']:,.0f} sentences/s | "
        f"{_whole(d, 'greedy', 'batched_sentences_per_s')} | {reference_rate} |",
        f"| beam 5, batched | {d['beam']['batched_sentences_per_s']:,.0f} sentences/s "
        f"| {_whole(d, 'beam', 'batched_sentences_per_s')} | - |",
        "",
        "| target (issue #14) | met |",
        "|---|---|",
        *(f"| {k} | {MET[v]} |" for k, v in report["targets_met"].items()),
    ]
    return "\n".join(lines) + "\n"


MET = {True: "yes", False: "**no**", None: "not measured (the reference needs TensorFlow)"}


def _whole(decode: dict, search: str, key: str) -> str:
    """A figure of the whole-vocabulary run (reports before the shortlist lack it)."""
    value = decode.get("whole_vocabulary", {}).get(search, {}).get(key)
    if value is None:
        return "-"
    return f"{value} ms" if key.endswith("_ms") else f"{value:,.0f} sentences/s"


def _each(row: dict, key: str) -> str:
    return ", ".join(str(r[key]) for r in row["rounds"])


def update_readme(table: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the text between the benchmark markers of the README with ``table``."""
    start, end = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} section to replace")
    head, rest = text.split(start, 1)
    readme.write_text(head + start + "\n" + table + rest[rest.index(end) :], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Measure training and decoding speed beside a reference."
    )
    parser.add_argument("--out", default=str(OUT), help="JSON output (markdown beside it)")
    parser.add_argument(
        "--backend",
        default="tensorflow",
        choices=("tensorflow", "jax"),
        help="Keras backend of this project's parts (the reference is TensorFlow)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few steps of each part, one round (smoke test)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of every training part beside its reference; medians are reported",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override of this project's parts (model.dtype=mixed_bfloat16)",
    )
    parser.add_argument(
        "--readme", action="store_true", help="only rewrite README's table from --out"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, _, name = args.worker.partition(":")
        workers = {
            "matmul": lambda: worker_matmul(args.backend),
            "decode": lambda: worker_decode(args.quick),
            "train": lambda: worker_train(name, args.quick),
            "reference": lambda: (
                worker_reference_decode(args.quick)
                if name == "decode"
                else worker_reference(name, args.quick)
            ),
        }
        print(json.dumps(workers[kind]()))
        return
    out = Path(args.out)
    if args.readme:
        update_readme(markdown(json.loads(out.read_text())))
        print("README.md benchmark section rewritten from", out)
        return
    from tqdm import tqdm

    names = [n for n in SIZES if n != "train_gpu" or has_gpu(args.backend)]
    referenced = REFERENCED if has_tensorflow() else ()
    # A round: the probe, then each part with its reference right after it, so that the
    # machine's speed cannot drift between the two figures a ratio divides.
    one_round = ["matmul"]
    for name in names:
        one_round += [f"train:{name}"] + [f"reference:{name}"] * (name in referenced)
    rounds = 1 if args.quick else args.rounds
    progress = tqdm(total=rounds * len(one_round) + 2, desc="benchmark", unit="part")
    summaries = []
    for _ in range(rounds):
        results = {}
        for part in one_round:
            results[part] = run_worker(part, args)
            progress.write(f"{part}: {json.dumps(results[part])}")
            progress.update()
        summaries.append(summarise_round(results, names))
    decode = run_worker("decode", args)
    lengths = json.dumps(decode.pop("greedy_output_lengths"))
    progress.write(f"decode: {json.dumps(decode)}")
    if referenced:
        reference = run_worker("reference:decode", args, BENCHMARK_LENGTHS=lengths)
        decode["reference_sentences_per_s"] = reference["reference_sentences_per_s"]
        decode["ratio_vs_reference"] = round(
            decode["greedy"]["batched_sentences_per_s"] / decode["reference_sentences_per_s"], 1
        )
    progress.update(2)
    progress.close()
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "backend": args.backend,
        "overrides": args.set,
        "machine": {
            "cpus": os.cpu_count(),
            **results["matmul"],  # the probe's size and library, the CPU's model
            "matmul_gflops": _median([r["matmul_gflops"] for r in summaries]),
            "matmul_per_round": [r["matmul_gflops"] for r in summaries],
        },
        "train": merge_rounds(summaries),
        "decode": decode,
    }
    report = check_targets(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"saved {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
