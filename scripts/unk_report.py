"""Rare words on the test split: BLEU/chrF with each ``decode.unk_replace``, overall and on
the sentences with an out-of-vocabulary source word, and how many numbers and names survive.

    .venv/bin/python -m scripts.unk_report [--run-dir runs/default] [--out runs/unk-report.json]

A run with a subword vocabulary has one mode, ``pieces`` (nothing to replace); its
out-of-vocabulary sentences are the same ones, those with a source word that the word
vocabulary of the same config (``data.min_count``, ``data.max_vocab``) lacks, so the two
kinds of run compare on one subset.

Modes: ``ban_unk`` (no <unk> in the output, the decoder writes another word: the old
default), ``copy`` and ``lexicon`` (``translator.decoding.unk``). "Survive" counts, over the source
words outside the vocabulary that are numbers or capitalised (not sentence-initial), the
share that appears in the translation.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

NUMBER = re.compile(r"^\d")


def surviving(sources, results, source_index) -> dict:
    numbers = names = numbers_kept = names_kept = 0
    for tokens, result in zip(sources, results):
        output = set(result.target_tokens)
        for position, token in enumerate(tokens):
            if token in source_index:
                continue
            if NUMBER.match(token):
                numbers += 1
                numbers_kept += token in output
            elif position > 0 and token[:1].isupper():
                names += 1
                names_kept += token in output
    return {
        "oov_numbers": numbers,
        "numbers_kept_percent": round(100 * numbers_kept / max(1, numbers), 1),
        "oov_capitalised": names,
        "capitalised_kept_percent": round(100 * names_kept / max(1, names), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default="runs/default")
    parser.add_argument("--split", default="test", choices=("test", "valid"))
    parser.add_argument("--out", default="runs/unk-report.json")
    args = parser.parse_args()
    from dataclasses import replace

    from translator.data.corpus import load_corpus, references_by_source
    from translator.data.subwords import is_subword
    from translator.data.vocab import LanguageIndex
    from translator.decoding.decode import translate_run
    from translator.decoding.evaluate import score
    from translator.training.rundir import load_run

    run = load_run(args.run_dir)
    corpus, data = load_corpus(run.config.data), run.config.data
    refs = references_by_source(corpus.split(args.split))
    sources, references = list(refs["source_tokens"]), list(refs["references"])
    words = run.source_index
    if is_subword(words):
        train_tokens = corpus.split("train")["source_tokens"]
        words = LanguageIndex.build(train_tokens, data.source_lang, data.min_count, data.max_vocab)
    oov = [i for i, tokens in enumerate(sources) if any(t not in words for t in tokens)]
    report = {
        "run": args.run_dir,
        "vocab": data.vocab,
        "split": args.split,
        "sentences": len(sources),
        "oov_sentences": len(oov),
    }
    modes = ("pieces",) if is_subword(run.source_index) else ("ban_unk", "copy", "lexicon")
    for mode in modes:
        unk_replace = mode if mode in ("copy", "lexicon") else "none"
        mode_run = replace(run, unk_replace=unk_replace, _lexicon=None)
        if mode == "ban_unk":
            mode_run = replace(mode_run, options=run.options.replace(ban_unk=True))
        results = translate_run(mode_run, sources)
        hypotheses = [r.text for r in results]
        overall = score(hypotheses, references)
        subset = score([hypotheses[i] for i in oov], [references[i] for i in oov])
        report[mode] = {
            "bleu": overall["bleu"],
            "chrf": overall["chrf"],
            "oov_bleu": subset["bleu"],
            "oov_chrf": subset["chrf"],
            "replaced_words": sum(len(r.replaced) for r in results),
            "unk_in_output": sum(r.target_tokens.count("<unk>") for r in results),
            **surviving(sources, results, words),
        }
        print(mode, report[mode], flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
