"""Corpus statistics: what was read and skipped, split sizes, vocabularies, OOV rate, lengths."""

from __future__ import annotations

import json
from pathlib import Path

from translator.core.config import Config
from translator.data.corpus import load_corpus
from translator.core.files import atomic_write_text
from translator.data.vocab import LanguageIndex

PERCENTILES = (50, 90, 95, 99, 100)


def corpus_stats(config: Config, corpus_path: str | None = None) -> dict:
    d = config.data
    corpus = load_corpus(d, corpus_path)
    train, valid = corpus.split("train"), corpus.split("valid")
    source = LanguageIndex.build(train["source_tokens"], d.source_lang, d.min_count, d.max_vocab)
    target = LanguageIndex.build(train["target_tokens"], d.target_lang, d.min_count, d.max_vocab)

    def oov(index, column):
        tokens = [t for sentence in valid[column] for t in sentence]
        return round(100 * sum(t not in index for t in tokens) / max(1, len(tokens)), 2)

    lengths = {}
    for side, column in (("source", "source_tokens"), ("target", "target_tokens")):
        series = corpus.frame[column].map(len)
        lengths[side] = {f"p{p}": float(series.quantile(p / 100)) for p in PERCENTILES} | {
            "mean": round(float(series.mean()), 2)
        }
    frame = corpus.frame
    return {
        "corpus": str(corpus_path or d.corpus),
        "lines_read": corpus.report.lines_read,
        "pairs_kept": len(frame),
        "skipped": dict(corpus.report.counts),
        "skipped_examples": {k: list(v) for k, v in corpus.report.examples.items()},
        "splits": {
            name: {
                "pairs": int((frame["split"] == name).sum()),
                "source_sentences": int(frame.loc[frame["split"] == name, "key"].nunique()),
            }
            for name in ("train", "valid", "test")
        },
        "vocabulary": {"min_count": d.min_count, "source": len(source), "target": len(target)},
        "valid_oov_percent": {
            "source": oov(source, "source_tokens"),
            "target": oov(target, "target_tokens"),
        },
        "length_tokens": lengths,
    }


def format_table(stats: dict) -> str:
    rows = [
        ("corpus", stats["corpus"]),
        ("lines read", stats["lines_read"]),
        ("pairs kept", stats["pairs_kept"]),
    ]
    rows += [(f"skipped: {reason}", n) for reason, n in sorted(stats["skipped"].items())]
    rows += [
        (f"{name} pairs / sources", f"{s['pairs']} / {s['source_sentences']}")
        for name, s in stats["splits"].items()
    ]
    v = stats["vocabulary"]
    rows.append(
        (
            f"vocabulary (min_count {v['min_count']}) source / target",
            f"{v['source']} / {v['target']}",
        )
    )
    o = stats["valid_oov_percent"]
    rows.append(("validation OOV % source / target", f"{o['source']} / {o['target']}"))
    for side, values in stats["length_tokens"].items():
        rows.append(
            (
                f"{side} length tokens " + "/".join(values),
                " / ".join(f"{x:g}" for x in values.values()),
            )
        )
    width = max(len(str(name)) for name, _ in rows)
    return "\n".join(f"{str(name):<{width}}  {value}" for name, value in rows)


def write_stats(stats: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(stats, indent=1, ensure_ascii=False))
