"""What each command does: its flags mapped to one library call (``__main__`` parses them).

The Keras backend is chosen here, before Keras is imported: ``train.backend`` of the config
when it is not ``auto``, else the ``KERAS_BACKEND`` variable, else TensorFlow when it is
installed, else JAX.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from translator.core.errors import UserError


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
    from translator.core import config

    return config.load(args.config, args.set)


def _run(args, **overrides):
    from translator.training.rundir import load_run

    return load_run(args.run_dir, checkpoint=args.checkpoint, **overrides)


def _decoding(args) -> dict:
    return {
        "beam_size": args.beam_size,
        "length_penalty": args.length_penalty,
        "shortlist": args.shortlist,
        "unk_replace": args.unk_replace,
    }


def cmd_data(args) -> None:
    from translator.data.download import DEFAULT_URL, default_corpus_path, fetch_corpus

    source = args.corpus or DEFAULT_URL
    out = Path(args.out) if args.out else default_corpus_path(source, Path(args.data_dir))
    target = fetch_corpus(source, out, Path(args.data_dir), args.sha256)
    print(f"corpus ready: {target} ({target.stat().st_size:,} bytes, from {source})")


def cmd_stats(args) -> None:
    from translator.data.stats import corpus_stats, format_table, write_stats

    stats = corpus_stats(_config(args), args.data)
    print(format_table(stats))
    write_stats(stats, Path(args.out))
    print(f"saved {args.out}")


def cmd_train(args) -> None:
    config = _config(args)
    choose_backend(config.train.backend)
    from translator.training.train import train

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
    from translator.decoding.evaluate import evaluate_files, evaluate_run_split

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
    from translator.serving.plotting import plot_validation

    run = _run(args)
    out = Path(args.out or Path(args.run_dir) / "plots")
    count = plot_validation(run, args.count, out, args.format)
    saved = (
        "attention.html" if args.format == "html" else f"{count} heatmaps and grid.{args.format}"
    )
    print(f"saved {saved} in {out}")


def cmd_serve(args) -> None:
    from translator.serving.serve import serve

    if not 1 <= args.port <= 65535:  # 0 would listen on a port nobody is told of
        raise UserError(f"--port must be from 1 to 65535, not {args.port}")
    if args.max_wait_ms < 0:
        raise UserError(f"--max-wait-ms must be 0 or more, not {args.max_wait_ms:g}")
    if args.max_queue < 1:
        raise UserError(f"--max-queue must be at least 1, not {args.max_queue}")
    serve(
        Path(args.run_dir),
        host=args.host,
        port=args.port,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        beam_size=args.beam_size,
        shortlist=args.shortlist,
    )


def cmd_export(args) -> None:
    from translator.serving.export import export

    out = export(
        Path(args.run_dir),
        Path(args.out),
        checkpoint=args.checkpoint,
        beam_size=args.beam_size,
        length_penalty=args.length_penalty,
        shortlist=args.shortlist,
    )
    from translator.data.subwords import is_subword, load_index
    from translator.training.rundir import SOURCE_VOCAB

    pieces = is_subword(load_index(Path(args.run_dir) / SOURCE_VOCAB))  # needs its ops
    print(
        f"saved a TensorFlow SavedModel in {out}; load it with "
        + ("import tensorflow_text, then " if pieces else "")
        + f"tf.saved_model.load({str(out)!r}).translate(tf.constant([...]))"
    )
