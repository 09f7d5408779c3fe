"""Training parts: this project's trainer and the tutorial's recipe, timed on the same
batches."""

from __future__ import annotations

import statistics
import time

from scripts.benchmark.common import SIZES, load_config, peak_rss_mb, useful_forward_macs


def worker_train(name: str, quick: bool) -> dict:
    """This project's training speed on the first steps of an epoch."""
    import keras
    import numpy as np

    from translator.core import backends
    from translator.data.pipeline import BatchPlan, encode_pairs
    from translator.models.model import build_model

    config, corpus, source, target = load_config(name, quick)
    pairs = encode_pairs(corpus.split("train"), source, target)
    plan = BatchPlan(
        *pairs, config.train.batch_size, seed=0, bucket_width=config.train.bucket_width
    )
    keras.utils.set_random_seed(0)
    devices = backends.use_devices(config.train.devices, config.train.batch_size)
    model = build_model(config, len(source), len(target), len(plan))
    warmup = 5
    measured, repeats = (5, 2) if quick else (30 if name != "train_large" else 12, 3)
    batches = plan.batches(0)[: warmup + measured * repeats]
    first_pass_s = None
    if backends.name() != "tensorflow":
        # A compiling backend (JAX) builds one step function per batch shape: a first pass
        # over the same batches compiles every shape, so that no timed step includes it.
        started = time.perf_counter()
        model.fit(backends.training_batches(plan, 0), steps_per_epoch=len(batches), verbose=0)
        first_pass_s = round(time.perf_counter() - started, 1)
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    started = time.perf_counter()
    model.fit(
        backends.training_batches(plan, 0),
        steps_per_epoch=len(batches),
        verbose=0,
        callbacks=[Clock()],
    )
    step_s = np.diff([started] + times)[warmup:]
    chosen = batches[warmup:]
    real_target = sum(int(plan.target_lengths[b].sum() - len(b)) for b in chosen)
    source_lengths = [plan.source_lengths[i] for b in chosen for i in b]
    target_lengths = [plan.target_lengths[i] - 1 for b in chosen for i in b]
    macs = useful_forward_macs(config.model, len(target), source_lengths, target_lengths)
    total_s = float(step_s.sum())
    return {
        "backend": backends.name(),
        "device": backends.available_devices()[0],
        "devices": len(devices),
        "dtype": model.dtype_policy.name,
        "architecture": config.model.architecture,
        "sizes": model_sizes(config),
        "embedding": config.model.embedding_dim,
        "units": config.model.units,
        "batch": config.train.batch_size,
        "bidirectional": config.model.bidirectional,
        "vocab": [len(source), len(target)],
        "steps_measured": len(step_s),
        "first_pass_s": first_pass_s,  # compiling backends: the untimed pass that compiles
        "median_ms_per_step": round(1000 * float(np.median(step_s)), 1),
        "ms_per_step_repeats": [
            round(1000 * float(np.median(step_s[i * measured : (i + 1) * measured])), 1)
            for i in range(repeats)
        ],
        "real_tokens_per_s": round(real_target / total_s, 1),
        "pairs_per_s": round(sum(len(b) for b in chosen) / total_s, 1),
        "real_token_share": round(plan.real_token_share(0), 3),
        "useful_gflops_per_s": round(6 * macs / total_s / 1e9, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def model_sizes(config) -> str:
    """The sizes that set a part's cost, as the report's table shows them."""
    m, batch = config.model, config.train.batch_size
    if m.architecture == "transformer":
        return f"{m.layers} layers, d {m.model_dim}, ffn {m.ffn_dim}, {m.heads} heads / {batch}"
    return f"{m.embedding_dim} / {m.units} / {batch}" + " bi" * m.bidirectional


def worker_reference(name: str, quick: bool) -> dict:
    """The tutorial recipe's training speed at the same sizes and data."""

    from scripts.reference import Reference
    from translator.data.pipeline import encode_pairs

    config, corpus, source, target = load_config(name, quick)
    sources, targets = encode_pairs(corpus.split("train"), source, target)
    embedding, units, batch = SIZES[name]
    reference = Reference(len(source), len(target), embedding, units, batch)
    warmup, measured = (2, 5) if quick else (3, 20 if name != "train_large" else 8)
    times, real = [], 0
    for step, (inp, targ) in enumerate(reference.batches(sources, targets)):
        if step == warmup + measured:
            break
        started = time.perf_counter()
        float(reference.train_step(inp, targ))
        if step >= warmup:
            times.append(time.perf_counter() - started)
            real += int((targ[:, 1:] != 0).sum())
    return {
        "embedding": embedding,
        "units": units,
        "batch": batch,
        "steps_measured": measured,
        "padded_shape": [int(max(len(s) for s in sources)), int(max(len(t) for t in targets))],
        "median_ms_per_step": round(1000 * statistics.median(times), 1),
        "real_tokens_per_s": round(real / sum(times), 1),
        "peak_rss_mb": peak_rss_mb(),
    }
