"""The benchmark report: the machine it names and the ratios it takes within one round."""

import json
import subprocess
import sys

from conftest import ROOT, real_corpus

from scripts.benchmark.machine import cpu_facts
from scripts.benchmark.report import markdown, merge_rounds

FIXTURES = ROOT / "tests" / "fixtures"
CPUINFO = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum\n"
    "flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n\n"
    "processor\t: 1\nmodel name\t: another\nflags\t\t: fpu\n\n"
)


def test_cpu_facts_read_the_model_and_native_bfloat16_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    assert cpu_facts(cpuinfo) == {"cpu_model": "Intel(R) Xeon(R) Platinum", "native_bfloat16": True}
    cpuinfo.write_text(CPUINFO.replace(" avx512_bf16", ""))
    assert cpu_facts(cpuinfo)["native_bfloat16"] is False
    cpuinfo.write_text(CPUINFO.replace("avx512_bf16 amx_tile", "amx_bf16"))
    assert cpu_facts(cpuinfo)["native_bfloat16"] is True
    assert cpu_facts(tmp_path / "missing") == {"cpu_model": "", "native_bfloat16": None}


def _round(matmul, ours, reference):
    row = {
        "dtype": "mixed_bfloat16",
        "embedding": 128,
        "units": 256,
        "batch": 64,
        "bidirectional": False,
        "median_ms_per_step": 100.0,
        "ms_per_step_repeats": [100.0],
        "real_tokens_per_s": ours,
        "useful_gflops_per_s": 10.0,
        "percent_of_matmul": round(1000 / matmul, 1),
        "reference": {"real_tokens_per_s": reference, "median_ms_per_step": 300.0},
        "ratio_vs_reference": round(ours / reference, 2),
    }
    return {"matmul_gflops": matmul, "train": {"train_small": row}}


def test_the_report_names_the_cpu_and_dtype_and_gives_median_ratios_of_rounds():
    rounds = [_round(100.0, 3000, 1000), _round(200.0, 4000, 2000), _round(150.0, 3300, 1000)]
    train = merge_rounds(rounds)
    # The median of each round's own ratio (3.0, 2.0, 3.3), not a ratio of medians (3300/1000).
    assert train["train_small"]["ratio_vs_reference"] == 3.0
    assert [r["ratio_vs_reference"] for r in train["train_small"]["rounds"]] == [3.0, 2.0, 3.3]
    decode = {
        "model": "m",
        "test_sentences": 100,
        "batched_sentences": 1000,
        "greedy": {"single_sentence_ms": 5.0, "batched_sentences_per_s": 2000.0},
        "beam": {"single_sentence_ms": 12.0, "batched_sentences_per_s": 500.0},
    }
    machine = {"cpus": 2, "library": "tensorflow", "matmul_gflops": 150.0}
    report = {
        "date": "2026-11-29 22:00",
        "backend": "tensorflow",
        "machine": machine | {"matmul_per_round": [100.0, 200.0, 150.0]},
        "train": train,
        "decode": decode,
        "targets_met": {},
    }
    old = markdown(report)  # a report from before the CPU was recorded still renders
    assert "on 2 CPU cores, Keras backend tensorflow, training dtype mixed_bfloat16;" in old
    report["machine"] |= {"cpu_model": "AMD EPYC", "native_bfloat16": False}
    assert "on 2 CPU cores (AMD EPYC, no native bfloat16 products)" in markdown(report)
    assert "| beam 5, one sentence (median) | 12.0 ms | - | - |" in old  # no whole-vocab run
    report["decode"] |= {
        "shortlist": 50,
        "whole_vocabulary": {
            "greedy": {"single_sentence_ms": 9.5, "batched_sentences_per_s": 1500.0},
            "beam": {"single_sentence_ms": 20.0, "batched_sentences_per_s": 250.0},
        },
    }
    new = markdown(report)
    assert "Decoding with m, shortlist 50 words per source word:" in new
    assert "| beam 5, one sentence (median) | 12.0 ms | 20.0 ms | - |" in new
    assert "| beam 5, batched | 500 sentences/s | 250 sentences/s | - |" in new


def key_paths(value, prefix=""):
    """Every key of a JSON document as a path, list items folded into ``[]``."""
    if isinstance(value, dict):
        return {
            p for k, v in value.items() for p in {f"{prefix}/{k}"} | key_paths(v, f"{prefix}/{k}")
        }
    if isinstance(value, list):
        return {p for item in value for p in key_paths(item, f"{prefix}[]")}
    return set()


def test_the_benchmark_writes_the_keys_of_its_report(tmp_path):
    """`make bench` (here one quick round of train_small, with no trained Transformer run)
    writes the keys of tests/fixtures/benchmark_keys.txt, the full report's keys from a
    --quick run: those of scripts/benchmark.py before it became a package, then the
    Transformer's. The training parts left out are timed by train_small's worker."""
    out = tmp_path / "benchmark.json"
    done = subprocess.run(
        [sys.executable, "-m", "scripts.benchmark", "--quick", "--out", str(out)]
        + ["--parts", "train_small", "--transformer-run", str(tmp_path / "no-run")]
        + ["--set", f"data.corpus={real_corpus()}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    left_out = tuple(
        f"/train/{name}" for name in ("train_large", "train_default", "train_transformer")
    )
    expected = {
        key
        for key in (FIXTURES / "benchmark_keys.txt").read_text().splitlines()
        if not key.startswith(left_out)
    }
    got = key_paths(json.loads(out.read_text()))
    assert got == expected, {"missing": sorted(expected - got), "new": sorted(got - expected)}
    assert out.with_suffix(".md").read_text() == markdown(json.loads(out.read_text()))
