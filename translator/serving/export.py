"""``export``: a TensorFlow SavedModel that translates raw strings with no ``translator`` code.

``tf.saved_model.load(DIR).translate(tf.constant(["I am cold."]))`` returns, per sentence,
the ``translation``, the ``source_tokens`` and ``target_tokens`` (padded with "") and the
``attention`` matrix (padded with 0): cleaning, tokenization, vocabulary lookup, decoding
and detokenization are all TensorFlow ops in the graph. The text rules are those of
``translator.data.text`` and ``translator.core.languages`` written as RE2 regular expressions; what
RE2 cannot say is left out: Unicode NFC composition (decomposed accents stay decomposed),
and Italian words that end in an apostrophe (``po'``). ``scripts/export_parity.py``
measures the agreement on a real corpus. ``<unk>`` replacement is not part of the export.

A run with a subword vocabulary exports its SentencePiece models as ``tensorflow-text`` ops,
so whoever loads the SavedModel runs ``import tensorflow_text`` first (it registers the ops).
Tokens and attention are shown per word, as ``translate`` shows them: a source word gets the
sum of its pieces' weights, a target word the mean of its pieces' rows.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

from translator.core.errors import UserError
from translator.core.languages import rules
from translator.data.subwords import WORD_START, is_subword
from translator.data.vocab import END, END_ID, PAD_ID, RESERVED, UNK, UNK_ID

WORD = r"[\p{L}\p{N}_]"  # Python's \w (letters, numbers, underscore); RE2's \w is ASCII only
TOKEN = rf"(\p{{Nd}}+(?:[.,:]\p{{Nd}}+)+|{WORD}+(?:['-]{WORD}+)*|\S)"
SPACES = r"[\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{85}\p{Z}]+"  # what str.isspace() calls space
INVISIBLE = r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}]"
CLOSING, OPENING = ".,)]}…%!?:;»", "([{¿¡«"


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def clean(text, lowercase: bool = False):
    """``text.clean`` on a tf.string tensor (without NFC composition)."""
    import tensorflow as tf

    text = tf.strings.regex_replace(text, "[’‘ʼ‛]", "'")
    text = tf.strings.regex_replace(text, "[“”„]", '"')
    text = tf.strings.regex_replace(text, SPACES, " ")
    text = tf.strings.regex_replace(text, INVISIBLE, "")
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def _resplit(tokens):
    """Split the elements of a ragged string tensor again at the spaces rules put in."""
    import tensorflow as tf

    return tf.strings.split(tf.strings.reduce_join(tokens, axis=-1, separator=" "))


def tokenize(text, lang: str, lowercase: bool = False):
    """``text.tokenize`` on a tf.string vector: a RaggedTensor of tokens per sentence."""
    import tensorflow as tf

    language = rules(lang)
    spaced = tf.strings.regex_replace(
        clean(text, lowercase and not language.keeps_case), TOKEN, r" \1 "
    )
    tokens = tf.strings.split(spaced)
    if language.elided_prefixes:  # qu'aujourd'hui: twice
        elided = rf"^((?i:{_alternatives(language.elided_prefixes)})')(.+)$"
        for _ in range(2):
            tokens = _resplit(
                tf.ragged.map_flat_values(tf.strings.regex_replace, tokens, elided, r"\1 \2")
            )
    if language.clitics:
        tokens = tf.ragged.map_flat_values(
            tf.strings.regex_replace, tokens, r"^(.+)((?i:n't))$", r"\1 \2"
        )
        others = _alternatives(c for c in language.clitics if c != "n't")
        tokens = tf.ragged.map_flat_values(
            tf.strings.regex_replace, tokens, rf"^([^']+)((?i:{others}))$", r"\1 \2"
        )
        tokens = _resplit(tokens)
    if language.hyphen_pronouns:  # a-t-il: from the end, a few times
        pronoun = rf"^(.+)-((?i:{_alternatives(language.hyphen_pronouns)}))$"
        for _ in range(3):
            tokens = _resplit(
                tf.ragged.map_flat_values(tf.strings.regex_replace, tokens, pronoun, r"\1 -\2")
            )
    return tokens


def detokenize(tokens, lang: str):
    """``text.detokenize`` on a RaggedTensor of tokens: one tf.string per row."""
    import tensorflow as tf

    language = rules(lang)
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    closing = "".join(c for c in CLOSING if c not in language.space_before)
    opening = "".join(c for c in OPENING if not (c == "«" and "»" in language.space_before))
    text = tf.strings.regex_replace(text, r'" ([^"]*?) "', r'"\1"')  # a pair of straight quotes
    text = tf.strings.regex_replace(text, rf" ([{re.escape(closing)}])", r"\1")
    text = tf.strings.regex_replace(text, r" (-\S)", r"\1")
    if language.clitics:
        clitics = _alternatives(language.clitics)
        for _ in range(2):  # "n't 's": matches that share a character need a second pass
            text = tf.strings.regex_replace(text, rf" ((?i:{clitics}))([^\pL\pN]|$)", r"\1\2")
    text = tf.strings.regex_replace(text, rf"([{re.escape(opening)}]) ", r"\1")
    if language.elided_prefixes:
        elided = _alternatives(language.elided_prefixes)
        for _ in range(2):
            text = tf.strings.regex_replace(text, rf"(^|[^\pL\pN])((?i:{elided})') ", r"\1\2")
    return text


def _source_vocabulary(index):
    """What turns a RaggedTensor of words into source ids (``<end>`` not yet added): a
    lookup table for words, SentencePiece (``tensorflow-text``) for pieces. Built outside the
    traced function, so the SavedModel keeps it as its own resource."""
    import tensorflow as tf

    if is_subword(index):  # distinct names: the loaded graph shares a SentencePiece model by
        import tensorflow_text  # its node's name, so two unnamed ones would become one

        pieces = tensorflow_text.SentencepieceTokenizer(
            model=index.model_proto, name="source_pieces"
        )
        return pieces, lambda words: pieces.tokenize(
            tf.strings.reduce_join(words, axis=-1, separator=" ")
        )
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(index.words, list(range(len(index.words)))),
        default_value=UNK_ID,
    )
    return table, table.lookup


def _word_numbers(ids, starts_word):
    """``SubwordIndex.word_of_piece`` on a batch: the word of each piece, from 0."""
    import tensorflow as tf

    reserved = ids < len(RESERVED)
    after_reserved = tf.pad(reserved[:, :-1], [[0, 0], [1, 0]], constant_values=True)
    new = reserved | after_reserved | tf.gather(starts_word, ids)
    return tf.cumsum(tf.cast(new, tf.int32), axis=1) - 1


def _word_matrix(numbers, kept, depth):
    """[batch, pieces, words]: 1 where a kept piece belongs to a word."""
    import tensorflow as tf

    return tf.one_hot(numbers, depth) * tf.cast(kept, tf.float32)[:, :, None]


def _subword_words(run, pieces, out_ids, keep, attention, source, source_mask):
    """Target words and the word-by-word attention of piece outputs, as ``translate`` shows
    them: a source word gets the sum of its pieces' weights, a target word the mean of its
    pieces' rows, and a piece group that spells nothing (a lone word mark) is no word."""
    import tensorflow as tf

    source_index, target_index = run.source_index, run.target_index
    text = pieces.detokenize(tf.ragged.boolean_mask(out_ids, keep))
    words = tf.strings.split(text)
    source_numbers = _word_numbers(source, tf.constant(source_index.starts_word))
    by_source_word = _word_matrix(source_numbers, source_mask, tf.shape(source)[1])
    summed = tf.matmul(tf.cast(attention, tf.float32), by_source_word)
    groups = _word_numbers(out_ids, tf.constant(target_index.starts_word))
    spells = tf.constant([bool(w.replace(WORD_START, "").strip()) for w in target_index.words])
    steps = tf.shape(out_ids)[1]
    by_group = _word_matrix(groups, keep & tf.gather(spells, out_ids), steps)
    group_is_word = tf.reduce_max(by_group, axis=1) > 0  # [batch, groups]
    word_of_group = tf.cumsum(tf.cast(group_is_word, tf.int32), axis=1) - 1
    numbers = tf.gather(word_of_group, groups, batch_dims=1)
    piece_is_word = keep & tf.gather(group_is_word, groups, batch_dims=1)
    by_word = _word_matrix(numbers, piece_is_word, steps)  # [batch, pieces, words]
    counts = tf.maximum(tf.reduce_sum(by_word, axis=1), 1.0)[:, :, None]
    word_attention = tf.matmul(by_word, summed, transpose_a=True) / counts
    return words, word_attention


