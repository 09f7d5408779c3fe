"""``LanguageIndex``: the word <-> id vocabulary of one language (pure Python).

``data.vocab: unigram`` or ``bpe`` uses pieces instead (``translator.data.subwords``); both
kinds have the same ``encode``/``decode`` face, and ``subwords.load_index`` reads either.

Ids 0-3 are reserved: ``<pad>`` = 0 (so padding is id 0 everywhere), ``<unk>`` = 1 for
any word not in the vocabulary, ``<start>`` = 2 and ``<end>`` = 3. Words follow by
descending training-split frequency, ties broken alphabetically, so the same corpus always
gives the same ids. Saved as versioned JSON, validated on load.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from translator.core.errors import UserError
from translator.core.files import atomic_write_text

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
RESERVED = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = range(4)
FORMAT = "translator.LanguageIndex"
VERSION = 1


class LanguageIndex:
    """Vocabulary of one language: ``encode`` tokens to ids and ``decode`` ids back.

    Example:
        >>> index = LanguageIndex.build([["a", "b"], ["a"]], lang="en")
        >>> index.encode(["a", "zebra"], add_end=True)
        [4, 1, 3]
    """

    def __init__(self, words: list[str], lang: str):
        if list(words[: len(RESERVED)]) != list(RESERVED):
            raise ValueError(f"a vocabulary must start with the reserved tokens {RESERVED}")
        if len(set(words)) != len(words):
            raise ValueError("a vocabulary must not list a word twice")
        self.words = list(words)
        self.lang = lang
        self.word_to_id = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(
        cls,
        sentences: Iterable[list[str]],
        lang: str,
        min_count: int = 1,
        max_size: int = 0,
    ) -> LanguageIndex:
        """Count tokens of tokenized ``sentences`` (the training split only).

        Words seen fewer than ``min_count`` times are left out; ``max_size`` (0 = no limit)
        caps the vocabulary, reserved tokens included.
        """
        counts = Counter(token for sentence in sentences for token in sentence)
        for reserved in RESERVED:
            counts.pop(reserved, None)
        ranked = sorted(
            (word for word, n in counts.items() if n >= min_count),
            key=lambda word: (-counts[word], word),
        )
        if max_size:
            ranked = ranked[: max(0, max_size - len(RESERVED))]
        return cls(list(RESERVED) + ranked, lang)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.word_to_id

    def encode(
        self, tokens: Iterable[str], add_start: bool = False, add_end: bool = False
    ) -> list[int]:
        """Token ids; a word outside the vocabulary becomes ``<unk>``."""
        ids = [self.word_to_id.get(token, UNK_ID) for token in tokens]
        return ([START_ID] if add_start else []) + ids + ([END_ID] if add_end else [])

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Tokens of ``ids``, stopping at ``<end>``; ``<pad>``/``<start>`` dropped if asked."""
        return [
            self.words[i] if 0 <= i < len(self.words) else UNK
            for i in content_ids(ids, strip_special)
        ]

    def to_json(self) -> str:
        return json.dumps(
            {"format": FORMAT, "version": VERSION, "lang": self.lang, "words": self.words},
            ensure_ascii=False,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> LanguageIndex:
        """Read and validate a saved word vocabulary; any problem is one ``UserError`` line."""
        path = Path(path)
        data = read_saved(path)
        if data.get("format") != FORMAT:
            raise UserError(f"vocabulary file {path} is not a translator word vocabulary")
        return cls.from_saved(data, path)

    @classmethod
    def from_saved(cls, data: dict, path: Path) -> LanguageIndex:
        check_version(data, path, VERSION)
        words = data.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise UserError(f"vocabulary file {path} has no valid word list")
        try:
            return cls(words, str(data.get("lang", "")))
        except ValueError as error:
            raise UserError(f"vocabulary file {path} is invalid: {error}") from None


def content_ids(ids: Iterable[int], strip_special: bool = True) -> list[int]:
    """``ids`` as ints, up to ``<end>`` and without ``<pad>``/``<start>`` if ``strip_special``."""
    kept = []
    for i in map(int, ids):
        if i == END_ID and strip_special:
            break
        if not (strip_special and i in (PAD_ID, START_ID)):
            kept.append(i)
    return kept


def check_version(data: dict, path: Path, version: int) -> None:
    if data.get("version") != version:
        raise UserError(
            f"vocabulary file {path} has version {data.get('version')!r}; this translator "
            f"reads version {version}"
        )


def read_saved(path: Path) -> dict:
    """The parsed JSON of a saved vocabulary of either kind; any problem is one UserError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"vocabulary file {path} is missing; train the run again or point --run-dir at "
            "a complete run"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(
            f"vocabulary file {path} is corrupt ({error.__class__.__name__}); restore it "
            "or train the run again"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"vocabulary file {path} is not a translator vocabulary")
    return data
