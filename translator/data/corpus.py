"""Reading sentence pairs, skipping bad lines with a report, and the split by source sentence.

Accepted inputs (``data.corpus``):

* an Anki/Tatoeba file, ``source<TAB>target`` per line, with or without the third
  attribution column of the current ``fra-eng.zip``;
* a ``.zip`` holding such a file (the largest ``.txt`` member that is not ``_about.txt``);
* a pair of parallel files given by their common prefix: ``data/train`` reads
  ``data/train.en`` and ``data/train.fr`` (``data.source_lang`` / ``data.target_lang``).

Lines that cannot be used are skipped and counted by reason, with the first line numbers.
The split is by *source sentence*: every translation of one English sentence lands in the
same split, chosen by a seeded hash of the cleaned sentence, so no test source is ever
trained on and the split does not depend on line order.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from translator.core.config import DataConfig
from translator.core.errors import UserError
from translator.data.text import clean, tokenize

EXAMPLE_LINES = 2


@dataclass
class SkipReport:
    """Skipped lines by reason, with the first few line numbers of each."""

    lines_read: int = 0
    counts: dict = field(default_factory=lambda: defaultdict(int))
    examples: dict = field(default_factory=lambda: defaultdict(list))

    def skip(self, reason: str, line_number: int) -> None:
        self.counts[reason] += 1
        if len(self.examples[reason]) < EXAMPLE_LINES:
            self.examples[reason].append(line_number)

    @property
    def skipped(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "no line skipped"
        return "; ".join(
            f"{n} {reason} (line "
            f"{', '.join(map(str, self.examples[reason]))}{', ...' if n > EXAMPLE_LINES else ''})"
            for reason, n in sorted(self.counts.items())
        )

    def to_dict(self) -> dict:
        return {
            "lines_read": self.lines_read,
            "skipped": dict(self.counts),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }


def _zip_text(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m
                for m in archive.infolist()
                if m.filename.endswith(".txt") and not Path(m.filename).name.startswith("_")
            ]
            if not members:
                raise UserError(f"zip file {path} holds no .txt corpus file")
            return archive.read(max(members, key=lambda m: m.file_size))
    except zipfile.BadZipFile:
        raise UserError(f"{path} is not a valid zip file; download it again") from None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".zip":
            return _zip_text(path)
        return path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"corpus path {path} is a directory; give a file") from None
    except OSError as error:
        raise UserError(f"cannot read corpus {path}: {error.strerror or error}") from None


def _decode_lines(data: bytes, report: SkipReport, start: int = 1):
    """Yield (line number, text) for each line that is valid UTF-8."""
    for number, raw in enumerate(data.splitlines(), start):
        report.lines_read += 1
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            report.skip("invalid UTF-8", number)


def column_order(columns, source_lang: str, target_lang: str) -> tuple[int, int]:
    """Which column of a two-column file holds the source and which the target: (0, 1) or (1, 0).

    ``columns`` names the language of each column; ``auto`` stands for the language of the
    config that the other column does not name (manythings.org files: ``[en, auto]``).
    """
    if not (isinstance(columns, (list, tuple)) and len(columns) == 2):
        raise UserError(
            "data.columns must name the languages of the 2 columns, e.g. [en, auto], not "
            f"{columns!r}"
        )
    langs = [source_lang, target_lang]
    named = list(columns)
    for i, lang in enumerate(named):
        if lang == "auto":
            other = named[1 - i]
            rest = [code for code in langs if code != other]
            named[i] = rest[0] if len(rest) == 1 and other in langs else "auto"
    if sorted(named) != sorted(langs):
        raise UserError(
            f"data.columns says the file's columns hold {columns[0]} and {columns[1]}, which "
            "does not "
            f"fit data.source_lang {source_lang} and data.target_lang {target_lang}; name the "
            "languages of the file's columns in data.columns (manythings.org files: [en, auto])"
        )
    return (0, 1) if named[0] == source_lang else (1, 0)


def read_pairs(
    corpus: str | Path, source_lang: str = "en", target_lang: str = "fr", columns=("en", "auto")
) -> tuple[pd.DataFrame, SkipReport]:
    """Raw (source, target, line) rows of a corpus, and what was skipped.

    An Anki file's source and target columns are the ones ``columns`` names for the
    languages; parallel files are found by the language codes.
    """
    path = Path(corpus)
    report = SkipReport()
    rows: list[tuple[str, str, int]] = []
    src_path, tgt_path = Path(f"{corpus}.{source_lang}"), Path(f"{corpus}.{target_lang}")
    if not path.is_file() and src_path.is_file() and tgt_path.is_file():
        src_lines, tgt_lines = (
            _read_bytes(src_path).splitlines(),
            _read_bytes(tgt_path).splitlines(),
        )
        if len(src_lines) != len(tgt_lines):
            raise UserError(
                f"parallel files {src_path} and {tgt_path} have {len(src_lines)} and "
                f"{len(tgt_lines)} lines; they must match"
            )
        for number, (src_raw, tgt_raw) in enumerate(zip(src_lines, tgt_lines), 1):
            report.lines_read += 1
            try:
                _add_pair(rows, report, src_raw.decode("utf-8"), tgt_raw.decode("utf-8"), number)
            except UnicodeDecodeError:
                report.skip("invalid UTF-8", number)
    elif path.exists():
        source_column, target_column = column_order(columns, source_lang, target_lang)
        for number, line in _decode_lines(_read_bytes(path), report):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 2:
                report.skip("no tab", number)
                continue
            _add_pair(rows, report, fields[source_column], fields[target_column], number)
    else:
        raise UserError(
            f"corpus {path} does not exist; run `make data` (or give CORPUS=path), "
            f"or give parallel files {src_path.name} / {tgt_path.name}"
        )
    return pd.DataFrame(rows, columns=["source", "target", "line"]), report


def _add_pair(rows, report: SkipReport, source: str, target: str, number: int) -> None:
    if not clean(source):
        report.skip("empty source", number)
    elif not clean(target):
        report.skip("empty target", number)
    else:
        rows.append((source.strip(), target.strip(), number))


def split_of(source_key: str, seed: int, valid_fraction: float, test_fraction: float) -> str:
    """Deterministic split of one cleaned source sentence: 'train', 'valid' or 'test'."""
    digest = hashlib.sha256(f"{seed}\t{source_key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + valid_fraction:
        return "valid"
    return "train"


@dataclass
class Corpus:
    """Tokenized pairs with their split; ``frame`` has source/target text and token columns."""

    frame: pd.DataFrame
    report: SkipReport

    def split(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == name]


def load_corpus(config: DataConfig, corpus: str | Path | None = None) -> Corpus:
    """Read, clean, tokenize, filter, deduplicate and split a corpus as ``config`` says."""
    frame, report = read_pairs(
        corpus or config.corpus, config.source_lang, config.target_lang, config.columns
    )
    if frame.empty:
        raise UserError(
            f"corpus {corpus or config.corpus} has no usable sentence pairs "
            f"({report.lines_read} lines read; {report.summary()}); expected "
            "'source<TAB>target' lines"
        )
    lower = config.lowercase
    frame["source_tokens"] = [
        tokenize(s, config.source_lang, lowercase=lower) for s in frame["source"]
    ]
    frame["target_tokens"] = [
        tokenize(t, config.target_lang, lowercase=lower) for t in frame["target"]
    ]
    too_long = (frame["source_tokens"].map(len) > config.max_tokens) | (
        frame["target_tokens"].map(len) > config.max_tokens
    )
    for number in frame.loc[too_long, "line"]:
        report.skip(f"longer than {config.max_tokens} tokens", int(number))
    frame = frame[~too_long]
    frame = frame.assign(
        key=frame["source_tokens"].map(" ".join), target_key=frame["target_tokens"].map(" ".join)
    )
    duplicated = frame.duplicated(["key", "target_key"])
    for number in frame.loc[duplicated, "line"]:
        report.skip("duplicate pair", int(number))
    frame = frame[~duplicated]
    if config.max_pairs:
        frame = frame.iloc[: config.max_pairs]
    splits = {
        key: split_of(key, config.split_seed, config.valid_fraction, config.test_fraction)
        for key in frame["key"].unique()
    }
    frame = (
        frame.assign(split=frame["key"].map(splits))
        .drop(columns=["target_key"])
        .reset_index(drop=True)
    )
    if not (frame["split"] == "train").any():
        raise UserError(
            f"corpus {corpus or config.corpus} left no training pairs after filtering; check "
            "data.max_tokens and the file"
        )
    return Corpus(frame, report)


def references_by_source(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct source sentence with all its raw target sentences as references."""
    grouped = frame.groupby("key", sort=False)
    return pd.DataFrame(
        {
            "source": grouped["source"].first(),
            "source_tokens": grouped["source_tokens"].first(),
            "references": grouped["target"].agg(list),
        }
    ).reset_index(drop=True)
