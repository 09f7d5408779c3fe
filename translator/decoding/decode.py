"""Batched translation (beam search or greedy) with the attention matrix of every sentence.

Sentences are sorted by length and decoded many at a time by the model's compiled
``translate`` (one graph per batch, no per-token Python loop); results come back in input
order. Each result's attention matrix has one row per output token (``<end>``
excluded) and one column per source token, padding trimmed, and every row sums to 1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from translator.core import backends
from translator.data.pipeline import pad
from translator.data.subwords import groups_of, is_subword, word_attention
from translator.data.text import detokenize, tokenize
from translator.data.vocab import END, END_ID, PAD_ID, UNK, LanguageIndex
from translator.decoding.unk import replace_unknown
from translator.models.search import DecodeOptions

DEFAULT_MAX_SOURCE_TOKENS = 100


@dataclass
class Translation:
    source_tokens: list[str]
    target_tokens: list[str]
    text: str
    attention: np.ndarray = field(repr=False)
    truncated: bool = False
    replaced: list = field(default_factory=list)  # <unk> replacements (see translator.decoding.unk)
    source_pieces: list = field(default_factory=list)  # subword vocabularies: what the model read
    target_pieces: list = field(default_factory=list)  # and wrote, before words were joined

    def to_dict(self, source: str, *, attention: bool = True) -> dict:
        """The JSON form; ``attention=False`` leaves the matrix out (and does not convert it)."""
        item = {
            "source": source,
            "source_tokens": self.source_tokens,
            "translation": self.text,
            "target_tokens": self.target_tokens,
            "truncated": self.truncated,
            "replaced": self.replaced,
        }
        if self.source_pieces:
            item["source_pieces"], item["target_pieces"] = self.source_pieces, self.target_pieces
        if attention:
            item["attention"] = np.round(self.attention, 5).tolist()
        return item


def translate_tokens(
    model,
    source_index: LanguageIndex,
    target_index: LanguageIndex,
    sources: list[list[str]],
    *,
    options: DecodeOptions | None = None,
    batch_size: int = 256,
    target_lang: str = "fr",
    max_source_tokens: int = DEFAULT_MAX_SOURCE_TOKENS,
    unk_replace: str = "none",
    lexicon=None,
) -> list[Translation]:
    """Translate tokenized sentences; unknown words show as ``<unk>`` in ``source_tokens``.

    ``options`` (default: the model's own) say how to decode. Each source ends with
    ``<end>``, as in training, so ``source_tokens`` and the attention matrix's columns end
    with it too. A sentence longer than ``max_source_tokens`` is translated from its first
    ``max_source_tokens`` tokens (its start is never cut) and flagged ``truncated``.
    ``unk_replace`` (``none``, ``copy`` or ``lexicon``, with a ``unk.Lexicon``) replaces the
    ``<unk>`` words of the output (``translator.decoding.unk``); the decoder may then write
    ``<unk>``. With subword vocabularies the model reads and writes pieces; the tokens and the
    attention matrix are shown per word (``subwords.word_attention``), the pieces beside them.
    """
    if unk_replace != "none":
        options = (options or model.decoding).replace(ban_unk=False)
    results: list[Translation | None] = [None] * len(sources)
    encoded = []
    for i, tokens in enumerate(sources):
        truncated = len(tokens) > max_source_tokens
        tokens = tokens[:max_source_tokens]
        ids = source_index.encode(tokens, add_end=True) if tokens else []
        shown = [t if t in source_index else UNK for t in tokens] + [END] * bool(tokens)
        if not ids:
            results[i] = Translation([], [], "", np.zeros((0, 0), np.float32))
        encoded.append((ids, shown, truncated, tokens))
    todo = sorted(
        (i for i in range(len(sources)) if results[i] is None), key=lambda i: len(encoded[i][0])
    )
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        source = pad(
            [np.asarray(encoded[i][0], np.int32) for i in batch],
            **backends.decode_padding(len(batch)),
        )
        output = model.translate(source, options)
        tokens, attention = np.asarray(output["tokens"]), np.asarray(output["attention"])
        for row, i in enumerate(batch):
            ids, shown, truncated, original = encoded[i]
            length = output_length(tokens[row])
            matrix = attention[row, :length, : len(ids)].astype(np.float32)
            if is_subword(target_index):
                results[i] = subword_translation(
                    source_index,
                    target_index,
                    ids,
                    tokens[row, :length],
                    matrix,
                    shown,
                    target_lang,
                )
                results[i].truncated = truncated
                continue
            words, replaced = replace_unknown(
                target_index.decode(tokens[row, :length]),
                matrix,
                original,
                mode=unk_replace,
                lexicon=lexicon,
                unknown=[word == UNK for word in shown[:-1]],
            )
            text = detokenize(words, target_lang)
            results[i] = Translation(shown, words, text, matrix, truncated, replaced)
    return results


def subword_translation(
    source_index, target_index, source_ids, target_ids, matrix, shown, target_lang
) -> Translation:
    """A translation in pieces shown as words: its text, tokens and word attention."""
    words, rows = target_index.spell(target_ids)
    columns = groups_of(source_index.word_of_piece(source_ids))
    return Translation(
        shown,
        words,
        detokenize(words, target_lang),
        word_attention(matrix, rows, columns),
        source_pieces=source_index.pieces(source_ids),
        target_pieces=target_index.pieces(target_ids),
    )


def output_length(ids: np.ndarray) -> int:
    """Tokens before the first <end> or padding."""
    stops = np.flatnonzero((ids == END_ID) | (ids == PAD_ID))
    return int(stops[0]) if stops.size else len(ids)


def translate_run(
    run, sources: list[list[str]], batch_size: int | None = None
) -> list[Translation]:
    """``translate_tokens`` with a loaded run's model, vocabularies and decoding settings."""
    return translate_tokens(
        run.model,
        run.source_index,
        run.target_index,
        sources,
        options=run.options,
        batch_size=batch_size or run.config.decode.batch_size,
        target_lang=run.config.data.target_lang,
        max_source_tokens=run.config.decode.max_source_tokens,
        unk_replace=run.unk_replace,
        lexicon=run.lexicon(),
    )


def translate_sentences(
    run, sentences: list[str], *, batch_size: int | None = None, warn=None
) -> list[Translation]:
    """Clean, tokenize and translate raw sentences with a loaded run (``rundir.Run``)."""
    data = run.config.data
    token_lists = [tokenize(s, data.source_lang, lowercase=data.lowercase) for s in sentences]
    results = translate_run(run, token_lists, batch_size)
    for number, result in enumerate(results, 1):
        if result.truncated:
            message = (
                f"warning: input {number} has more than {run.config.decode.max_source_tokens} "
                "tokens; "
                "only its first tokens were translated (decode.max_source_tokens)"
            )
            (warn or (lambda text: print(text, file=sys.stderr)))(message)
    return results
