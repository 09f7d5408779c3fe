"""The GRU model (``model.architecture: gru``), and ``build_model`` for every architecture.

Shapes: ``source`` (batch, src_len) and ``target_in`` (batch, tgt_len) int ids, 0 = padding.
Everything uses ``keras.ops``, so the model runs on the TensorFlow and JAX backends.
Constructors take keyword arguments only, named as the config's ``model`` keys: each class's
``config_keys`` are the ones it reads, and ``build_model`` builds the class that
``model.architecture`` names (``Translator`` for ``gru``, ``transformer.Transformer``).
"""

from __future__ import annotations

from dataclasses import asdict

import keras

from translator.models.decoder import Decoder
from translator.models.encoder import Encoder
from translator.models.search import DecodeOptions
from translator.models.seq2seq import Seq2Seq
from translator.models.transformer import Transformer


@keras.saving.register_keras_serializable(package="translator")
class Translator(Seq2Seq):
    """The GRU model: encoder, bridge (final encoder state -> first decoder state) and
    attention decoder (``model.architecture: gru``).

    ``model((source, target_in))`` gives teacher-forced logits (batch, tgt_len, tgt_vocab).
    ``model.translate(source, options)`` decodes a padded batch as ``options``
    (``search.DecodeOptions``: greedy or beam search, its width and length limits) say and
    returns ``{"tokens": (batch, steps), "attention": (batch, steps, src_len)}``.

    Args:
        source_vocab_size, target_vocab_size, decoding: as ``Seq2Seq``'s.
        embedding_dim, units, encoder_layers, bidirectional, attention, attention_units,
        dropout, tie_embeddings, dtype: as in the ``model`` section of the config (``dtype``
            is Keras' dtype policy, passed down to every sublayer).
    """

    architecture = "gru"
    config_keys = (
        "embedding_dim",
        "units",
        "encoder_layers",
        "bidirectional",
        "attention",
        "attention_units",
        "dropout",
        "tie_embeddings",
        "dtype",
    )

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
        super().__init__(
            source_vocab_size=source_vocab_size,
            target_vocab_size=target_vocab_size,
            decoding=decoding,
            **kwargs,
        )
        self.embedding_dim, self.units, self.encoder_layers = embedding_dim, units, encoder_layers
        self.bidirectional, self.attention = bidirectional, attention
        self.attention_units, self.dropout, self.tie_embeddings = (
            attention_units,
            dropout,
            tie_embeddings,
        )
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

    def forward(self, inputs, training=False):
        """Teacher-forced logits and attention weights (batch, tgt_len, src_len)."""
        source, target_in = inputs
        values, final, mask = self.encoder(source, training=training)
        return self.decoder(target_in, self.bridge(final), values, mask, training=training)

    def decoding_start(self, source, steps, repeat, columns=None, allowed=None):
        """The bridge's first state and the decoder's step function over the encoded source
        (its rows ``repeat``-ed for beam search); ``steps`` is not needed by a GRU."""
        values, final, mask = self.encoder(source, training=False)
        next_fn = self.decoder.step_function(
            values, mask, repeat=repeat, columns=columns, allowed=allowed
        )
        return self.bridge(final), next_fn


def model_class(architecture: str) -> type[Seq2Seq]:
    """The model class of a config's ``model.architecture`` (``gru`` or ``transformer``)."""
    return {cls.architecture: cls for cls in (Translator, Transformer)}[architecture]


def build_model(config, source_size: int, target_size: int, steps_per_epoch: int):
    """A compiled model as the config describes, with its optimizer and loss; of the
    ``model`` section it reads the keys of its architecture."""
    from translator.core.backends import resolve_dtype
    from translator.models.metrics import MaskedAccuracy, TokenCrossEntropy, masked_loss
    from translator.models.optimizer import build_optimizer

    cls = model_class(config.model.architecture)
    settings = asdict(config.model) | {"dtype": resolve_dtype(config.model.dtype)}
    model = cls(
        source_vocab_size=source_size,
        target_vocab_size=target_size,
        decoding=DecodeOptions.from_config(config.decode),
        **{key: settings[key] for key in cls.config_keys},
    )
    model.build(None)
    model.compile(
        optimizer=build_optimizer(config.train, steps_per_epoch),
        loss=masked_loss(config.train.label_smoothing),
        metrics=[MaskedAccuracy(), TokenCrossEntropy()],
    )
    return model
