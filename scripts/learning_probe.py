"""How much a config learns in its first epochs, at several seeds: the check a model change
passes before it lands (validation loss and accuracy after a fixed number of steps).

    python -m scripts.learning_probe --config configs/tiny.yaml --set train.epochs=1 \\
        --seeds 42 7 123 1 2 [--name NAME] [--out runs/learning_probe]

Each seed trains one epoch (or ``--epochs``) exactly as ``make train`` would (the trainer's
corpus, split, vocabularies, batch order and schedule; ``train.epochs`` is the schedule's
horizon, the time budget is off), then scores the validation split. One seed can mislead: a
small model may sit on the plateau of predicting the most frequent token (19.1 % of the tiny
config's validation tokens) for longer than an epoch at one seed and leave it at another, so
the probe reports every seed and the worst. Writes ``OUT/NAME.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def probe(config, seed: int, epochs: int = 1) -> dict:
    """``epochs`` from ``seed`` in a scratch run directory: validation loss and accuracy after
    each (the last ones at the top level)."""
    from translator.training.progress import StopRequest
    from translator.training.trainer import Trainer

    config.train.seed = seed
    with tempfile.TemporaryDirectory(prefix="learning-probe-") as run_dir:
        trainer = Trainer(config, Path(run_dir), show_progress=False, log=lambda *_: None)
        trainer.prepare()
        seconds, rows = 0.0, []
        for _ in range(epochs):
            began = time.monotonic()
            with StopRequest() as stop:
                logs, _ = trainer.train_epoch(stop)
            seconds += time.monotonic() - began
            row = trainer.validate(logs, bleu=False)
            rows.append({k: round(row[k], 4) for k in ("loss", "val_loss", "val_accuracy")})
            trainer.state.epoch, trainer.state.step_in_epoch = trainer.state.epoch + 1, 0
        trainer.runlog.close()
    return {
        "seed": seed,
        "steps": trainer.state.global_step,
        "ms_per_step": round(1000 * seconds / max(trainer.state.global_step, 1), 1),
        "train_loss": rows[-1]["loss"],
        "val_loss": rows[-1]["val_loss"],
        "val_accuracy": rows[-1]["val_accuracy"],
        "epochs": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/tiny.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 123])
    parser.add_argument("--epochs", type=int, default=1, help="epochs to train (default 1)")
    parser.add_argument("--name", default=None, help="file name of the result (default: config)")
    parser.add_argument("--out", default="runs/learning_probe")
    args = parser.parse_args()

    import keras

    from translator.core import config as config_lib

    overrides = ["train.max_minutes=0", "train.checkpoint_every_steps=1000000", *args.set]
    rows = []
    for seed in args.seeds:
        rows.append(probe(config_lib.load(args.config, overrides), seed, args.epochs))
        print(json.dumps(rows[-1]), flush=True)
    name = args.name or Path(args.config).stem
    result = {
        "name": name,
        "config": args.config,
        "overrides": args.set,
        "backend": keras.backend.backend(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "seeds": rows,
        "worst_val_loss": max(r["val_loss"] for r in rows),
        "worst_val_accuracy": min(r["val_accuracy"] for r in rows),
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, f"{name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"\n{name} ({result['backend']}, {args.config} {' '.join(args.set)})\n")
    print("| seed | steps | ms/step | val loss | val accuracy |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['seed']} | {r['steps']} | {r['ms_per_step']} | {r['val_loss']:.3f} "
            f"| {100 * r['val_accuracy']:.1f} % |"
        )
    print(
        f"| worst | | | {result['worst_val_loss']:.3f} "
        f"| {100 * result['worst_val_accuracy']:.1f} % |"
    )


if __name__ == "__main__":
    main()
