"""``export``: a TensorFlow SavedModel that translates raw strings with no ``translator`` code.

``tf.saved_model.load(DIR).translate(tf.constant(["I am cold."]))`` returns, per sentence,
the ``translation``, the ``source_tokens`` and ``target_tokens`` (padded with "") and the
``attention`` matrix (padded with 0): cleaning, tokenization, vocabulary lookup, decoding
and detokenization are all TensorFlow ops in the graph. The text rules are those of
``translator.data.text`` and ``translator.core.languages`` written as RE2 regular expressions; what
RE2 cannot say is left out: Unicode NFC composition (decomposed accents stay decomposed),
and Italian words that end in an apostrophe (``po'``). ``scripts/export_parity.py``
measures the agreement on a real corpus. ``<unk>`` replacement is not part of the export.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from translator.core import config as config_lib
from translator.core.errors import UserError
from translator.core.languages import rules
from translator.data.vocab import END, END_ID, PAD_ID, UNK, UNK_ID

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


def archive(run):
    """A ``keras.export.ExportArchive`` with the model, the vocabularies and ``translate``."""
    import keras
    import tensorflow as tf

    data, decode = run.config.data, run.config.decode
    model = run.model
    model.decoding = run.options  # traced once, with these options
    words = run.source_index.words
    source_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(words, list(range(len(words)))), default_value=UNK_ID
    )
    target_words = tf.constant(run.target_index.words)

    def translate(text):
        tokens = tokenize(text, data.source_lang, data.lowercase)[:, : decode.max_source_tokens]
        ids = source_table.lookup(tokens)
        rows = tf.shape(text)[0]
        end_ids = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], END_ID))
        source = tf.concat([ids, end_ids], axis=1).to_tensor(PAD_ID)
        empty = tokens.row_lengths() == 0
        output = model(source, training=False)
        out_ids, attention = output["tokens"], output["attention"]
        stops = tf.logical_or(tf.equal(out_ids, END_ID), tf.equal(out_ids, PAD_ID))
        keep = tf.equal(tf.cumsum(tf.cast(stops, tf.int32), axis=1), 0)
        keep = tf.logical_and(keep, tf.logical_not(empty)[:, None])
        target = tf.ragged.boolean_mask(tf.gather(target_words, out_ids), keep)
        shown = tf.where(tf.equal(ids, UNK_ID), UNK, tokens)
        shown = tf.concat([shown, tf.RaggedTensor.from_tensor(tf.fill([rows, 1], END))], axis=1)
        source_mask = tf.not_equal(source, PAD_ID) & tf.logical_not(empty)[:, None]
        attention = attention * tf.cast(keep, attention.dtype)[:, :, None]
        attention = attention * tf.cast(source_mask, attention.dtype)[:, None, :]
        return {
            "translation": detokenize(target, data.target_lang),
            "target_tokens": target.to_tensor(""),
            "source_tokens": tf.ragged.boolean_mask(shown.to_tensor(""), source_mask).to_tensor(""),
            "attention": attention,
        }

    exported = keras.export.ExportArchive()
    weights = tf.Module(name="weights")  # the model's variables; the Keras model object itself
    weights.variables_of_model = list(model.variables)  # would add a float-input signature
    exported.track(weights)
    exported.track(source_table)
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
    config = config_lib.load(Path(run_dir) / "config.yaml") if Path(run_dir).is_dir() else None
    if config is not None and config.data.vocab != "word":
        raise UserError(
            f"run {run_dir} uses a {config.data.vocab} subword vocabulary, which export cannot "
            "write into a SavedModel yet; export a run with data.vocab: word, or translate "
            "with `python -m translator translate`"
        )
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
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive(run).write_out(str(tmp), verbose=False)
        tmp.rename(out)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"could not write {out}: {error.strerror}") from None
    return out
