"""The machine's yardstick: its CPU and whether it multiplies bfloat16 natively, and the
matmul rate every "% of matmul" divides by."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from scripts.benchmark.common import has_tensorflow
from translator.core.backends import BFLOAT16_CPU_FLAGS


def cpu_facts(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU's model name, and whether it multiplies bfloat16 natively (Linux; else unknown).

    Mixed bfloat16 training measured 1.3-1.7x faster on a CPU with AVX512_BF16 and 7-16 %
    slower on one with only AVX2, so a figure means little without this beside it.
    """
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return {"cpu_model": "", "native_bfloat16": None}
    fields = {}
    for line in lines:  # the first processor's block is enough
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name", ""),
        "native_bfloat16": bool(flags & BFLOAT16_CPU_FLAGS),  # the set model.dtype: auto reads
    }


def worker_matmul(backend: str) -> dict:
    """fp32 2048x2048 matrix products per second on the device the parts train on.

    JAX's default device (a GPU where there is one) for ``--backend jax``; otherwise
    TensorFlow on the CPU, else NumPy.
    """
    size = 2048
    if backend == "jax":
        import jax

        a = jax.random.normal(jax.random.key(0), (size, size))
        product, library = (lambda: (a @ a).block_until_ready()), f"jax {jax.default_backend()}"
    elif has_tensorflow():
        import tensorflow as tf

        a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
        product, library = (lambda: tf.matmul(a, b).numpy()), "tensorflow"
    else:
        import numpy as np

        a = np.random.default_rng(0).normal(size=(size, size)).astype("float32")
        product, library = (lambda: a @ a), "numpy"
    for _ in range(3):
        product()
    times = []
    for _ in range(10):
        started = time.perf_counter()
        product()
        times.append(time.perf_counter() - started)
    gflops = 2 * size**3 / statistics.median(times) / 1e9
    return {"matmul_gflops": round(gflops, 1), "size": size, "library": library, **cpu_facts()}