def archive(run):
    """A ``keras.export.ExportArchive`` with the model, the vocabularies and ``translate``."""
    import keras
    import tensorflow as tf

    data, decode = run.config.data, run.config.decode
    model = run.model
    model.decoding = run.options  # traced once, with these options
    subwords = is_subword(run.target_index)
    source_vocabulary, source_ids = _source_vocabulary(run.source_index)
    resources = [source_vocabulary]
    if subwords:
        import tensorflow_text

        target_pieces = tensorflow_text.SentencepieceTokenizer(
            model=run.target_index.model_proto, name="target_pieces"
        )
        resources.append(target_pieces)

    def translate(text):
        tokens = tokenize(text, data.source_lang, data.lowercase)[:, : decode.max_source_tokens]
        ids = source_ids(tokens)
        rows = tf.shape(text)[0]
        end_ids = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], END_ID))
        source = tf.concat([ids, end_ids], axis=1).to_tensor(PAD_ID)
        empty = tokens.row_lengths() == 0
        output = model(source, training=False)
        out_ids, attention = output["tokens"], output["attention"]
        stops = tf.logical_or(tf.equal(out_ids, END_ID), tf.equal(out_ids, PAD_ID))
        keep = tf.equal(tf.cumsum(tf.cast(stops, tf.int32), axis=1), 0)
        keep = tf.logical_and(keep, tf.logical_not(empty)[:, None])
        source_mask = tf.not_equal(source, PAD_ID) & tf.logical_not(empty)[:, None]
        end = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], END))
        if subwords:
            target, attention = _subword_words(
                run, target_pieces, out_ids, keep, attention, source, source_mask
            )
            shown = tf.concat([tokens, end], axis=1).to_tensor("")
            source_mask = tf.not_equal(shown, "") & tf.logical_not(empty)[:, None]
            keep = tf.sequence_mask(target.row_lengths(), tf.shape(attention)[1])
            attention = attention[:, :, : tf.shape(shown)[1]]
        else:
            target = tf.ragged.boolean_mask(tf.gather(run.target_index.words, out_ids), keep)
            shown = tf.where(tf.equal(ids, UNK_ID), UNK, tokens)
            shown = tf.concat([shown, end], axis=1).to_tensor("")
        attention = attention * tf.cast(keep, attention.dtype)[:, :, None]
        attention = attention * tf.cast(source_mask, attention.dtype)[:, None, :]
        return {
            "translation": detokenize(target, data.target_lang),
            "target_tokens": target.to_tensor(""),
            "source_tokens": tf.ragged.boolean_mask(shown, source_mask).to_tensor(""),
            "attention": attention,
        }

    exported = keras.export.ExportArchive()
    weights = tf.Module(name="weights")  # the model's variables; the Keras model object itself
    weights.variables_of_model = list(model.variables)  # would add a float-input signature
    exported.track(weights)
    for resource in resources:
        exported.track(resource)
    exported.add_endpoint(
        "translate", translate, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    return exported


def export(
    run_dir: Path,
    out: Path,
    *,
    checkpoint: str | None = None,
    beam_size: int | None = None,
    length_penalty: float | None = None,
    shortlist: int | None = None,
) -> Path:
    """Write the SavedModel of a run to ``out`` (a new directory), atomically."""
    from translator.core import backends

    if backends.name() != "tensorflow":
        raise UserError(
            "export writes a TensorFlow SavedModel: run it with KERAS_BACKEND=tensorflow"
        )
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; give a new directory with --out (or delete it)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"cannot write in {out.parent}: {error.strerror}") from None
    from translator.training.rundir import load_run

    run = load_run(
        run_dir,
        checkpoint=checkpoint,
        beam_size=beam_size,
        length_penalty=length_penalty,
        shortlist=shortlist,
    )
    if is_subword(run.source_index) and importlib.util.find_spec("tensorflow_text") is None:
        raise UserError(
            "exporting a subword run needs tensorflow-text for its in-graph pieces: "
            "pip install --no-deps tensorflow-text==2.21.1 (make setup installs it)"
        )
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive(run).write_out(str(tmp), verbose=False)
        tmp.rename(out)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"could not write {out}: {error.strerror}") from None
    return out
