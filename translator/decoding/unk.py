"""Rare words: put back what the model could only call ``<unk>``.

Every word seen fewer than ``data.min_count`` times in training (most names, numbers and
rare nouns) is ``<unk>`` to the model. With ``decode.unk_replace``:

* ``none``: no replacement (``decode.ban_unk`` then keeps ``<unk>`` out of the output);
* ``copy``: each ``<unk>`` the decoder writes is replaced by the source word it attends to
  most among the source words outside the vocabulary (any word, if the source has none
  such): names and numbers pass through unchanged;
* ``lexicon``: by that source word's most likely translation in a lexicon learned from the
  training split (``lexicon.json`` in the run), else copied as with ``copy``.

The lexicon pairs each training source word with the target word that co-occurs with it
most exclusively (highest Dice coefficient, 2·c(s,t) / (c(s) + c(t)), over sentences).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from translator.core.errors import UserError
from translator.core.files import atomic_write_text
from translator.data.vocab import UNK

MODES = ("none", "copy", "lexicon")
FORMAT, VERSION = "translator.Lexicon", 1


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


class Lexicon:
    """Source word -> its most likely target word, learned from parallel sentences."""

    def __init__(self, entries: dict[str, str]):
        self.entries = entries

    @classmethod
    def build(cls, sources: list[list[str]], targets: list[list[str]]) -> Lexicon:
        """Co-occurrence counts over sentence pairs; punctuation is left out."""
        source_counts, target_counts, pair_counts = Counter(), Counter(), Counter()
        for source, target in zip(sources, targets, strict=True):
            source_words = {w for w in source if _is_word(w)}
            target_words = {w for w in target if _is_word(w)}
            source_counts.update(source_words)
            target_counts.update(target_words)
            pair_counts.update((s, t) for s in source_words for t in target_words)
        best: dict[str, tuple[float, str]] = {}
        for (s, t), together in pair_counts.items():
            dice = 2 * together / (source_counts[s] + target_counts[t])
            if dice > best.get(s, (0.0, ""))[0] or (dice == best[s][0] and t < best[s][1]):
                best[s] = (dice, t)
        return cls({s: t for s, (_, t) in sorted(best.items())})

    def get(self, word: str) -> str | None:
        return self.entries.get(word)

    def save(self, path: Path) -> None:
        data = {"format": FORMAT, "version": VERSION, "entries": self.entries}
        atomic_write_text(Path(path), json.dumps(data, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError("not a translator lexicon of this version")
            return cls(dict(data["entries"]))
        except (OSError, ValueError, KeyError, AttributeError) as error:
            raise UserError(
                f"lexicon {path} is unreadable ({error}); delete it to build it again"
            ) from None


def replace_unknown(
    words: list[str],
    attention: np.ndarray,
    source_words: list[str],
    *,
    mode: str,
    lexicon: Lexicon | None = None,
    unknown: list[bool] | None = None,
) -> tuple[list[str], list[dict]]:
    """``words`` with every ``<unk>`` replaced, and a record of each replacement.

    ``attention`` is (len(words), len(source_words) [+ 1 for ``<end>``]); ``unknown`` marks
    the source words outside the vocabulary. The source word of an ``<unk>`` is the one with
    the highest weight in its row among the unknown ones, or among all if there are none.
    """
    if mode == "none" or UNK not in words:
        return words, []
    preferred = np.asarray(unknown if unknown and any(unknown) else [True] * len(source_words))
    out, replaced = list(words), []
    for position, word in enumerate(words):
        if word != UNK or not source_words:
            continue
        weights = np.where(preferred, attention[position, : len(source_words)], -1.0)
        source = source_words[int(np.argmax(weights))]
        translation = lexicon.get(source) if mode == "lexicon" and lexicon else None
        out[position] = translation or source
        replaced.append(
            {
                "position": position,
                "source": source,
                "word": out[position],
                "by": "lexicon" if translation else "copy",
            }
        )
    return out, replaced
