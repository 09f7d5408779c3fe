"""What every part of the benchmark shares: paths, the parts' sizes, their configs and
how a part runs in its own process."""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[2]


OUT = ROOT / "runs" / "benchmark.json"


MODEL_DIR = ROOT / "runs" / "bench-model"


SIZES = {  # name: (embedding, units, batch); a unidirectional encoder, as the tutorial's
    "train_small": (128, 256, 64),
    "train_large": (256, 1024, 64),
    "train_default": None,  # configs/default.yaml as it is
    "train_transformer": None,  # configs/transformer.yaml as it is
    "train_gpu": None,  # configs/gpu.yaml as it is (only where a GPU is found)
}


CONFIGS = {"train_gpu": "gpu.yaml", "train_transformer": "transformer.yaml"}  # else default


TRANSFORMER_RUN = ROOT / "runs" / "transformer"  # `make train CONFIG=configs/transformer.yaml`


VOCAB_CAPS = (4500, 7800)


PAIRS = 30000


DECODE_MODEL_STEPS = 2000  # batch 64: about 4 epochs of the 30,000 pairs


REFERENCED = ("train_small", "train_large")  # the parts timed beside the tutorial's recipe


# Over the rounds: figures given as medians, the reference's too, and those listed per round.
MEDIAN_KEYS = (
    "median_ms_per_step",
    "real_tokens_per_s",
    "pairs_per_s",
    "useful_gflops_per_s",
    "percent_of_matmul",
    "ratio_vs_reference",
)


REFERENCE_KEYS = ("median_ms_per_step", "real_tokens_per_s")


ROUND_KEYS = ("real_tokens_per_s", "percent_of_matmul", "ratio_vs_reference")


TARGETS = {  # what issue #14 asks for, checked in the report
    "train_small": {"ratio_vs_reference": 3.5, "percent_of_matmul": 50},
    "train_large": {"ratio_vs_reference": 4.5},
    "train_default": {"percent_of_matmul": 65},
}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_config(name: str, quick: bool):
    """The config of a benchmark part, its training split and vocabularies."""
    from translator.core import config as config_lib
    from translator.data.corpus import load_corpus
    from translator.data.vocab import LanguageIndex

    overrides = json.loads(os.environ.get("BENCHMARK_OVERRIDES", "[]"))
    path = ROOT / "configs" / CONFIGS.get(name, "default.yaml")
    config = config_lib.load(path, overrides)
    config.data.corpus = str(ROOT / config.data.corpus)
    if SIZES.get(name):
        config.model.embedding_dim, config.model.units, config.train.batch_size = SIZES[name]
        config.model.bidirectional = False
    config.data.max_pairs = 3000 if quick else PAIRS
    corpus = load_corpus(config.data)
    train = corpus.split("train")
    source = LanguageIndex.build(train["source_tokens"], "en", 1, VOCAB_CAPS[0])
    target = LanguageIndex.build(train["target_tokens"], "fr", 1, VOCAB_CAPS[1])
    return config, corpus, source, target


def useful_forward_macs(model_config, target_vocab: int, source_lengths, target_lengths) -> float:
    """Multiply-adds of one forward pass over real tokens, each matrix product once."""
    m = model_config
    if m.architecture == "transformer":
        return transformer_forward_macs(m, target_vocab, source_lengths, target_lengths)
    E, U, V = m.embedding_dim, m.units, target_vocab
    A = m.attention_units or U
    cell = U // 2 if m.bidirectional else U
    directions = 2 if m.bidirectional else 1
    encoder_per_token = directions * 3 * cell * (E + cell) * m.encoder_layers + U * A
    decoder_per_token = 3 * U * E + U * (A + 3 * U) + U * 3 * U + (U + U + E) * E + E * V
    macs = 0.0
    for s, t in zip(source_lengths, target_lengths):
        macs += s * encoder_per_token + t * decoder_per_token + t * s * (A + U) + U * U
    return macs


def transformer_forward_macs(m, target_vocab: int, source_lengths, target_lengths) -> float:
    """The Transformer's multiply-adds over real tokens: projections and feed-forwards per
    token, attention scores and mixing per pair of positions (the causal half only)."""
    d, f, layers = m.model_dim, m.ffn_dim, m.layers
    encoder_per_token = layers * (4 * d * d + 2 * d * f)
    decoder_per_token = layers * (6 * d * d + 2 * d * f) + d * target_vocab  # self + cross q, o
    macs = 0.0
    for s, t in zip(source_lengths, target_lengths):
        macs += s * encoder_per_token + t * decoder_per_token + s * layers * 2 * d * d  # cross k, v
        macs += layers * 2 * d * (s * s + t * (t + 1) / 2 + t * s)  # scores and mixing
    return macs


def run_worker(part: str, args, **environment_extra) -> dict:
    command = [sys.executable, "-m", "scripts.benchmark", "--worker", part]
    command += ["--backend", args.backend] + ["--quick"] * args.quick
    ours = part != "matmul" and not part.startswith("reference")
    environment = dict(
        os.environ,
        BENCHMARK_OVERRIDES=json.dumps(args.set),
        KERAS_BACKEND=args.backend if ours else "tensorflow",
        **environment_extra,
    )
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"benchmark part {part} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def has_tensorflow() -> bool:
    """The reference is TensorFlow code: without TensorFlow (a JAX-only GPU install) it is
    left out, and so are the ratios to it."""
    return importlib.util.find_spec("tensorflow") is not None


def has_gpu(backend: str) -> bool:
    if backend == "jax":
        probe = "import jax; print(jax.default_backend())"
    else:
        probe = (
            "import tensorflow as tf; print('gpu' * bool(tf.config.list_physical_devices('GPU')))"
        )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() == "gpu"
