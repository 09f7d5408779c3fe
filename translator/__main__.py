"""Command line: ``python -m translator COMMAND ...`` (``--help`` lists the commands).

Each command maps its flags to one library call; problems the user can fix are printed as
one ``error:`` line (exit 2), never as a traceback. The Keras backend is chosen here, before
Keras is imported: ``train.backend`` of the config when it is not ``auto``, else the
``KERAS_BACKEND`` variable, else TensorFlow when it is installed, else JAX.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from translator.errors import UserError

DEFAULT_CONFIG = "configs/default.yaml"
DEFAULT_RUN = "runs/default"


def choose_backend(wanted: str = "auto") -> str:
    """Set ``KERAS_BACKEND`` for this process (before Keras is imported) and return it."""
    if wanted == "auto":
        wanted = os.environ.get("KERAS_BACKEND") or (
            "tensorflow" if importlib.util.find_spec("tensorflow") else "jax"
        )
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != wanted:
        raise UserError(
            f"Keras is already running on {sys.modules['keras'].backend.backend()}, not {wanted}"
        )
    os.environ["KERAS_BACKEND"] = wanted
    return wanted


def _config(args):
    from translator import config

    return config.load(args.config, args.set)


def _run(args, **overrides):
    from translator.rundir import load_run

    return load_run(args.run_dir, checkpoint=args.checkpoint, **overrides)


def _decoding(args) -> dict:
    return {
        "beam_size": args.beam_size,
        "length_penalty": args.length_penalty,
        "unk_replace": args.unk_replace,
    }


def cmd_data(args) -> None:
    from translator.download import DEFAULT_URL, default_corpus_path, fetch_corpus

    source = args.corpus or DEFAULT_URL
    out = Path(args.out) if args.out else default_corpus_path(source, Path(args.data_dir))
    target = fetch_corpus(source, out, Path(args.data_dir), args.sha256)
    print(f"corpus ready: {target} ({target.stat().st_size:,} bytes, from {source})")


def cmd_stats(args) -> None:
    from translator.stats import corpus_stats, format_table, write_stats

    stats = corpus_stats(_config(args), args.data)
    print(format_table(stats))
    write_stats(stats, Path(args.out))
    print(f"saved {args.out}")


def cmd_train(args) -> None:
    config = _config(args)
    choose_backend(config.train.backend)
    from translator.train import train

    result = train(config, Path(args.run_dir), show_progress=not args.no_progress)
    if result.stopped_by:  # Ctrl-C or SIGTERM: a checkpoint was saved first
        sys.exit(130 if result.stopped_by == "SIGINT" else 143)
    if result.test:
        print(
            f"test BLEU {result.test['bleu']}  chrF {result.test['chrf']}  "
            f"(report in {args.run_dir}/eval-test.md)"
        )


def cmd_translate(args) -> None:
    from translator.translate import OutputOptions, interactive, read_lines, write_translations

    run = _run(args, **_decoding(args))
    output = OutputOptions(args.json, Path(args.plot) if args.plot else None, args.format)
    if args.sentences:
        write_translations(run, list(args.sentences), output)
    elif not args.input and sys.stdin.isatty():
        interactive(run, output)
    else:
        write_translations(run, read_lines(args.input), output)


def cmd_evaluate(args) -> None:
    from translator.evaluate import evaluate_files, evaluate_run_split

    if bool(args.input) != bool(args.refs):
        raise UserError(
            "--input and --refs go together: a source file and one or more reference files"
        )
    run = _run(args, **_decoding(args))
    report = (
        evaluate_files(run, args.input, args.refs)
        if args.input
        else evaluate_run_split(run, args.split)
    )
    print((run.directory / f"eval-{report['split']}.md").read_text(encoding="utf-8"))
    print(f"hypotheses: {run.directory}/eval-{report['split']}.hyp.txt")


def cmd_plot(args) -> None:
    from translator.plotting import plot_validation

    run = _run(args)
    out = Path(args.out or Path(args.run_dir) / "plots")
    count = plot_validation(run, args.count, out, args.format)
    saved = (
        "attention.html" if args.format == "html" else f"{count} heatmaps and grid.{args.format}"
    )
    print(f"saved {saved} in {out}")


def cmd_serve(args) -> None:
    from translator.serve import serve

    serve(
        Path(args.run_dir),
        host=args.host,
        port=args.port,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        beam_size=args.beam_size,
    )


def cmd_export(args) -> None:
    from translator.export import export

    out = export(
        Path(args.run_dir),
        Path(args.out),
        checkpoint=args.checkpoint,
        beam_size=args.beam_size,
        length_penalty=args.length_penalty,
    )
    print(
        f"saved a TensorFlow SavedModel in {out}; load it with tf.saved_model.load({str(out)!r})"
        ".translate(tf.constant([...]))"
    )


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
    parser.add_argument(
        "--unk-replace",
        choices=("none", "copy", "lexicon"),
        help="replace <unk> in translations by the source word it attends to (copy) or that "
        "word's translation in the run's lexicon (default: decode.unk_replace)",
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
