"""The input pipeline: encoded pairs -> length-bucketed, padded teacher-forcing batches.

Sentences are encoded once and cached in memory as id arrays. Each epoch's batches are
planned in NumPy from a seeded generator: shuffle, then sort each window of
``batch_size * bucket_width`` pairs by length and cut it into batches (so a batch holds
sentences of nearly equal length and carries little padding), then shuffle the batch order.
The plan of epoch ``e`` depends only on ``(seed, e)``, which is what lets an interrupted run
resume at the exact batch where it stopped. On TensorFlow, ``tf.data`` pads and prefetches
the batches so input never stalls the training step; other backends take NumPy batches
(``arrays``) padded to a few fixed shapes (``length_multiple``, ``full_rows``), so that a
compiling backend such as JAX builds a handful of step functions, not one per length.

A batch is ``((source, target_in), target_out)``: ``source`` is the source ids + ``<end>``;
``target_in`` is ``<start>`` + target ids (the teacher-forced decoder input) and
``target_out`` is target ids + ``<end>``; all int32, padded with 0 (``<pad>``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from translator.data.vocab import LanguageIndex


def encode_pairs(frame: pd.DataFrame, source_index: LanguageIndex, target_index: LanguageIndex):
    """(source ids + <end>, <start> + target ids + <end>) per pair, as int32 arrays."""
    sources = [
        np.asarray(source_index.encode(t, add_end=True), np.int32) for t in frame["source_tokens"]
    ]
    targets = [
        np.asarray(target_index.encode(t, add_start=True, add_end=True), np.int32)
        for t in frame["target_tokens"]
    ]
    return sources, targets


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def pad(
    sequences: list[np.ndarray],
    length: int | None = None,
    *,
    multiple: int = 1,
    rows: int | None = None,
) -> np.ndarray:
    """Stack int sequences into a zero-padded (rows, length) int32 array.

    ``length`` defaults to the longest sequence, rounded up to a multiple of ``multiple``;
    ``rows`` (default: one per sequence) adds all-padding rows below.
    """
    length = length or round_up(max(len(s) for s in sequences), multiple)
    out = np.zeros((rows or len(sequences), length), np.int32)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = sequence
    return out


class BatchPlan:
    """Seeded, length-bucketed batches of encoded pairs, epoch by epoch."""

    def __init__(
        self,
        sources,
        targets,
        batch_size: int,
        *,
        seed: int = 0,
        bucket_width: int = 64,
        shuffle: bool = True,
    ):
        if len(sources) != len(targets):
            raise ValueError("sources and targets must have the same number of sentences")
        if not sources:
            raise ValueError("a batch plan needs at least one sentence pair")
        self.sources, self.targets = sources, targets
        self.batch_size, self.seed, self.bucket_width, self.shuffle = (
            batch_size,
            seed,
            bucket_width,
            shuffle,
        )
        self.source_lengths = np.array([len(s) for s in sources])
        self.target_lengths = np.array([len(t) for t in targets])

    def __len__(self) -> int:
        """Batches per epoch (the same for every epoch)."""
        window = self.batch_size * self.bucket_width
        n = len(self.sources)
        full, rest = divmod(n, window)
        return full * -(-window // self.batch_size) + -(-rest // self.batch_size)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The pair indices of every batch of ``epoch``, in training order."""
        n = len(self.sources)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        window = self.batch_size * self.bucket_width
        batches = []
        for start in range(0, n, window):
            chunk = order[start : start + window]
            chunk = chunk[np.lexsort((self.source_lengths[chunk], self.target_lengths[chunk]))]
            batches.extend(
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            )
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def batch_arrays(self, indices, length_multiple: int = 1, full_rows: bool = False):
        """One padded ``((source, target_in), target_out)`` NumPy batch of pair ``indices``.

        ``length_multiple`` rounds both widths up to a multiple of it; ``full_rows`` adds
        all-padding rows up to ``batch_size``. Padding is masked, so neither changes the loss.
        """
        rows = self.batch_size if full_rows else None
        source = pad([self.sources[i] for i in indices], multiple=length_multiple, rows=rows)
        target_in_width = round_up(max(len(self.targets[i]) for i in indices) - 1, length_multiple)
        target = pad([self.targets[i] for i in indices], target_in_width + 1, rows=rows)
        return (source, target[:, :-1]), target[:, 1:]

    def arrays(self, epoch: int, start_step: int = 0, **padding) -> Iterator[tuple]:
        """Padded NumPy batches of ``epoch`` from ``start_step`` on (see ``batch_arrays``)."""
        for indices in self.batches(epoch)[start_step:]:
            yield self.batch_arrays(indices, **padding)

    def dataset(self, epoch: int, start_step: int = 0):
        """A prefetching ``tf.data.Dataset`` of the batches of ``epoch`` from ``start_step``.

        Pure TensorFlow (ragged gathers, no Python generator): a generator's thread competes
        with the training step for the GIL and halved training speed on 2 cores.
        """
        import tensorflow as tf

        if not hasattr(self, "_ragged"):
            self._ragged = tuple(
                tf.RaggedTensor.from_row_lengths(
                    np.concatenate(seqs).astype(np.int32), [len(x) for x in seqs]
                )
                for seqs in (self.sources, self.targets)
            )
        sources, targets = self._ragged
        batches = self.batches(epoch)[start_step:]
        flat = np.concatenate(batches) if batches else np.zeros(0, np.int64)
        indices = tf.RaggedTensor.from_row_lengths(flat.astype(np.int64), [len(b) for b in batches])

        def gather(batch_indices):
            source = tf.gather(sources, batch_indices).to_tensor()
            target = tf.gather(targets, batch_indices).to_tensor()
            return (source, target[:, :-1]), target[:, 1:]

        dataset = tf.data.Dataset.from_tensor_slices(indices).map(
            gather, num_parallel_calls=1, deterministic=True
        )
        return dataset.prefetch(tf.data.AUTOTUNE)

    def real_token_share(self, epoch: int = 0) -> float:
        """Share of target positions in the epoch's batches that are real tokens, not padding."""
        real = padded = 0
        for indices in self.batches(epoch):
            lengths = self.target_lengths[indices] - 1
            real += int(lengths.sum())
            padded += int(lengths.max()) * len(indices)
        return real / padded
