"""Command line: ``python -m translator COMMAND ...`` (``--help`` lists the commands).

The flags of every command are declared here and handed to its function in
``translator.commands``; problems the user can fix are printed as one ``error:`` line (exit
2), never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from translator.commands import (
    choose_backend,
    cmd_data,
    cmd_evaluate,
    cmd_export,
    cmd_plot,
    cmd_serve,
    cmd_stats,
    cmd_train,
    cmd_translate,
)
from translator.core.errors import UserError

DEFAULT_CONFIG = "configs/default.yaml"
DEFAULT_RUN = "runs/default"


def _with_config(parser) -> None:
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set train.epochs=3 (repeatable)",
    )


def _with_run(parser, checkpoint: bool = True) -> None:
    parser.add_argument(
        "--run-dir", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})"
    )
    if checkpoint:
        parser.add_argument(
            "--checkpoint", help="a checkpoint name in the run (default: best, else latest)"
        )


def _with_decoding(parser) -> None:
    parser.add_argument(
        "--beam-size",
        type=int,
        metavar="N",
        help="beam width (1 = greedy; default: decode.beam_size of the run's config)",
    )
    parser.add_argument(
        "--length-penalty",
        type=float,
        metavar="A",
        help="beam winner by score / length^A (0 favours short outputs; "
        "default: decode.length_penalty of the run's config)",
    )
    _with_shortlist(parser)
    parser.add_argument(
        "--unk-replace",
        choices=("auto", "none", "copy", "lexicon"),
        help="replace <unk> in translations by the source word it attends to (copy) or that "
        "word's translation in the run's lexicon; auto: lexicon with a word vocabulary, none "
        "with subword pieces, which never write <unk> (default: decode.unk_replace)",
    )


def _with_shortlist(parser) -> None:
    parser.add_argument(
        "--shortlist",
        type=int,
        metavar="N",
        help="score only each sentence's likely words: the run's common ones and N per source "
        "word (0 = the whole vocabulary; default: decode.shortlist of the run's config)",
    )


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m translator",
        description="Train and use a neural translator (GRU encoder, Bahdanau attention decoder).",
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "data", help="put a corpus under data/ (copy, unzip or download), e.g. data/fra-eng/fra.txt"
    )
    p.add_argument(
        "--corpus", help="local fra.txt, a .zip, or a URL (default: the manythings.org fra-eng.zip)"
    )
    p.add_argument(
        "--out",
        help="where the corpus goes (default from the file name: data/spa-eng/spa.txt for "
        "spa-eng.zip, data/fra-eng/fra.txt for fra.txt)",
    )
    p.add_argument(
        "--data-dir", default="data", help="zip entries may only land inside this directory"
    )
    p.add_argument("--sha256", help="refuse the corpus unless its SHA-256 is this")
    p.set_defaults(run=cmd_data)

    p = commands.add_parser("stats", help="corpus statistics as a table and JSON")
    _with_config(p)
    p.add_argument("--data", help="corpus path (default: data.corpus of the config)")
    p.add_argument("--out", default="runs/stats.json", help="JSON output (default runs/stats.json)")
    p.set_defaults(run=cmd_stats)

    p = commands.add_parser("train", help="train a model, or resume the run in --run-dir")
    _with_config(p)
    _with_run(p, checkpoint=False)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("translate", help="translate sentences with a trained run")
    p.add_argument(
        "sentences", nargs="*", help="sentences to translate (default: --input, or standard input)"
    )
    _with_run(p)
    p.add_argument("--input", help="file with one sentence per line")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per sentence, with tokens and attention",
    )
    p.add_argument("--plot", metavar="DIR", help="save an attention heatmap per sentence in DIR")
    p.add_argument(
        "--format",
        choices=("png", "svg", "html"),
        default="png",
        help="heatmap format (default png; html: one interactive page for all)",
    )
    _with_decoding(p)
    p.set_defaults(run=cmd_translate)

    p = commands.add_parser("evaluate", help="BLEU and chrF of a run on a split or on files")
    _with_run(p)
    p.add_argument(
        "--split", choices=("test", "valid"), default="test", help="which split (default test)"
    )
    p.add_argument("--input", help="source file, one sentence per line (instead of --split)")
    p.add_argument("--refs", nargs="+", help="reference files, parallel to --input")
    _with_decoding(p)
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser(
        "plot", help="attention heatmaps for a few validation sentences of a run"
    )
    _with_run(p)
    p.add_argument("--count", type=int, default=6, help="how many sentences (default 6)")
    p.add_argument("--out", help="output directory (default RUN_DIR/plots)")
    p.add_argument(
        "--format",
        choices=("png", "svg", "html"),
        default="png",
        help="file format (default png; html: one interactive page)",
    )
    p.set_defaults(run=cmd_plot)

    p = commands.add_parser("serve", help="an HTTP translation service with an alignment viewer")
    p.add_argument("--run-dir", default=DEFAULT_RUN, help=f"run directory (default {DEFAULT_RUN})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        metavar="MS",
        help="how long the first request of a batch waits for others (default 5)",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=1024,
        metavar="N",
        help="sentences that may wait; beyond that a request is refused with 503 (default 1024)",
    )
    p.add_argument(
        "--beam-size",
        type=int,
        metavar="N",
        help="default beam width of requests (default: decode.beam_size of the run's config)",
    )
    _with_shortlist(p)
    p.set_defaults(run=cmd_serve)

    p = commands.add_parser(
        "export", help="a TensorFlow SavedModel: raw strings in, translations out"
    )
    _with_run(p)
    p.add_argument("--out", required=True, help="directory of the SavedModel (must not exist yet)")
    _with_decoding(p)
    p.set_defaults(run=cmd_export)
    return main


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parser().parse_args(argv)
    try:
        if args.command != "train":
            choose_backend()
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
