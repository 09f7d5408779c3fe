"""What differs between Keras backends when training: the input pipeline and the devices.

Everything else (model, loss, checkpoints, metrics files) is the same code on every backend.

* Input: TensorFlow trains from a ``tf.data`` pipeline (``BatchPlan.dataset``), which
  measured fastest there. Every other backend trains from NumPy batches (``PaddedBatches``)
  whose widths are rounded up to a multiple of 8 and whose rows are filled up to the batch
  size, so a compiling backend (JAX) builds a few step functions instead of one per shape;
  padding is masked, so the arithmetic is the same. Nothing here imports TensorFlow unless
  the backend is TensorFlow.
* Devices: ``use_devices`` spreads each batch over several local devices with Keras' own
  ``keras.distribution.DataParallel`` (JAX). Several processes (hosts) join through
  ``keras.distribution.initialize``, configured by the ``KERAS_DISTRIBUTION_*`` variables;
  each process then feeds its own slice of every global batch.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from translator.core.errors import UserError

LENGTH_MULTIPLE = 8
DISTRIBUTION_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES")


def name() -> str:
    return keras.backend.backend()


class PaddedBatches(keras.utils.PyDataset):
    """The batches of one epoch of a ``BatchPlan`` as fixed-shape NumPy arrays.

    With several processes, process p of P yields rows ``p*B/P ... (p+1)*B/P`` of each
    global batch of B rows (``keras.distribution`` assembles the global batch from them).
    """

    def __init__(self, plan, epoch: int, start_step: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.plan = plan
        self.batches = plan.batches(epoch)[start_step:]
        self.process, self.processes = process_index(), process_count()

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        (source, target_in), target_out = self.plan.batch_arrays(
            self.batches[index], length_multiple=LENGTH_MULTIPLE, full_rows=True
        )
        if self.processes > 1:
            rows = len(source) // self.processes
            part = slice(self.process * rows, (self.process + 1) * rows)
            source, target_in, target_out = source[part], target_in[part], target_out[part]
        return (source, target_in), target_out


def decode_padding(rows: int) -> dict:
    """``pipeline.pad`` arguments for a decoding batch of ``rows`` sentences.

    TensorFlow decodes any shape in one traced graph; a compiling backend compiles once per
    shape, so there batches get widths in multiples of 8 and a power-of-two row count.
    """
    if name() == "tensorflow":
        return {}
    return {"multiple": LENGTH_MULTIPLE, "rows": 1 << (rows - 1).bit_length()}


def trace_for_any_source(predict_function) -> None:
    """Trace a fresh TensorFlow predict function once for source batches of any shape.

    Keras' ``tf.function`` traces for the first batch's exact shape and again, generalised,
    for the next shape it sees: a second trace of the decoding loop, 1-2 s on a CPU, that a
    service would pay on its first batch of a new size. Traced for ``(None, None)`` at once,
    every batch reuses the one graph. Compiling backends keep their per-shape functions.
    """
    if name() != "tensorflow":
        return
    import tensorflow as tf

    predict_function.get_concrete_function([(tf.TensorSpec([None, None], tf.int32),)])


def steps_change_shape() -> bool:
    """Whether a decoding step may work on fewer rows than the last (``search``'s ``compact``).

    TensorFlow graphs and eager backends allow it; JAX compiles the loop for one shape.
    """
    return name() != "jax"


def training_batches(plan, epoch: int, start_step: int = 0):
    """What ``model.fit`` / ``model.evaluate`` read for ``epoch`` from ``start_step`` on."""
    if name() == "tensorflow":
        return plan.dataset(epoch, start_step)
    return PaddedBatches(plan, epoch, start_step)


def sync_variables(model) -> None:
    """Make the model's variables current in the middle of ``fit`` (before a checkpoint).

    JAX's ``fit`` keeps the training state outside the variables until an epoch ends.
    """
    if name() == "jax":
        model.jax_state_sync()


def use_compilation(model) -> None:
    """Compile the train step as this backend does best: XLA on JAX, a graph on TensorFlow.

    A saved model remembers the ``jit_compile`` its first backend resolved (off for
    TensorFlow on a CPU, where XLA measured slower), which would leave JAX running op by op.
    """
    model.jit_compile = name() == "jax"


def process_index() -> int:
    if name() == "jax":
        import jax

        return jax.process_index()
    return 0


def process_count() -> int:
    if name() == "jax":
        import jax

        return jax.process_count()
    return 1


def prepare(train_config) -> str:
    """Check ``train.backend`` against the running one, set up the devices; a log line."""
    if train_config.backend not in ("auto", name()):
        raise UserError(
            f"train.backend is {train_config.backend} but Keras runs on {name()}; start "
            "a new process (python -m translator train picks the backend)"
        )
    devices = use_devices(train_config.devices, train_config.batch_size)
    plural = "s" * (len(devices) > 1)
    return (
        f"training on {len(devices)} device{plural} ({', '.join(devices)}), Keras backend {name()}"
    )


def use_devices(devices, batch_size: int) -> list[str]:
    """Train on ``devices`` ("auto": every local device, or a count); their names.

    More than one device (or process) sets a ``keras.distribution.DataParallel``
    distribution: variables are replicated and every batch is split across the devices.
    Call before the model is built.
    """
    if any(os.environ.get(variable) for variable in DISTRIBUTION_VARIABLES):
        if name() != "jax":
            raise UserError("multi-process training (KERAS_DISTRIBUTION_*) needs KERAS_BACKEND=jax")
        keras.distribution.initialize()
    available = available_devices()
    if devices == "auto":  # every device where keras.distribution can use them, else one
        wanted = len(available) if name() == "jax" else 1
    else:
        wanted = int(devices)
    if wanted > len(available):
        raise UserError(
            f"train.devices is {wanted} but only {len(available)} device(s) are available "
            f"({', '.join(available)}); set train.devices to auto or a smaller number"
        )
    chosen = available[:wanted]
    if wanted > 1 or process_count() > 1:
        if name() != "jax":
            raise UserError(
                f"training on {wanted} devices needs the JAX backend (KERAS_BACKEND=jax or "
                "train.backend: jax); keras.distribution does not support this backend"
            )
        if batch_size % wanted:
            raise UserError(
                f"train.batch_size {batch_size} must be a multiple of the {wanted} devices "
                "it is split across"
            )
        distribution = keras.distribution.DataParallel(
            devices=chosen, auto_shard_dataset=process_count() == 1
        )
        keras.distribution.set_distribution(distribution)
    return chosen


BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}  # /proc/cpuinfo's names for native products


def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 natively (elsewhere bfloat16 products are emulated,
    and each step is slower than in float32)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), ""
    )
    return bool(BFLOAT16_CPU_FLAGS & set(flags.split()))


def resolve_dtype(dtype: str) -> str:
    """``model.dtype: auto``: mixed bfloat16 on a GPU or a CPU with native bfloat16 products,
    float32 elsewhere. Both learn alike per step (docs/training.md); this picks the faster."""
    if dtype != "auto":
        return dtype
    on_gpu = any(device.startswith("gpu") for device in available_devices())
    return "mixed_bfloat16" if on_gpu or native_bfloat16() else "float32"


def available_devices() -> list[str]:
    """Names of the devices this backend can train on (keras.distribution names on JAX)."""
    if name() == "jax":
        return keras.distribution.list_devices()
    if name() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [f"gpu:{i}" for i in range(len(gpus))] or ["cpu:0"]
    return ["cpu:0"]
