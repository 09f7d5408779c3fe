"""``SubwordIndex``: a SentencePiece vocabulary (unigram or BPE) behind ``LanguageIndex``'s face.

A word vocabulary turns every word it lacks (rare nouns, inflections, names) into ``<unk>``;
pieces spell any word, so no input or output ever holds ``<unk>``: words made of characters
the pieces lack fall back to their UTF-8 bytes. The pieces are learned with the
``sentencepiece`` package from the training split *after* this project's cleaning and
tokenization (``translator.data.text``), one token per whitespace-separated word, so the
language's elision, clitic and punctuation rules still decide what a word is, pieces never
cross a word, and ``detokenize`` joins the decoded words as before.

``encode`` takes the same word tokens as ``LanguageIndex.encode`` and gives piece ids (ids
0-3 are the same reserved tokens); ``decode`` gives words back. ``word_of_piece`` says which
word each piece belongs to, which is how attention matrices are shown per word. The trained
model travels inside the saved JSON (base64), so a run directory stays self-contained.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from translator.core.errors import UserError
from translator.core.files import atomic_write_text
from translator.data import vocab
from translator.data.vocab import END_ID, PAD, PAD_ID, RESERVED, START_ID, UNK

FORMAT = "translator.SubwordIndex"
VERSION = 1
KINDS = ("unigram", "bpe")
WORD_START = "\u2581"  # SentencePiece's mark of a piece that begins a word


class SubwordIndex:
    """Pieces of one language (or of both, for a joint vocabulary): words in, piece ids out.

    Example:
        >>> index = SubwordIndex.build([["le", "chat"], ["le", "chien"]] * 50, "fr", 300)
        >>> index.decode(index.encode(["le", "chaton"], add_end=True))
        ['le', 'chaton']
    """

    def __init__(self, model_proto: bytes, lang: str, kind: str):
        import sentencepiece

        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self.model_proto, self.lang, self.kind = model_proto, lang, kind
        self.words = [self.processor.id_to_piece(i) for i in range(len(self.processor))]
        if tuple(self.words[: len(RESERVED)]) != RESERVED:
            raise ValueError(f"a piece vocabulary must start with the reserved tokens {RESERVED}")
        starts = [p.startswith(WORD_START) for p in self.words]
        self.starts_word = [s and i >= len(RESERVED) for i, s in enumerate(starts)]

    @classmethod
    def build(
        cls, sentences: Iterable[list[str]], lang: str, vocab_size: int, kind: str = "unigram"
    ) -> SubwordIndex:
        """Learn ``vocab_size`` pieces (at most; fewer if the text has fewer) from tokenized
        ``sentences`` of the training split. The same sentences give the same pieces."""
        import sentencepiece

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        lines = [" ".join(tokens) for tokens in sentences if tokens]
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=model,
                model_type=kind,
                vocab_size=vocab_size,
                hard_vocab_limit=False,  # a small corpus gets the pieces it supports
                character_coverage=1.0,
                byte_fallback=True,  # no <unk>: unseen characters become bytes
                normalization_rule_name="identity",  # translator.data.text already cleaned
                split_digits=False,
                pad_id=PAD_ID,
                unk_id=RESERVED.index(UNK),
                bos_id=START_ID,
                eos_id=END_ID,
                pad_piece=PAD,
                unk_piece=UNK,
                bos_piece=RESERVED[START_ID],
                eos_piece=RESERVED[END_ID],
                num_threads=1,  # one thread: the same pieces on every machine
                minloglevel=2,
            )
        except RuntimeError as error:
            raise UserError(
                f"cannot learn {vocab_size} {kind} pieces for {lang}: {error}; lower "
                "data.vocab_size or give a larger corpus"
            ) from None
        return cls(model.getvalue(), lang, kind)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        """Every word can be spelled in pieces (bytes at worst)."""
        return bool(word)

    def encode(
        self, tokens: Iterable[str], add_start: bool = False, add_end: bool = False
    ) -> list[int]:
        """Piece ids of the words ``tokens``; never ``<unk>``."""
        text = " ".join(tokens)
        ids = self.processor.encode(text) if text else []
        return ([START_ID] if add_start else []) + ids + ([END_ID] if add_end else [])

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """The words that the piece ids spell, stopping at ``<end>``."""
        unk = RESERVED.index(UNK)
        kept = [i if 0 <= i < len(self) else unk for i in vocab.content_ids(ids, strip_special)]
        return self.processor.decode(kept).split()

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def word_of_piece(self, ids: Iterable[int]) -> list[int]:
        """The word each piece belongs to, counting from 0; a reserved token is a word of
        its own (the source's ``<end>`` column stays one column)."""
        numbers, word, previous = [], -1, None
        for i in map(int, ids):
            reserved = i < len(RESERVED)
            if previous is None or reserved or previous < len(RESERVED) or self.starts_word[i]:
                word += 1
            numbers.append(word)
            previous = i
        return numbers

    def spell(self, ids: Iterable[int]) -> tuple[list[str], list[list[int]]]:
        """The words that a decoder's piece ids spell, with the positions of each word's
        pieces (a piece that spells nothing on its own, such as a lone word mark, joins no
        word)."""
        ids = [int(i) for i in ids]
        words, positions = [], []
        for group in groups_of(self.word_of_piece(ids)):
            word = self.processor.decode([ids[p] for p in group]).strip()
            if word:
                words.append(word)
                positions.append(group)
        return words, positions

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "lang": self.lang,
                "kind": self.kind,
                "size": len(self),
                "sentencepiece": base64.b64encode(self.model_proto).decode("ascii"),
            }
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def from_saved(cls, data: dict, path: Path) -> SubwordIndex:
        """The index of a parsed saved file (``load_index`` reads and dispatches)."""
        vocab.check_version(data, path, VERSION)
        try:
            proto = base64.b64decode(data["sentencepiece"], validate=True)
            return cls(proto, str(data.get("lang", "")), str(data.get("kind", "")))
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise UserError(
                f"vocabulary file {path} holds no valid SentencePiece model "
                f"({error.__class__.__name__}); train the run again"
            ) from None


