"""What every architecture shares: the ``Seq2Seq`` model base, whose decoding (greedy or beam
search, length limits, the shortlist, the compiled predict function) runs over the step
function a subclass gives (``model.Translator``, the GRU; ``transformer.Transformer``).
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import ops

from translator.core import backends
from translator.data.vocab import PAD_ID
from translator.models.search import DecodeOptions, beam_search, greedy_search, never_predicted
from translator.models.shortlist import restrict


class Seq2Seq(keras.Model):
    """What every architecture shares: teacher-forced ``call``, compiled ``translate`` and the
    searches (greedy or beam, length limits, the shortlist), all over a step function.

    A subclass gives ``forward((source, target_in))`` -> (logits (batch, tgt_len, vocab),
    attention (batch, tgt_len, src_len)) and ``decoding_start(source, steps, repeat,
    columns, allowed)`` -> (first state, ``next_fn``): the interface of ``search``, whose
    ``next_fn(token, state, rows=None) -> (logits, state, attention)`` steps one position.

    Args:
        source_vocab_size, target_vocab_size: vocabulary sizes, reserved ids included.
        decoding: the default ``DecodeOptions`` (or their dict), used when ``translate``
            is given none.
    """

    architecture = None  # the config's model.architecture that names the subclass
    config_keys: tuple = ()  # the model-section keys its constructor takes

    def __init__(self, *, source_vocab_size, target_vocab_size, decoding=None, **kwargs):
        super().__init__(**kwargs)
        self.source_vocab_size, self.target_vocab_size = source_vocab_size, target_vocab_size
        if isinstance(decoding, dict):
            decoding = DecodeOptions(**decoding)
        self.decoding = decoding or DecodeOptions()
        self.shortlist = None  # a shortlist.Shortlist, set by whoever loads the run

    def build(self, input_shape=None):
        """Create every weight by running the model once on a dummy batch."""
        dummy = ops.ones((1, 2), "int32")
        self.forward((dummy, dummy))
        self.built = True

    def call(self, inputs, training=False):
        """``(source, target_in)``: teacher-forced logits; ``source`` alone: its translation.

        Decoding lives in ``call`` (not in an overridden ``predict_step``, whose signature
        differs between backends), so ``predict_on_batch(source)`` works on TensorFlow and JAX.
        """
        if isinstance(inputs, (tuple, list)):
            logits, _ = self.forward(inputs, training=training)
            return logits
        return self.decode(inputs)

    def translate(self, source, options: DecodeOptions | None = None) -> dict:
        """Decode a padded source batch (NumPy or tensor) as ``options`` say, compiled.

        The one place that changes how the model decodes: new options replace
        ``self.decoding`` and the compiled predict function, built once per set of options
        and kept, so that alternating between settings (a service's requests) compiles none
        again. A kept function is only ever called while its options are ``self.decoding``.
        """
        if options is not None and options != self.decoding:
            compiled = self.__dict__.setdefault("_compiled_by_options", {})
            compiled[self.decoding] = self.predict_function
            self.decoding = options
            if compiled.get(options) is None:
                self.make_predict_function(force=True)
            else:
                self.predict_function = compiled[options]
        return self.predict_on_batch(source)

    def make_predict_function(self, force=False):
        """Keras' predict function, traced once for sources of any shape (TensorFlow)."""
        fresh = force or self.predict_function is None
        super().make_predict_function(force)
        if fresh:
            backends.trace_for_any_source(self.predict_function)
        return self.predict_function

    def decode(self, source):
        """Greedy (``beam_size`` 1) or beam-search translation of a padded source batch."""
        options = self.decoding
        mask = ops.not_equal(source, PAD_ID)
        source_lengths = ops.sum(ops.cast(mask, "float32"), axis=-1)
        max_lengths = ops.cast(ops.ceil(source_lengths * options.max_length_ratio), "int32")
        max_lengths = max_lengths + options.max_length_offset
        # A source of one real word or more (its <end> besides) gets a translation of one word
        # or more: an empty output is almost never right.
        min_lengths = ops.cast(ops.greater(source_lengths, 1.0), "int32")
        width = source.shape[1]
        if width is None:  # dynamic in a TensorFlow graph
            width = ops.shape(source)[1]
            steps = ops.cast(
                ops.ceil(ops.cast(width, "float32") * options.max_length_ratio), "int32"
            )
            steps = steps + options.max_length_offset
        else:  # static: JAX needs a Python int for the loop length
            steps = math.ceil(width * options.max_length_ratio) + options.max_length_offset
        compact = backends.steps_change_shape()
        columns, allowed, offsets = self._vocabulary(source, compact)
        beam = options.beam_size > 1
        # Beam search runs one step more than its limit (search.beam_search).
        initial_state, next_fn = self.decoding_start(
            source, steps + 1, options.beam_size if beam else 1, columns, allowed
        )
        search_options = dict(
            offsets=offsets, source_length=width, compact=compact, min_lengths=min_lengths
        )
        if beam:
            search_options.update(
                beam_size=options.beam_size, length_penalty=options.length_penalty
            )
        search = beam_search if beam else greedy_search
        tokens, weights = search(next_fn, initial_state, max_lengths, steps, **search_options)
        if columns is not None:  # the searches' ids are column indices
            tokens = ops.take(columns, tokens, axis=0)
        return {"tokens": tokens, "attention": weights}

    def _vocabulary(self, source, gather):
        """(columns, allowed, offsets): what the search scores, ``shortlist.restrict``'s pair
        when the model has a ``shortlist`` and the options use it (else None, None), and the
        logit offsets of those columns (``never_predicted``)."""
        options = self.decoding
        offsets = never_predicted(self.target_vocab_size, options.ban_unk)
        shortlist = self.shortlist
        if not options.shortlist or shortlist is None or len(shortlist.common) < options.beam_size:
            return None, None, offsets
        columns, allowed = restrict(
            source,
            shortlist.table(options.shortlist),
            shortlist.common,
            self.target_vocab_size,
            gather=gather,
        )
        return columns, allowed, ops.take(offsets, columns, axis=0)

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            # dtype is keras.Model's own key; Transformer stores `layers` under another name
            **{key: getattr(self, key) for key in self.config_keys if key != "dtype"},
            "decoding": dataclasses.asdict(self.decoding),
        }

    @classmethod
    def from_config(cls, config):
        """Also reads models saved before ``decoding`` existed (its keys at the top level)."""
        config = dict(config)
        names = [f.name for f in dataclasses.fields(DecodeOptions)]
        flat = {name: config.pop(name) for name in names if name in config}
        if flat and "decoding" not in config:
            config["decoding"] = flat
        return cls(**config)
