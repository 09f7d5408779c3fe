"""The report: rounds merged into medians (ratios only within a round), the targets, the
Markdown table and the docs section it replaces."""

from __future__ import annotations

import statistics
from pathlib import Path

from scripts.benchmark.common import MEDIAN_KEYS, REFERENCE_KEYS, ROOT, ROUND_KEYS, TARGETS


def summarise_round(results: dict, names: list[str]) -> dict:
    """One round's rows, each with its ratio to the reference and % of that round's probe."""
    matmul = results["matmul"]["matmul_gflops"]
    train = {}
    for name in names:
        row = dict(results[f"train:{name}"])
        row["percent_of_matmul"] = round(100 * row["useful_gflops_per_s"] / matmul, 1)
        if f"reference:{name}" in results:
            row["reference"] = results[f"reference:{name}"]
            row["ratio_vs_reference"] = round(
                row["real_tokens_per_s"] / row["reference"]["real_tokens_per_s"], 2
            )
        train[name] = row
    return {"matmul_gflops": matmul, "train": train}


def _median(values):
    return round(statistics.median(values), 2)


def merge_rounds(rounds: list[dict]) -> dict:
    """Per part: the median of every figure over the rounds, and each round's own figures.

    A ratio is only ever taken within a round (ours and the reference back to back, beside
    that round's matmul probe); the medians summarise those ratios, never divide across rounds.
    """
    merged = {}
    for name, first in rounds[0]["train"].items():
        rows = [r["train"][name] for r in rounds]
        row = dict(first)
        for key in MEDIAN_KEYS:
            if key in first:
                row[key] = _median([r[key] for r in rows])
        row["ms_per_step_repeats"] = [ms for r in rows for ms in r["ms_per_step_repeats"]]
        if "reference" in first:
            row["reference"] = {
                **first["reference"],
                **{k: _median([r["reference"][k] for r in rows]) for k in REFERENCE_KEYS},
            }
        row["rounds"] = [
            {
                "matmul_gflops": r["matmul_gflops"],
                **{k: r["train"][name][k] for k in ROUND_KEYS if k in r["train"][name]},
            }
            for r in rounds
        ]
        merged[name] = row
    return merged


def check_targets(report: dict) -> dict:
    """Which of issue #14's targets the run's medians meet."""
    checks = {}
    for name, targets in TARGETS.items():
        for key, wanted in targets.items():
            value = report["train"].get(name, {}).get(key)
            checks[f"{name} {key} >= {wanted}"] = None if value is None else value >= wanted
    decode = report["decode"]
    checks["greedy one sentence < 15 ms"] = decode["greedy"]["single_sentence_ms"] < 15
    checks["beam 5 one sentence < 30 ms"] = decode["beam"]["single_sentence_ms"] < 30
    ratio = decode.get("ratio_vs_reference")
    checks["batched greedy >= 200x the reference per sentence"] = (
        None if ratio is None else ratio >= 200
    )
    run = decode.get("transformer_run")
    if run:  # issue #33: the same targets for a trained Transformer
        checks["Transformer greedy one sentence < 15 ms"] = run["greedy"]["single_sentence_ms"] < 15
        checks["Transformer beam 5 one sentence < 30 ms"] = run["beam"]["single_sentence_ms"] < 30
        ratio = run.get("ratio_vs_reference")
        checks["Transformer batched greedy >= 200x the reference per sentence"] = (
            None if ratio is None else ratio >= 200
        )
    report["targets_met"] = checks
    return report


