"""Speed benchmark: training throughput, greedy decoding, scaling, and the machine's matmul rate.

    make bench          # or: .venv/bin/python -m scripts.benchmark [--quick] [--out FILE]

Writes JSON (``runs/benchmark.json``) and a markdown table beside it. Each measurement runs
in its own subprocess so that its peak memory (RSS) is its own. Training is measured on the
first 30,000 pairs of the real corpus when present (synthetic sentences otherwise), batch 64,
vocabularies capped at 4,500 English / 7,800 French words: the TensorFlow tutorial's work.
"Useful" FLOPs count 3 x 2 x the forward pass's multiply-adds over real (non-pad) tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRAIN_SETTINGS = {  # name: (embedding, units, batch); a unidirectional encoder, as the tutorial
    "train_small": (128, 256, 64),
    "train_large": (256, 1024, 64),
    "train_default": None,  # configs/default.yaml as it is
}
VOCAB_CAPS = (4500, 7800)
PAIRS = 30000


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _corpus(config, quick: bool):
    """Tokenized training pairs: the real corpus if present, else synthetic sentences."""
    from translator.corpus import load_corpus

    pairs = 3000 if quick else PAIRS
    if Path(config.data.corpus).exists():
        config.data.max_pairs = pairs
        return load_corpus(config.data).split("train"), f"real corpus, first {pairs} pairs"
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(6000)]
    lengths = rng.integers(3, 12, (pairs, 2))
    frame = pd.DataFrame(
        {
            "source_tokens": [list(rng.choice(words, n)) for n in lengths[:, 0]],
            "target_tokens": [list(rng.choice(words, n)) for n in lengths[:, 1]],
        }
    )
    return frame, "synthetic sentences (no corpus found)"


def useful_forward_macs(config, target_vocab: int, source_lengths, target_lengths) -> float:
    """Multiply-adds of one forward pass over real tokens, each matrix product once."""
    m = config.model
    E, U, V = m.embedding_dim, m.units, target_vocab
    A = m.attention_units or U
    cell = U // 2 if m.bidirectional else U
    directions = 2 if m.bidirectional else 1
    encoder_per_token = directions * 3 * cell * (E + cell) + (
        m.encoder_layers - 1
    ) * directions * 3 * cell * (U + cell)
    encoder_per_token += U * A  # attention keys, once per source token
    decoder_per_token = 3 * U * E + U * (A + 3 * U) + U * 3 * U + (U + U + E) * E + E * V
    macs = 0.0
    for s, t in zip(source_lengths, target_lengths):
        macs += (
            s * encoder_per_token + t * decoder_per_token + t * s * (A + U) + U * U
        )  # attention + bridge
    return macs


def worker_train(name: str, quick: bool) -> dict:
    import keras
    import numpy as np

    from translator import config as config_lib
    from translator.model import build_model
    from translator.pipeline import BatchPlan, encode_pairs
    from translator.vocab import LanguageIndex

    config = config_lib.load(ROOT / "configs" / "default.yaml")
    config.data.corpus = str(ROOT / config.data.corpus)
    if TRAIN_SETTINGS[name]:
        config.model.embedding_dim, config.model.units, config.train.batch_size = TRAIN_SETTINGS[
            name
        ]
        config.model.bidirectional = False
    frame, data = _corpus(config, quick)
    source = LanguageIndex.build(frame["source_tokens"], "en", 1, VOCAB_CAPS[0])
    target = LanguageIndex.build(frame["target_tokens"], "fr", 1, VOCAB_CAPS[1])
    plan = BatchPlan(
        *encode_pairs(frame, source, target),
        config.train.batch_size,
        seed=0,
        bucket_width=config.train.bucket_width,
    )
    keras.utils.set_random_seed(0)
    model = build_model(config, len(source), len(target), len(plan))
    warmup, measured, repeats = (3, 5, 2) if quick else (5, 30 if name != "train_large" else 12, 3)
    batches = plan.batches(0)[: warmup + measured * repeats]
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    started = time.perf_counter()
    model.fit(plan.dataset(0), steps_per_epoch=len(batches), verbose=0, callbacks=[Clock()])
    step_s = np.diff([started] + times)[warmup:]
    per_repeat = [step_s[i * measured : (i + 1) * measured] for i in range(repeats)]
    chosen = batches[warmup:]
    real_target = sum(int(plan.target_lengths[b].sum() - len(b)) for b in chosen)
    pairs = sum(len(b) for b in chosen)
    macs = useful_forward_macs(
        config,
        len(target),
        [plan.source_lengths[i] for b in chosen for i in b],
        [plan.target_lengths[i] - 1 for b in chosen for i in b],
    )
    total_s = float(step_s.sum())
    return {
        "data": data,
        "embedding": config.model.embedding_dim,
        "units": config.model.units,
        "batch": config.train.batch_size,
        "bidirectional": config.model.bidirectional,
        "vocab": [len(source), len(target)],
        "steps_measured": int(len(step_s)),
        "median_ms_per_step": round(1000 * float(np.median(step_s)), 1),
        "ms_per_step_repeats": [round(1000 * float(np.median(r)), 1) for r in per_repeat],
        "real_tokens_per_s": round(real_target / total_s, 1),
        "pairs_per_s": round(pairs / total_s, 1),
        "real_token_share": round(plan.real_token_share(0), 3),
        "useful_gflops_per_s": round(6 * macs / total_s / 1e9, 2),
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_decode(quick: bool) -> dict:
    import numpy as np

    from translator import config as config_lib
    from translator.corpus import load_corpus
    from translator.decode import translate_tokens
    from translator.errors import UserError
    from translator.model import build_model
    from translator.rundir import load_run
    from translator.search import DecodeOptions
    from translator.vocab import LanguageIndex

    try:
        run = load_run(ROOT / "runs" / "default")
    except UserError:
        run = None
    config = run.config if run else config_lib.load(ROOT / "configs" / "default.yaml")
    config.data.corpus = str(ROOT / config.data.corpus)
    if Path(config.data.corpus).exists():
        sentences = list(load_corpus(config.data).split("test")["source_tokens"])
    else:
        sentences = [
            [f"w{i % 50}" for i in range(n)] for n in np.random.default_rng(0).integers(3, 12, 1000)
        ]
    if run:
        model, source, target, origin = (
            run.model,
            run.source_index,
            run.target_index,
            str(run.checkpoint.relative_to(ROOT)),
        )
    else:
        source = LanguageIndex.build(sentences, "en")
        target = LanguageIndex.build(sentences, "fr")
        model = build_model(config, len(source), len(target), 100)
        origin = "untrained model of configs/default.yaml"
    count = 200 if quick else 1000
    sentences = (sentences * (1 + count // max(1, len(sentences))))[:count]
    report = {"model": origin, "sentences": count, "batch_size": config.decode.batch_size}
    for name, width in (("greedy", 1), ("beam", max(2, config.decode.beam_size))):
        options = DecodeOptions.from_config(config.decode, beam_size=width)
        translate_tokens(
            model, source, target, sentences[:300], options=options
        )  # warm-up: trace the decoder
        started = time.perf_counter()
        translate_tokens(
            model, source, target, sentences, options=options, batch_size=config.decode.batch_size
        )
        batched = count / (time.perf_counter() - started)
        singles = []
        for sentence in sentences[: 20 if quick else 100]:
            started = time.perf_counter()
            translate_tokens(model, source, target, [sentence], options=options, batch_size=1)
            singles.append(time.perf_counter() - started)
        report[name] = {
            "beam_size": width,
            "batched_sentences_per_s": round(batched, 1),
            "single_sentence_ms": round(1000 * statistics.median(singles), 2),
            "batch1_sentences_per_s": round(1 / statistics.median(singles), 1),
        }
    return report | {"peak_rss_mb": _peak_rss_mb()}


def worker_scaling(quick: bool) -> dict:
    import numpy as np

    from translator import config as config_lib
    from translator.metrics import masked_loss  # noqa: F401
    from translator.model import build_model

    config = config_lib.load(ROOT / "configs" / "default.yaml")
    model = build_model(config, 5000, 8000, 100)
    rng = np.random.default_rng(0)
    rows = []
    points = [(32, 8), (64, 8), (128, 8), (256, 8), (128, 4), (128, 16), (128, 24)]
    for batch, length in points[:3] if quick else points:
        source = rng.integers(4, 5000, (batch, length)).astype("int32")
        target = rng.integers(4, 8000, (batch, length + 1)).astype("int32")
        for _ in range(2):
            model.train_on_batch((source, target), target)
        times = []
        for _ in range(3 if quick else 5):
            started = time.perf_counter()
            model.train_on_batch((source, target), target)
            times.append(time.perf_counter() - started)
        ms = 1000 * statistics.median(times)
        rows.append(
            {
                "batch": batch,
                "length": length,
                "ms_per_step": round(ms, 1),
                "target_tokens_per_s": round(batch * (length + 1) / ms * 1000, 1),
            }
        )
    return {"config": "configs/default.yaml model", "rows": rows}


def worker_matmul() -> dict:
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    b = tf.random.normal((2048, 2048))
    for _ in range(3):
        tf.matmul(a, b).numpy()
    times = []
    for _ in range(10):
        started = time.perf_counter()
        tf.matmul(a, b).numpy()
        times.append(time.perf_counter() - started)
    return {"matmul_gflops": round(2 * 2048**3 / statistics.median(times) / 1e9, 1), "size": 2048}


def run_worker(name: str, quick: bool) -> dict:
    command = [sys.executable, "-m", "scripts.benchmark", "--worker", name] + (
        ["--quick"] if quick else []
    )
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"benchmark part {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(report: dict) -> str:
    lines = [
        f"Machine: {report['machine']['cpus']} CPU cores, 2048x2048 fp32 matmul "
        f"{report['machine']['matmul_gflops']} GFLOP/s.",
        "",
        "| training | emb / units / batch | real target tokens/s | pairs/s | ms/step (median; "
        "repeats) | useful GFLOP/s | % of matmul rate | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in TRAIN_SETTINGS:
        r = report[name]
        lines.append(
            f"| {name} | {r['embedding']} / {r['units']} / "
            f"{r['batch']}{' bi' if r['bidirectional'] else ''} | "
            f"{r['real_tokens_per_s']} | {r['pairs_per_s']} | {r['median_ms_per_step']} "
            f"({', '.join(map(str, r['ms_per_step_repeats']))}) | "
            f"{r['useful_gflops_per_s']} | {r['percent_of_matmul_limit']} | {r['peak_rss_mb']} |"
        )
    d = report["decode"]
    lines += [
        "",
        "| decoding | value |",
        "|---|---|",
        *(
            f"| {name} (width {d[name]['beam_size']}), {d['sentences']} sentences, batch "
            f"{d['batch_size']} | "
            f"{d[name]['batched_sentences_per_s']} sentences/s |\n"
            f"| {name}, one sentence alone (median of runs) | {d[name]['single_sentence_ms']} ms "
            f"({d[name]['batch1_sentences_per_s']} sentences/s) |"
            for name in ("greedy", "beam")
        ),
        "",
        "| scaling: batch | length | ms/step | target tokens/s |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['batch']} | {r['length']} | {r['ms_per_step']} | {r['target_tokens_per_s']} |"
        for r in report["scaling"]["rows"]
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Measure training and decoding speed on this machine."
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "runs" / "benchmark.json"),
        help="JSON output (markdown beside it)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few steps of each part (smoke test)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = (
            worker_matmul()
            if args.worker == "matmul"
            else worker_decode(args.quick)
            if args.worker == "decode"
            else worker_scaling(args.quick)
            if args.worker == "scaling"
            else worker_train(args.worker, args.quick)
        )
        print(json.dumps(result))
        return
    from tqdm import tqdm

    parts = ["matmul", *TRAIN_SETTINGS, "decode", "scaling"]
    report = {}
    for part in tqdm(parts, desc="benchmark", unit="part"):
        report[part] = run_worker(part, args.quick)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "matmul_gflops": report.pop("matmul")["matmul_gflops"],
    }
    for name in TRAIN_SETTINGS:
        report[name]["percent_of_matmul_limit"] = round(
            100 * report[name]["useful_gflops_per_s"] / report["machine"]["matmul_gflops"], 1
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"saved {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
