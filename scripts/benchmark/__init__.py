"""Speed benchmark: this project beside a reference implementation, on one machine, in one run.

    make bench        # or: .venv/bin/python -m scripts.benchmark [--backend jax] [--quick]
    .venv/bin/python -m scripts.benchmark --docs   # docs/performance.md's table from the JSON

Writes ``runs/benchmark.json`` and ``runs/benchmark.md``. Every part runs in its own
subprocess (its own peak memory, one heavy job at a time):

* in each of ``--rounds`` rounds: the machine's matmul rate (2048x2048 fp32 products), the
  yardstick for "% of matmul", then every training part with its reference right after it;
* training: this project's trainer (``train_small``/``train_large``: the tutorial's sizes with
  a unidirectional encoder; ``train_default``: configs/default.yaml; on a GPU also
  ``train_gpu``) and the tutorial's recipe (``scripts/reference.py``) at the same sizes, on
  the first 30,000 pairs of the corpus with vocabularies capped at 4,500 / 7,800 words;
* decoding with a small model trained to a fixed step count (kept in ``runs/bench-model``):
  one sentence greedy and beam 5 (median of 100 test sentences), batched greedy, and the
  reference's eager one-sentence loop run (on TensorFlow, in its own process) for as many
  words as this model's outputs have.

Ratios (``ratio_vs_reference``) are only ever taken between figures of the same round.
On JAX an untimed first pass over the measured batches compiles every shape, and the probe
runs on JAX's default device (the GPU, where there is one). Without TensorFlow (a JAX-only
GPU install) the reference parts are left out and their ratios reported as not measured.
"Useful" FLOPs count 3 x 2 x the forward pass's multiply-adds over real (non-pad) tokens.
"""
