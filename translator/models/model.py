"""The sequence-to-sequence model: GRU encoder, attention decoder, and decoding.

Shapes: ``source`` (batch, src_len) and ``target_in`` (batch, tgt_len) int ids, 0 = padding.
Everything uses ``keras.ops``, so the model runs on the TensorFlow and JAX backends.
Constructors take keyword arguments only; ``Translator``'s are the keys of the config's
``model`` section, so ``Translator(source_vocab_size=..., target_vocab_size=...,
**asdict(config.model))`` builds the model a config describes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import asdict

import keras
from keras import ops

from translator.core import backends
from translator.models.decoder import Decoder
from translator.models.encoder import Encoder
from translator.models.search import DecodeOptions, beam_search, greedy_search, never_predicted
from translator.models.shortlist import restrict


@keras.saving.register_keras_serializable(package="translator")
class Translator(keras.Model):
    """Encoder, bridge (final encoder state -> first decoder state) and attention decoder.

    ``model((source, target_in))`` gives teacher-forced logits (batch, tgt_len, tgt_vocab).
    ``model.translate(source, options)`` decodes a padded batch as ``options``
    (``search.DecodeOptions``: greedy or beam search, its width and length limits) say and
    returns ``{"tokens": (batch, steps), "attention": (batch, steps, src_len)}``.

    Args:
        source_vocab_size, target_vocab_size: vocabulary sizes, reserved ids included.
        embedding_dim, units, encoder_layers, bidirectional, attention, attention_units,
        dropout, tie_embeddings, dtype: as in the ``model`` section of the config (``dtype``
            is Keras' dtype policy, passed down to every sublayer).
        decoding: the default ``DecodeOptions`` (or their dict), used when ``translate``
            is given none.
    """

    def __init__(
        self,
        *,
        source_vocab_size,
        target_vocab_size,
        embedding_dim=256,
        units=512,
        encoder_layers=1,
        bidirectional=True,
        attention="bahdanau",
        attention_units=0,
        dropout=0.0,
        tie_embeddings=False,
        decoding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_vocab_size, self.target_vocab_size = source_vocab_size, target_vocab_size
        self.embedding_dim, self.units, self.encoder_layers = embedding_dim, units, encoder_layers
        self.bidirectional, self.attention_type = bidirectional, attention
        self.attention_units, self.dropout, self.tie_embeddings = (
            attention_units,
            dropout,
            tie_embeddings,
        )
        if isinstance(decoding, dict):
            decoding = DecodeOptions(**decoding)
        self.decoding = decoding or DecodeOptions()
        self.shortlist = None  # a shortlist.Shortlist, set by whoever loads the run
        self.encoder = Encoder(
            vocab_size=source_vocab_size,
            embedding_dim=embedding_dim,
            units=units,
            num_layers=encoder_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            name="encoder",
            dtype=self.dtype_policy,
        )
        self.bridge = keras.layers.Dense(
            units, activation="tanh", name="bridge", dtype=self.dtype_policy
        )
        self.decoder = Decoder(
            vocab_size=target_vocab_size,
            embedding_dim=embedding_dim,
            units=units,
            attention=attention,
            attention_units=attention_units,
            dropout=dropout,
            tie_embeddings=tie_embeddings,
            name="decoder",
            dtype=self.dtype_policy,
        )

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

    def forward(self, inputs, training=False):
        """Teacher-forced logits and attention weights (batch, tgt_len, src_len)."""
        source, target_in = inputs
        values, final, mask = self.encoder(source, training=training)
        return self.decoder(target_in, self.bridge(final), values, mask, training=training)

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
        values, final, mask = self.encoder(source, training=False)
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
        initial_state = self.bridge(final)
        compact = backends.steps_change_shape()
        columns, allowed, offsets = self._vocabulary(source, compact)
        step = functools.partial(self.decoder.step_function, columns=columns, allowed=allowed)
        if options.beam_size <= 1:
            tokens, weights = greedy_search(
                step(values, mask),
                initial_state,
                max_lengths,
                steps,
                offsets=offsets,
                source_length=width,
                compact=compact,
                min_lengths=min_lengths,
            )
        else:
            tokens, weights = beam_search(
                step(values, mask, repeat=options.beam_size),
                initial_state,
                max_lengths,
                steps,
                beam_size=options.beam_size,
                length_penalty=options.length_penalty,
                offsets=offsets,
                source_length=width,
                compact=compact,
                min_lengths=min_lengths,
            )
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
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "encoder_layers": self.encoder_layers,
            "bidirectional": self.bidirectional,
            "attention": self.attention_type,
            "attention_units": self.attention_units,
            "dropout": self.dropout,
            "tie_embeddings": self.tie_embeddings,
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


def build_model(config, source_size: int, target_size: int, steps_per_epoch: int):
    """A compiled ``Translator`` as the config describes, with its optimizer and loss."""
    from translator.core.backends import resolve_dtype
    from translator.models.metrics import MaskedAccuracy, TokenCrossEntropy, masked_loss
    from translator.models.optimizer import build_optimizer

    model = Translator(
        source_vocab_size=source_size,
        target_vocab_size=target_size,
        decoding=DecodeOptions.from_config(config.decode),
        **(asdict(config.model) | {"dtype": resolve_dtype(config.model.dtype)}),
    )
    model.build(None)
    model.compile(
        optimizer=build_optimizer(config.train, steps_per_epoch),
        loss=masked_loss(config.train.label_smoothing),
        metrics=[MaskedAccuracy(), TokenCrossEntropy()],
    )
    return model
