"""The ``translate`` command: sentences from arguments, ``--input``, standard input or a prompt.

One output line per input line, in input order; an empty input line gives an empty output
line. A line of a file that is not valid UTF-8 is decoded with U+FFFD replacement characters
and a warning naming the line, and is still translated, so no line is ever dropped.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from translator.core.errors import UserError


@dataclass
class OutputOptions:
    """How translations are written: plain lines or JSON objects, and heatmap files."""

    as_json: bool = False
    plot_dir: Path | None = None
    plot_format: str = "png"


def read_lines(input_path: str | Path | None = None, stdin=None) -> list[str]:
    """Sentences of a file (or standard input), one per line; invalid UTF-8 is replaced."""
    if input_path:
        try:
            data = Path(input_path).read_bytes()
        except FileNotFoundError:
            raise UserError(f"input file {input_path} does not exist") from None
        except OSError as error:
            raise UserError(f"cannot read input file {input_path}: {error.strerror}") from None
    else:
        data = (stdin or sys.stdin).buffer.read()
    lines = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            print(
                f"warning: line {number} is not valid UTF-8; undecodable bytes were replaced "
                "by U+FFFD",
                file=sys.stderr,
            )
            lines.append(raw.decode("utf-8", errors="replace"))
    if lines and lines[-1] == "" and data.endswith(b"\n"):
        lines.pop()  # the newline that ends the last line starts no new one
    return lines


def write_translations(
    run, sentences: list[str], output: OutputOptions, out=None, first: int = 1
) -> None:
    """Translate ``sentences`` with a loaded run and write one line (or object) each."""
    from translator.decoding.decode import translate_sentences

    out = out or sys.stdout
    results = translate_sentences(run, sentences)
    if output.plot_dir and output.plot_format == "html":  # one page for the whole batch
        from translator.serving.viewer import save_viewer

        items = [r.to_dict(s) for s, r in zip(sentences, results)]
        save_viewer(Path(output.plot_dir) / "attention.html", items, f"translator: {run.directory}")
    for number, (sentence, result) in enumerate(zip(sentences, results), first):
        if output.as_json:
            out.write(json.dumps(result.to_dict(sentence), ensure_ascii=False) + "\n")
        else:
            out.write(result.text + "\n")
        if output.plot_dir and result.target_tokens and output.plot_format != "html":
            from translator.serving.plotting import save_heatmap

            path = Path(output.plot_dir) / f"attention-{number:04d}.{output.plot_format}"
            save_heatmap(
                result.attention, result.source_tokens, result.target_tokens, path, title=sentence
            )
    out.flush()


def interactive(run, output: OutputOptions) -> None:
    """A prompt: translate each line typed until end of input (Ctrl-D)."""
    print("Type a sentence to translate (Ctrl-D to quit).", file=sys.stderr)
    number = 1
    while True:
        try:
            line = input("> ")
        except EOFError:
            print(file=sys.stderr)
            return
        write_translations(run, [line], output, first=number)
        number += 1
