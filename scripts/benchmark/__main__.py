"""``python -m scripts.benchmark``: the rounds of probe, parts and references, then the
report (see the package's docstring)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from scripts.benchmark.common import (
    OUT,
    REFERENCED,
    SIZES,
    TRANSFORMER_RUN,
    has_gpu,
    has_tensorflow,
    run_worker,
)
from scripts.benchmark.decoding import worker_decode, worker_decode_run, worker_reference_decode
from scripts.benchmark.machine import worker_matmul
from scripts.benchmark.report import (
    _median,
    check_targets,
    markdown,
    merge_rounds,
    summarise_round,
    update_docs,
)
from scripts.benchmark.training import worker_reference, worker_train


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
        "--docs",
        action="store_true",
        help="only rewrite the table of docs/performance.md from --out",
    )
    parser.add_argument(
        "--transformer-run",
        default=str(TRANSFORMER_RUN),
        help="a trained Transformer run whose decoding is timed too, when it has a checkpoint "
        "(default runs/transformer: `make train CONFIG=configs/transformer.yaml`)",
    )
    parser.add_argument(
        "--parts",
        default=",".join(SIZES),
        help="the training parts to time, comma-separated (default all: %(default)s); "
        "train_gpu runs only where a GPU is",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, _, name = args.worker.partition(":")
        workers = {
            "matmul": lambda: worker_matmul(args.backend),
            "decode": lambda: worker_decode(args.quick),
            "decode_run": lambda: worker_decode_run(name, args.quick),
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
    if args.docs:
        update_docs(markdown(json.loads(out.read_text())))
        print("docs/performance.md benchmark section rewritten from", out)
        return
    from tqdm import tqdm

    wanted = args.parts.split(",")
    unknown = sorted(set(wanted) - set(SIZES))
    if unknown:
        parser.error(f"unknown --parts {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    names = [n for n in SIZES if n in wanted and (n != "train_gpu" or has_gpu(args.backend))]
    referenced = REFERENCED if has_tensorflow() else ()
    # A round: the probe, then each part with its reference right after it, so that the
    # machine's speed cannot drift between the two figures a ratio divides.
    one_round = ["matmul"]
    for name in names:
        one_round += [f"train:{name}"] + [f"reference:{name}"] * (name in referenced)
    rounds = 1 if args.quick else args.rounds
    transformer_run = Path(args.transformer_run)
    decode_run = (transformer_run / "checkpoints").is_dir()
    progress = tqdm(total=rounds * len(one_round) + 2 + decode_run, desc="benchmark", unit="part")
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
    if decode_run:
        decode["transformer_run"] = run_worker(f"decode_run:{transformer_run}", args)
        progress.write(f"decode_run: {json.dumps(decode['transformer_run'])}")
        if referenced:
            rate = decode["transformer_run"]["greedy"]["batched_sentences_per_s"]
            decode["transformer_run"]["ratio_vs_reference"] = round(
                rate / decode["reference_sentences_per_s"], 1
            )
        progress.update()
    else:
        progress.write(f"{transformer_run} has no checkpoint: no Transformer decoding rows")
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
