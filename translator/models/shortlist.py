"""Vocabulary shortlists: decode each sentence over the target words it can plausibly need.

Most of a decoding step's arithmetic goes to scoring every word of the target vocabulary
(a 256 × 8,776 product, a log-sum-exp and a top-k per hypothesis and step), although a
sentence's translation draws on a few hundred of them. As in Marian's lexical shortlists,
each sentence may produce only

* the ``common`` most frequent target words of the training split (function words,
  punctuation, ``<end>``), and
* for each of its source words, the ``per_word`` target words that co-occur with it most
  exclusively in the training split's sentence pairs (outside the common ones).

Decoding then scores the union of a batch's shortlists only, and masks for each sentence the
words outside its own one, so that a translation does not depend on the sentences decoded
beside it. Probabilities are normalised over the shortlist. ``decode.shortlist`` sets
``per_word`` (0 scores the whole vocabulary); the table is learned with the run and saved in
it as ``shortlist.npz``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from keras import ops

from translator.core.errors import UserError
from translator.core.files import atomic_path
from translator.data.vocab import END_ID, PAD_ID, START_ID, UNK_ID

FORMAT, VERSION = "translator.Shortlist", 1
RESERVED = np.array([PAD_ID, UNK_ID, START_ID, END_ID], np.int32)
MAX_PER_WORD = 100  # the table keeps this many; decoding uses the first ``per_word``
COMMON_WORDS = 200


class Shortlist:
    """``candidates`` (source vocab, max per word) target ids, best first, padded with
    PAD_ID; ``common`` the target ids every sentence may produce (reserved ids first)."""

    def __init__(self, candidates: np.ndarray, common: np.ndarray):
        self.candidates = np.asarray(candidates, np.int32)
        self.common = np.asarray(common, np.int32)

    @classmethod
    def build(
        cls,
        sources,
        targets,
        source_size: int,
        target_size: int,
        *,
        common_words: int = COMMON_WORDS,
        max_per_word: int = MAX_PER_WORD,
    ) -> Shortlist:
        """Learned from sentence pairs of id arrays: the ``common_words`` target words in most
        pairs, and for each source word the ``max_per_word`` others with the highest Dice
        coefficient 2·c(s,t) / (c(s) + c(t)) over pairs (as ``unk.Lexicon`` ranks them)."""
        source_counts = np.zeros(source_size, np.int64)
        target_counts = np.zeros(target_size, np.int64)
        keys = []
        for source, target in zip(sources, targets, strict=True):
            source_ids = np.unique(source).astype(np.int64)
            target_ids = np.unique(target)
            source_counts[source_ids] += 1
            target_counts[target_ids] += 1
            keys.append((source_ids[:, None] * target_size + target_ids[None, :]).ravel())
        pairs, together = np.unique(
            np.concatenate(keys) if keys else np.zeros(0, np.int64), return_counts=True
        )
        frequent = np.argsort(-target_counts, kind="stable")
        frequent = frequent[~np.isin(frequent, RESERVED)][:common_words]
        common = np.concatenate([RESERVED, frequent.astype(np.int32)])
        in_common = np.zeros(target_size, bool)
        in_common[common] = True
        source_ids, target_ids = pairs // target_size, pairs % target_size
        # <end> ends every source: its company is the whole corpus, which ``common`` covers.
        keep = ~in_common[target_ids] & ~np.isin(source_ids, [PAD_ID, START_ID, END_ID])
        source_ids, target_ids, together = source_ids[keep], target_ids[keep], together[keep]
        dice = 2 * together / (source_counts[source_ids] + target_counts[target_ids])
        # Sort by source word, then best first (ties: lower target id first).
        order = np.lexsort((target_ids, -dice, source_ids))
        source_ids, target_ids = source_ids[order], target_ids[order]
        starts = np.searchsorted(source_ids, np.arange(source_size))
        rank = np.arange(len(source_ids)) - starts[source_ids]
        kept = rank < max_per_word
        candidates = np.full((source_size, max_per_word), PAD_ID, np.int32)
        candidates[source_ids[kept], rank[kept]] = target_ids[kept]
        return cls(candidates, common)

    def table(self, per_word: int) -> np.ndarray:
        """The first ``per_word`` candidates of every source word."""
        return self.candidates[:, :per_word]

    def words_for(self, source_ids, per_word: int) -> set[int]:
        """The target ids a sentence of ``source_ids`` may produce."""
        allowed = set(self.common.tolist())
        allowed.update(self.table(per_word)[np.asarray(source_ids, np.int64)].ravel().tolist())
        return allowed

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, format=FORMAT, version=VERSION, candidates=self.candidates, common=self.common
        )
        with atomic_path(Path(path)) as partial:
            partial.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Shortlist:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                if str(data["format"]) != FORMAT or int(data["version"]) != VERSION:
                    raise ValueError("not a translator shortlist of this version")
                return cls(data["candidates"], data["common"])
        except (OSError, ValueError, KeyError) as error:
            raise UserError(
                f"shortlist {path} is unreadable ({error}); delete it to build it again"
            ) from None


def restrict(source, table, common, vocab_size: int, gather: bool):
    """The columns a batch decodes over and which of them each sentence may produce.

    ``source`` (batch, src_len) ids; ``table`` (source vocab, per_word) and ``common`` from a
    ``Shortlist``. Returns ``columns`` (S,): sorted target ids, the reserved ones first, so
    that ``columns[i] == i`` for every reserved id; and ``allowed`` (batch, S) bool. With
    ``gather`` the columns are the union of the batch's shortlists; without (a backend that
    compiles one shape, JAX), all ``vocab_size`` ids, and ``allowed`` alone restricts.
    """
    batch = ops.shape(source)[0]
    words = ops.take(table, source, axis=0)  # (batch, src_len, k); padding adds nothing:
    words = ops.where(ops.expand_dims(ops.not_equal(source, PAD_ID), -1), words, PAD_ID)
    words = ops.reshape(words, (batch, -1))
    rows = ops.zeros_like(words) + ops.expand_dims(ops.arange(batch, dtype=words.dtype), 1)
    indices = ops.stack([ops.reshape(rows, (-1,)), ops.reshape(words, (-1,))], axis=1)
    hits = ops.scatter(indices, ops.ones((ops.shape(indices)[0],)), (batch, vocab_size))
    is_common = np.zeros(vocab_size, bool)
    is_common[common] = True
    allowed = ops.logical_or(ops.greater(hits, 0), is_common)
    if not gather:
        return ops.arange(vocab_size, dtype="int32"), allowed
    columns = ops.cast(ops.nonzero(ops.any(allowed, axis=0))[0], "int32")
    return columns, ops.take(allowed, columns, axis=1)
