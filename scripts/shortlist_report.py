"""What a vocabulary shortlist costs in quality and gives in speed, on a trained run.

    .venv/bin/python -m scripts.shortlist_report [--run-dir runs/default] \\
        [--sizes 0 20 50 100] [--split test] [--out runs/shortlist.json]

For each ``decode.shortlist`` size (0 = the whole vocabulary, the reference) and for beam 5
and greedy search, on the run's test (or validation) split (every distinct source, all its
references):
BLEU and chrF, the share of translations identical to the whole vocabulary's, the share of
those reference translations' words inside each sentence's shortlist, the batched speed
(sentences/s, ``decode.batch_size`` at a time) and the median time of one sentence alone
(the first ``--singles`` sentences), all in one process, one size after the other.
Writes JSON and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def measure(run, sources, references, singles: int) -> dict:
    from translator.decoding.decode import translate_run
    from translator.decoding.evaluate import score

    translate_run(run, sources[:300])  # warm-up: trace this setting's graph
    for sentence in sources[:5]:
        translate_run(run, [sentence])
    started = time.perf_counter()
    results = translate_run(run, sources)
    batched = len(sources) / (time.perf_counter() - started)
    times = []
    for sentence in sources[:singles]:
        started = time.perf_counter()
        translate_run(run, [sentence])
        times.append(time.perf_counter() - started)
    texts = [r.text for r in results]
    scores = score(texts, references)
    return {
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "batched_sentences_per_s": round(batched, 1),
        "single_sentence_ms": round(1000 * statistics.median(times), 2),
        "translations": texts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default="runs/default")
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 20, 50, 100])
    parser.add_argument("--split", choices=("test", "valid"), default="test")
    parser.add_argument("--singles", type=int, default=100, help="sentences timed alone")
    parser.add_argument("--out", default="runs/shortlist.json")
    args = parser.parse_args()

    from translator.commands import choose_backend

    choose_backend()
    from translator.data.corpus import load_corpus, references_by_source
    from translator.training.rundir import load_run

    run = load_run(args.run_dir, shortlist=max(args.sizes))
    shortlist = run.model.shortlist
    frame = load_corpus(run.config.data).split(args.split)
    refs = references_by_source(frame)
    sources, references = list(refs["source_tokens"]), list(refs["references"])
    covered = {}  # reference words (every pair of the split) inside their sentence's shortlist
    for size in filter(None, args.sizes):
        inside = total = 0
        for tokens, target in zip(frame["source_tokens"], frame["target_tokens"], strict=True):
            allowed = shortlist.words_for(run.source_index.encode(tokens, add_end=True), size)
            ids = run.target_index.encode(target, add_end=True)
            inside += sum(i in allowed for i in ids)
            total += len(ids)
        covered[size] = round(100 * inside / total, 2)
    report = {"run": str(run.directory), "checkpoint": run.checkpoint.name, "searches": {}}
    for name, width in (("beam", run.config.decode.beam_size), ("greedy", 1)):
        rows = {}
        for size in args.sizes:
            run.options = run.options.replace(beam_size=width, shortlist=size)
            rows[size] = measure(run, sources, references, args.singles)
            print(f"{name} shortlist {size}: {json.dumps(rows[size] | {'translations': '...'})}")
        whole = rows[0]["translations"] if 0 in rows else None
        for size, row in rows.items():
            texts = row.pop("translations")
            if whole is not None:
                same = sum(a == b for a, b in zip(texts, whole, strict=True))
                row["identical_to_whole_vocabulary_percent"] = round(100 * same / len(texts), 2)
            if size:
                row["reference_words_inside_percent"] = covered[size]
        report["searches"][f"{name} {width}" if width > 1 else name] = rows
    report |= {"split": args.split, "sentences": len(sources)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("| search | shortlist | BLEU | chrF | identical | sentences/s | one sentence |")
    for name, rows in report["searches"].items():
        for size, r in rows.items():
            print(
                f"| {name} | {size or 'whole vocabulary'} | {r['bleu']} | {r['chrf']} "
                f"| {r.get('identical_to_whole_vocabulary_percent', '-')} % "
                f"| {r['batched_sentences_per_s']} | {r['single_sentence_ms']} ms |"
            )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
