"""Compare configs at a fixed step budget: train, then greedy and beam BLEU on all validation.

    KERAS_BACKEND=jax python -m scripts.sweep NAME --steps 4522 --horizon 5709 \\
        [--set model.dropout=0.15 ...]

Made for tuning the CPU default on a borrowed GPU: a step count stands for a CPU time budget
(4,522 steps of batch 128 = 52 minutes on 2 cores), and several of these processes share one
GPU (``XLA_PYTHON_CLIENT_PREALLOCATE=false``). Batches are padded to multiples of 8 so that
JAX compiles a handful of shapes, not one per length; padding is masked, so the arithmetic is
the trainer's. ``--horizon`` is the number of steps the learning-rate schedule spans (the
trainer's ``epochs x batches per epoch``). Writes ``OUT/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np


def padded(array: np.ndarray, multiple: int = 8) -> np.ndarray:
    width = int(math.ceil(array.shape[1] / multiple) * multiple)
    return np.pad(array, ((0, 0), (0, width - array.shape[1])))


def greedy_or_beam_bleu(
    model, sources, references, target_index, lang, beam: int, width: int = 32, batch: int = 512
):
    """Validation BLEU/chrF with every batch padded to one shape (one compilation)."""
    from translator.data.pipeline import pad
    from translator.data.text import detokenize
    from translator.data.vocab import END_ID
    from translator.decoding.decode import output_length
    from translator.decoding.evaluate import score

    options = model.decoding.replace(beam_size=beam, length_penalty=1.0)
    hypotheses = []
    for start in range(0, len(sources), batch):
        chunk = sources[start : start + batch]
        filler = [np.asarray([END_ID], np.int32)] * (batch - len(chunk))
        tokens = np.asarray(model.translate(pad(chunk + filler, width), options)["tokens"])[
            : len(chunk)
        ]
        for row in tokens:
            hypotheses.append(detokenize(target_index.decode(row[: output_length(row)]), lang))
    return score(hypotheses, references)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--steps", type=int, required=True, help="training steps to run")
    parser.add_argument(
        "--horizon", type=int, help="steps the learning-rate schedule spans (default: --steps)"
    )
    parser.add_argument(
        "--deadline", type=float, default=0, help="stop training after this many seconds (0 = none)"
    )
    parser.add_argument("--out", default="runs/sweep")
    args = parser.parse_args()

    import keras

    from translator.core import config as config_lib
    from translator.data.corpus import load_corpus, references_by_source
    from translator.data.pipeline import BatchPlan, encode_pairs, pad
    from translator.data.vocab import LanguageIndex
    from translator.models.model import build_model

    began = time.time()
    config = config_lib.load(args.config, args.set)
    d, t = config.data, config.train
    keras.utils.set_random_seed(t.seed)
    corpus = load_corpus(d)
    train = corpus.split("train")
    source_index = LanguageIndex.build(
        train["source_tokens"], d.source_lang, d.min_count, d.max_vocab
    )
    target_index = LanguageIndex.build(
        train["target_tokens"], d.target_lang, d.min_count, d.max_vocab
    )
    plan = BatchPlan(
        *encode_pairs(train, source_index, target_index),
        t.batch_size,
        seed=t.seed,
        bucket_width=t.bucket_width,
    )
    config.train.epochs = 1  # build_model's schedule spans epochs x steps_per_epoch = the horizon
    model = build_model(config, len(source_index), len(target_index), args.horizon or args.steps)
    result = {
        "name": args.name,
        "backend": keras.backend.backend(),
        "overrides": args.set,
        "steps": args.steps,
        "horizon": args.horizon or args.steps,
        "vocab": [len(source_index), len(target_index)],
    }

    step, epoch, losses, started = 0, 0, [], time.time()
    out_of_time = lambda: args.deadline and time.time() - began >= args.deadline  # noqa: E731
    while step < args.steps and not out_of_time():
        for indices in plan.batches(epoch):
            if step >= args.steps or out_of_time():
                break
            source = padded(pad([plan.sources[i] for i in indices]))
            target = pad([plan.targets[i] for i in indices])
            logs = model.train_on_batch(
                (source, padded(target[:, :-1])), padded(target[:, 1:]), return_dict=True
            )
            losses.append(float(logs["loss"]))
            step += 1
            if step % 250 == 0:
                print(
                    f"{args.name} step {step} loss {np.mean(losses[-250:]):.3f} "
                    f"{(time.time() - started) / step * 1000:.1f} ms/step",
                    flush=True,
                )
        epoch += 1
    result.update(
        steps_done=step,
        train_s=round(time.time() - started, 1),
        final_loss=round(float(np.mean(losses[-250:])), 4),
    )

    refs = references_by_source(corpus.split("valid"))
    sources = [
        np.asarray(source_index.encode(tokens, add_end=True)[:32], np.int32)
        for tokens in refs["source_tokens"]
    ]
    for beam in (1, 5):
        report = greedy_or_beam_bleu(
            model, sources, list(refs["references"]), target_index, d.target_lang, beam
        )
        result[f"valid_bleu_beam{beam}"], result[f"valid_chrf_beam{beam}"] = (
            report["bleu"],
            report["chrf"],
        )
        print(f"{args.name} beam {beam}: BLEU {report['bleu']} chrF {report['chrf']}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, f"{args.name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
