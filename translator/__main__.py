"""Command line: ``python -m translator {data,stats,train,translate,evaluate,plot} ...``.

Each command parses its arguments and calls one function; problems the user can fix are
printed as one ``error:`` line (exit 2), never as a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from translator.errors import UserError

DEFAULT_CONFIG = "configs/default.yaml"
DEFAULT_RUN = "runs/default"


def _decoding_options(parser) -> None:
    parser.add_argument("--beam-size", type=int, metavar="N",
                        help="beam width (1 = greedy; default: decode.beam_size of the run's config)")
    parser.add_argument("--length-penalty", type=float, metavar="A",
                        help="beam winner by score / length^A (0 favours short outputs; "
                             "default: decode.length_penalty of the run's config)")


def _config(args):
    from translator import config

    return config.load(args.config, args.set)


def cmd_data(args) -> None:
    from translator.download import DEFAULT_URL, fetch_corpus

    source = args.corpus or DEFAULT_URL
    target = fetch_corpus(source, Path(args.out), Path(args.data_dir), args.sha256)
    print(f"corpus ready: {target} ({target.stat().st_size:,} bytes, from {source})")


def cmd_stats(args) -> None:
    from translator.stats import corpus_stats, format_table, write_stats

    stats = corpus_stats(_config(args), args.data)
    print(format_table(stats))
    write_stats(stats, Path(args.out))
    print(f"saved {args.out}")


def cmd_train(args) -> None:
    from translator.train import train

    state = train(_config(args), Path(args.run_dir), show_progress=not args.no_progress)
    if state.get("stopped_by"):  # Ctrl-C or SIGTERM: a checkpoint was saved first
        sys.exit(130 if state["stopped_by"] == "SIGINT" else 143)
    if "test" in state:
        print(f"test BLEU {state['test']['bleu']}  chrF {state['test']['chrf']}  (report in {args.run_dir}/eval-test.md)")


def cmd_translate(args) -> None:
    from translator.translate import run_translate

    sys.exit(run_translate(args))


def cmd_evaluate(args) -> None:
    from translator.evaluate import evaluate_command

    evaluate_command(args)


def cmd_plot(args) -> None:
    from translator.plotting import plot_command

    plot_command(args)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m translator", description="Train and use an English->French "
                                   "neural translator (GRU encoder, Bahdanau attention decoder).")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p):
        p.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one config key, e.g. --set train.epochs=3 (repeatable)")

    p = commands.add_parser("data", help="put the corpus at data/fra-eng/fra.txt (copy, unzip or download)")
    p.add_argument("--corpus", help="local fra.txt, a .zip, or a URL (default: the manythings.org fra-eng.zip)")
    p.add_argument("--out", default="data/fra-eng/fra.txt", help="where the corpus goes")
    p.add_argument("--data-dir", default="data", help="zip entries may only land inside this directory")
    p.add_argument("--sha256", help="refuse the corpus unless its SHA-256 is this")
    p.set_defaults(run=cmd_data)

    p = commands.add_parser("stats", help="corpus statistics as a table and JSON")
    with_config(p)
    p.add_argument("--data", help="corpus path (default: data.corpus of the config)")
    p.add_argument("--out", default="runs/stats.json", help="JSON output (default runs/stats.json)")
    p.set_defaults(run=cmd_stats)

    p = commands.add_parser("train", help="train a model, or resume the run in --run-dir")
    with_config(p)
    p.add_argument("--run-dir", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("translate", help="translate sentences with a trained run")
    p.add_argument("sentences", nargs="*", help="sentences to translate (default: --input, or standard input)")
    p.add_argument("--run-dir", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})")
    p.add_argument("--checkpoint", help="a checkpoint name in the run (default: best, else latest)")
    p.add_argument("--input", help="file with one sentence per line")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence, with tokens and attention")
    p.add_argument("--plot", metavar="DIR", help="save an attention heatmap per sentence in DIR")
    p.add_argument("--format", choices=("png", "svg"), default="png", help="heatmap format (default png)")
    _decoding_options(p)
    p.set_defaults(run=cmd_translate)

    p = commands.add_parser("evaluate", help="BLEU and chrF of a run on a split or on files")
    p.add_argument("--run-dir", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})")
    p.add_argument("--split", choices=("test", "valid"), default="test", help="which split (default test)")
    p.add_argument("--input", help="source file, one sentence per line (instead of --split)")
    p.add_argument("--refs", nargs="+", help="reference files, parallel to --input")
    p.add_argument("--checkpoint", help="a checkpoint name in the run (default: best, else latest)")
    _decoding_options(p)
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("plot", help="attention heatmaps for a few validation sentences of a run")
    p.add_argument("--run-dir", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})")
    p.add_argument("--count", type=int, default=6, help="how many sentences (default 6)")
    p.add_argument("--out", help="output directory (default RUN_DIR/plots)")
    p.add_argument("--format", choices=("png", "svg"), default="png", help="file format (default png)")
    p.set_defaults(run=cmd_plot)
    return main


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
