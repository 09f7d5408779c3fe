"""Measure the input pipeline: share of real (non-pad) target tokens per batch, batches/s.

    .venv/bin/python -m scripts.pipeline_stats [--config configs/default.yaml] \\
        [--out runs/pipeline.json]

Compares length bucketing (the config's bucket_width) with no bucketing (random batches),
over one epoch of the training split, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from translator.core import config as config_lib
from translator.data.corpus import load_corpus
from translator.data.pipeline import BatchPlan, encode_pairs
from translator.data.vocab import LanguageIndex


def measure(plan: BatchPlan) -> dict:
    started = time.perf_counter()
    batches = sum(1 for _ in plan.dataset(0))
    seconds = time.perf_counter() - started
    return {
        "bucket_width": plan.bucket_width,
        "batches": batches,
        "real_target_token_share": round(plan.real_token_share(0), 4),
        "batches_per_s": round(batches / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--out", default="runs/pipeline.json")
    args = parser.parse_args()
    config = config_lib.load(args.config, args.set)
    train = load_corpus(config.data).split("train")
    d, t = config.data, config.train
    source = LanguageIndex.build(train["source_tokens"], d.source_lang, d.min_count, d.max_vocab)
    target = LanguageIndex.build(train["target_tokens"], d.target_lang, d.min_count, d.max_vocab)
    pairs = encode_pairs(train, source, target)
    results = {
        "pairs": len(train),
        "batch_size": t.batch_size,
        "bucketed": measure(
            BatchPlan(*pairs, t.batch_size, seed=t.seed, bucket_width=t.bucket_width)
        ),
        "unbucketed": measure(BatchPlan(*pairs, t.batch_size, seed=t.seed, bucket_width=1)),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