def markdown(report: dict) -> str:
    m = report["machine"]
    probes = ", ".join(map(str, m["matmul_per_round"]))
    dtypes = ", ".join(sorted({r["dtype"] for r in report["train"].values() if "dtype" in r}))
    cpu = f"{m['cpus']} CPU cores"
    if m.get("cpu_model"):  # reports before the CPU was recorded lack it
        native = "native" if m["native_bfloat16"] else "no native"
        cpu += f" ({m['cpu_model']}, {native} bfloat16 products)"
    lines = [
        f"Measured {report['date']} on {cpu}, Keras backend {report['backend']}"
        f"{', training dtype ' + dtypes if dtypes else ''}; "
        f"matmul probe (2048x2048 fp32, {m['library']}): **{m['matmul_gflops']} GFLOP/s** "
        "(median of the "
        f"rounds: {probes}). Each of the {len(m['matmul_per_round'])} rounds runs the probe, "
        "then every part with its reference right after it; figures are medians over the "
        "rounds, and brackets list each round's own.",
        "",
        "| training | sizes / batch | real target tokens/s | ms/step (median; repeats) | "
        "useful GFLOP/s | % of matmul | reference tokens/s (ms/step) | ratio vs reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["train"].items():
        sizes = r.get("sizes") or (  # reports before the Transformer lack it
            f"{r['embedding']} / {r['units']} / {r['batch']}" + " bi" * r["bidirectional"]
        )
        repeats = ", ".join(map(str, r["ms_per_step_repeats"]))
        ref = r.get("reference")
        versus = "- | -"
        if ref:
            versus = f"{ref['real_tokens_per_s']:,.0f} ({ref['median_ms_per_step']}) | "
            versus += f"**{r['ratio_vs_reference']}x** ({_each(r, 'ratio_vs_reference')})"
        speed = f"{r['real_tokens_per_s']:,.0f} | {r['median_ms_per_step']} ({repeats})"
        lines.append(
            f"| {name} | {sizes} | {speed} | {r['useful_gflops_per_s']} "
            f"| {r['percent_of_matmul']} % ({_each(r, 'percent_of_matmul')}) | {versus} |"
        )
    d = report["decode"]
    reference_ms = reference_rate = "-"
    if d.get("reference_sentences_per_s"):
        reference_ms = f"{1000 / d['reference_sentences_per_s']:.1f} ms"
        reference_rate = f"{d['reference_sentences_per_s']} sentences/s "
        reference_rate += f"(**{d['ratio_vs_reference']}x**)"
    lines += [
        "",
        f"Decoding with {d['model']}"
        + (f", shortlist {d['shortlist']} words per source word" if d.get("shortlist") else "")
        + ":",
        "",
        "| decoding | this project | over the whole vocabulary | reference |",
        "|---|---|---|---|",
        f"| greedy, one sentence (median of {d['test_sentences']} test sentences) | "
        f"{d['greedy']['single_sentence_ms']} ms | {_whole(d, 'greedy', 'single_sentence_ms')} "
        f"| {reference_ms} |",
        f"| beam 5, one sentence (median) | {d['beam']['single_sentence_ms']} ms "
        f"| {_whole(d, 'beam', 'single_sentence_ms')} | - |",
        f"| greedy, batched ({d['batched_sentences']} sentences) | "
        f"{d['greedy']['batched_sentences_per_s']:,.0f} sentences/s | "
        f"{_whole(d, 'greedy', 'batched_sentences_per_s')} | {reference_rate} |",
        f"| beam 5, batched | {d['beam']['batched_sentences_per_s']:,.0f} sentences/s "
        f"| {_whole(d, 'beam', 'batched_sentences_per_s')} | - |",
        *_run_rows(d.get("transformer_run")),
        "",
        "| target (issues #14, #33) | met |",
        "|---|---|",
        *(f"| {k} | {MET[v]} |" for k, v in report["targets_met"].items()),
    ]
    return "\n".join(lines) + "\n"


def _run_rows(run: dict | None) -> list[str]:
    """The trained Transformer's decoding, beside the small GRU's (reports before it lack it)."""
    if not run:
        return []
    ratio = run.get("ratio_vs_reference")
    ratio = f" (**{ratio}x** the reference)" if ratio else ""
    return [
        "",
        f"Decoding with the trained Transformer {run['model']}, shortlist {run['shortlist']}:",
        "",
        "| decoding | Transformer |",
        "|---|---|",
        f"| greedy, one sentence (median of {run['test_sentences']} test sentences) "
        f"| {run['greedy']['single_sentence_ms']} ms |",
        f"| beam 5, one sentence (median) | {run['beam']['single_sentence_ms']} ms |",
        f"| greedy, batched ({run['batched_sentences']} sentences) "
        f"| {run['greedy']['batched_sentences_per_s']:,.0f} sentences/s{ratio} |",
        f"| beam 5, batched | {run['beam']['batched_sentences_per_s']:,.0f} sentences/s |",
    ]


MET = {True: "yes", False: "**no**", None: "not measured (the reference needs TensorFlow)"}


def _whole(decode: dict, search: str, key: str) -> str:
    """A figure of the whole-vocabulary run (reports before the shortlist lack it)."""
    value = decode.get("whole_vocabulary", {}).get(search, {}).get(key)
    if value is None:
        return "-"
    return f"{value} ms" if key.endswith("_ms") else f"{value:,.0f} sentences/s"


def _each(row: dict, key: str) -> str:
    return ", ".join(str(r[key]) for r in row["rounds"])


def update_docs(table: str, page: Path = ROOT / "docs" / "performance.md") -> None:
    """Replace the text between the benchmark markers of docs/performance.md with ``table``."""
    start, end = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
    text = page.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{page} has no {start} ... {end} section to replace")
    head, rest = text.split(start, 1)
    page.write_text(head + start + "\n" + table + rest[rest.index(end) :], encoding="utf-8")
