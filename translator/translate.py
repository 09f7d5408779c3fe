"""The ``translate`` command: sentences from arguments, ``--input``, standard input or a prompt.

One output line per input line, in input order; an empty input line gives an empty output
line. A line of a file that is not valid UTF-8 is decoded with U+FFFD replacement characters
and a warning naming the line, and is still translated, so no line is ever dropped.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from translator.errors import UserError


def read_lines(args, stdin=None) -> list[str]:
    """Input sentences, one per line; invalid UTF-8 is replaced, with a warning per line."""
    if args.sentences:
        return list(args.sentences)
    if args.input:
        try:
            data = Path(args.input).read_bytes()
        except FileNotFoundError:
            raise UserError(f"input file {args.input} does not exist") from None
        except OSError as error:
            raise UserError(f"cannot read input file {args.input}: {error.strerror}") from None
    else:
        data = (stdin or sys.stdin).buffer.read()
    lines = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            print(f"warning: line {number} is not valid UTF-8; undecodable bytes were replaced by U+FFFD", file=sys.stderr)
            lines.append(raw.decode("utf-8", errors="replace"))
    if lines and lines[-1] == "" and data.endswith(b"\n"):
        lines.pop()  # the newline that ends the last line starts no new one
    return lines


def _emit(run, sentences, results, args, out) -> None:
    for number, (sentence, result) in enumerate(zip(sentences, results), 1):
        if args.json:
            out.write(json.dumps(result.to_dict(sentence), ensure_ascii=False) + "\n")
        else:
            out.write(result.text + "\n")
        if args.plot and result.target_tokens:
            from translator.plotting import save_heatmap

            save_heatmap(result.attention, result.source_tokens, result.target_tokens,
                         Path(args.plot) / f"attention-{number:04d}.{args.format}", title=sentence)
    out.flush()


def interactive(run, args) -> None:
    """A prompt: translate each line typed until end of input (Ctrl-D)."""
    from translator.decode import translate_sentences

    print("Type a sentence to translate (Ctrl-D to quit).", file=sys.stderr)
    while True:
        try:
            line = input("> ")
        except EOFError:
            print(file=sys.stderr)
            return
        _emit(run, [line], translate_sentences(run, [line]), args, sys.stdout)


def run_translate(args) -> int:
    from translator.decode import translate_sentences
    from translator.rundir import load_run

    run = load_run(args.run_dir, args.checkpoint, args.beam_size, args.length_penalty)
    if not args.sentences and not args.input and sys.stdin.isatty():
        interactive(run, args)
        return 0
    sentences = read_lines(args)
    _emit(run, sentences, translate_sentences(run, sentences), args, sys.stdout)
    return 0
