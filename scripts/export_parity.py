"""How closely the SavedModel's in-graph text rules and translations follow this package's.

    .venv/bin/python -m scripts.export_parity [--corpus data/fra-eng/fra.txt] \\
        [--run-dir runs/default --export runs/default/export] [--out runs/export-parity.json]

1. Tokenization: ``translator.serving.export.tokenize`` (TensorFlow ops) against
   ``translator.data.text.tokenize`` on every sentence of the corpus, both languages.
2. Detokenization: ``export.detokenize`` against ``text.detokenize`` of the same tokens.
3. With ``--run-dir`` of a subword run: the in-graph SentencePiece ids (``tensorflow-text``)
   against ``SubwordIndex.encode`` on every source sentence of the corpus.
4. With ``--run-dir`` and ``--export``: the SavedModel's translations of the run's test
   split against ``translate``'s (same decoding settings).
Writes the agreement rates and the first differences as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DIFFERENCES_KEPT = 25


def compare(name: str, expected: list, got: list, sources: list[str]) -> dict:
    differences = [
        {"sentence": s, "python": e, "graph": g}
        for s, e, g in zip(sources, expected, got)
        if e != g
    ]
    agreement = 1 - len(differences) / max(1, len(sources))
    print(f"{name}: {100 * agreement:.3f} % of {len(sources):,} agree ({len(differences)} differ)")
    return {
        "sentences": len(sources),
        "agree_percent": round(100 * agreement, 3),
        "differ": len(differences),
        "differences": differences[:DIFFERENCES_KEPT],
    }


def text_parity(sentences: list[str], lang: str, lowercase: bool = False) -> dict:
    import tensorflow as tf

    from translator.data import text
    from translator.serving import export

    expected = [text.tokenize(s, lang, lowercase=lowercase) for s in sentences]
    got = []
    for start in range(0, len(sentences), 4096):
        ragged = export.tokenize(tf.constant(sentences[start : start + 4096]), lang, lowercase)
        got += [[t.decode() for t in row] for row in ragged.to_list()]
    joined = [text.detokenize(tokens, lang) for tokens in expected]
    ragged = tf.ragged.constant(expected, dtype=tf.string) if expected else None
    detokenized = [t.decode() for t in export.detokenize(ragged, lang).numpy()]
    return {
        "tokenize": compare(f"tokenize ({lang})", expected, got, sentences),
        "detokenize": compare(f"detokenize ({lang})", joined, detokenized, sentences),
    }


def piece_parity(sentences: list[str], run_dir: str) -> dict:
    import tensorflow as tf

    from translator.core import config as config_lib
    from translator.data import text
    from translator.data.subwords import load_index
    from translator.serving import export
    from translator.training.rundir import SOURCE_VOCAB

    data = config_lib.load(Path(run_dir) / "config.yaml").data
    lang, lowercase = data.source_lang, data.lowercase
    index = load_index(Path(run_dir) / SOURCE_VOCAB)
    expected = [index.encode(text.tokenize(s, lang, lowercase=lowercase)) for s in sentences]
    _, source_ids = export._source_vocabulary(index)
    got = []
    for start in range(0, len(sentences), 4096):
        words = export.tokenize(tf.constant(sentences[start : start + 4096]), lang, lowercase)
        got += source_ids(words).to_list()
    return compare(f"pieces ({lang})", expected, got, sentences)


def translation_parity(run_dir: str, export_dir: str) -> dict:
    import tensorflow as tf

    from translator.data.corpus import load_corpus, references_by_source
    from translator.decoding.decode import translate_sentences
    from translator.training.rundir import load_run

    run = load_run(run_dir, unk_replace="none")  # the export does not replace <unk>
    sources = list(references_by_source(load_corpus(run.config.data).split("test"))["source"])
    expected = [r.text for r in translate_sentences(run, sources, warn=lambda _: None)]
    saved = tf.saved_model.load(export_dir)
    got = []
    for start in range(0, len(sources), run.config.decode.batch_size):
        out = saved.translate(tf.constant(sources[start : start + run.config.decode.batch_size]))
        got += [t.decode() for t in np.asarray(out["translation"])]
    return compare("translations (test split)", expected, got, sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="data/fra-eng/fra.txt")
    parser.add_argument("--source-lang", default="en")
    parser.add_argument("--target-lang", default="fr")
    parser.add_argument("--run-dir")
    parser.add_argument("--export")
    parser.add_argument("--out", default="runs/export-parity.json")
    args = parser.parse_args()
    from translator.data.corpus import read_pairs

    frame, _ = read_pairs(args.corpus, args.source_lang, args.target_lang)
    report = {
        "corpus": args.corpus,
        args.source_lang: text_parity(list(frame["source"]), args.source_lang),
        args.target_lang: text_parity(list(frame["target"]), args.target_lang),
    }
    from translator.data.subwords import is_subword, load_index
    from translator.training.rundir import SOURCE_VOCAB

    if args.run_dir and is_subword(load_index(Path(args.run_dir) / SOURCE_VOCAB)):
        report["pieces"] = piece_parity(list(frame["source"]), args.run_dir)
    if args.run_dir and args.export:
        report["translations"] = translation_parity(args.run_dir, args.export)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