def load_index(path: str | os.PathLike):
    """A saved vocabulary of either kind: a ``LanguageIndex`` of words or a ``SubwordIndex``."""
    path = Path(path)
    data = vocab.read_saved(path)
    if data.get("format") == vocab.FORMAT:
        return vocab.LanguageIndex.from_saved(data, path)
    if data.get("format") == FORMAT:
        return SubwordIndex.from_saved(data, path)
    raise UserError(f"vocabulary file {path} is not a translator vocabulary")


def is_subword(index) -> bool:
    """Whether ``index`` holds pieces (no ``<unk>``; attention is shown per word)."""
    return isinstance(index, SubwordIndex)


def word_attention(
    matrix: np.ndarray, rows: list[list[int]], columns: list[list[int]]
) -> np.ndarray:
    """A piece-by-piece attention matrix as word by word: a source word receives the sum of
    its pieces' weights (the attention it got), a target word the mean of its pieces' rows
    (where it looked while it was written). Rows still sum to 1."""
    summed = np.stack([matrix[:, c].sum(axis=1) for c in columns], axis=1)
    if not rows:
        return np.zeros((0, len(columns)), matrix.dtype)
    return np.stack([summed[r].mean(axis=0) for r in rows]).astype(matrix.dtype)


def groups_of(word_numbers: list[int]) -> list[list[int]]:
    """Positions grouped by word number: [0, 0, 1] -> [[0, 1], [2]]."""
    groups: dict[int, list[int]] = {}
    for position, word in enumerate(word_numbers):
        groups.setdefault(word, []).append(position)
    return list(groups.values())
