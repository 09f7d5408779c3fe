"""Loss and metrics over real target tokens only: padding (id 0) never counts."""

from __future__ import annotations

import keras
from keras import ops

from translator.data.vocab import PAD_ID


def _target_log_probs(y_true, logits):
    """Each position's target log-probability and the real-token mask (no gradient needed)."""
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    target = ops.expand_dims(ops.cast(y_true, "int32"), -1)
    target_log_prob = ops.squeeze(ops.take_along_axis(log_probs, target, axis=-1), -1)
    return target_log_prob, ops.cast(ops.not_equal(y_true, PAD_ID), "float32")


@keras.saving.register_keras_serializable(package="translator")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy averaged over real (non-pad) target tokens, with optional label smoothing.

    With ``label_smoothing`` ε the target distribution is (1 - ε) on the reference token and
    ε spread evenly over the vocabulary (Szegedy et al., 2016): the model is kept from
    betting everything on one word, which helps a small corpus with many paraphrases.
    Per-token values are divided by the batch's real-token count and summed, so the batch
    loss is the mean over real tokens whatever the padding.
    """

    def __init__(self, label_smoothing=0.0, name="masked_cross_entropy", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        vocab, smoothing = log_probs.shape[-1], self.label_smoothing
        # The target distribution as a dense (..., vocab) tensor, not a gather of the target's
        # log-probability: a gather's gradient is a scatter into a zero tensor of the logits'
        # size, one single-threaded op that took 15 % of a train_default step on CPU; a
        # product's gradient is another product (train_default 238 -> 200 ms a step).
        target = ops.one_hot(ops.cast(y_true, "int32"), vocab) * (1.0 - smoothing)
        per_token = -ops.sum(log_probs * (target + smoothing / vocab), axis=-1)
        real = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
        return per_token * real / ops.maximum(ops.sum(real), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def masked_loss(label_smoothing: float = 0.0) -> keras.losses.Loss:
    """The training loss: masked (and optionally label-smoothed) token cross-entropy."""
    return MaskedCrossEntropy(label_smoothing)


@keras.saving.register_keras_serializable(package="translator")
class TokenCrossEntropy(keras.metrics.Metric):
    """Plain cross-entropy per real target token over all batches seen (perplexity = exp).

    Kept apart from the loss so that perplexity stays comparable when label smoothing is on.
    """

    def __init__(self, name="cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        target_log_prob, real = _target_log_probs(y_true, y_pred)
        self.total.assign_add(-ops.sum(target_log_prob * real))
        self.count.assign_add(ops.sum(real))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="translator")
class MaskedAccuracy(keras.metrics.Metric):
    """Share of real target tokens scored highest, padding excluded.

    A target tied with another word for the highest score counts as a hit. Logits of
    bfloat16 products keep about three significant digits, so ties happen, mostly while the
    scores are still flat: after 45 steps of the benchmark's train_small, 0.10718 against
    0.10713 by argmax.
    """

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        # A hit is a target scored at the maximum: one reduction over the vocabulary, where
        # an argmax is four on TensorFlow (Keras checks every logit for -0.0 first).
        real = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
        target = ops.expand_dims(ops.cast(y_true, "int32"), -1)
        target_logit = ops.squeeze(ops.take_along_axis(y_pred, target, axis=-1), -1)
        hits = ops.cast(ops.greater_equal(target_logit, ops.max(y_pred, axis=-1)), "float32")
        self.correct.assign_add(ops.sum(hits * real))
        self.total.assign_add(ops.sum(real))

    def result(self):
        return ops.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)
