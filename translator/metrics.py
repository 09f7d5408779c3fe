"""Loss and metrics over real target tokens only: padding (id 0) never counts."""
from __future__ import annotations

import keras
from keras import ops

from translator.vocab import PAD_ID


def masked_loss() -> keras.losses.Loss:
    """Cross-entropy averaged over real (non-pad) target tokens.

    Keras' ``ignore_class`` masks the padded positions and re-weights the rest so that the
    mean is taken over real tokens only (``tests/test_metrics.py`` checks it by hand).
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID, name="masked_cross_entropy")


@keras.saving.register_keras_serializable(package="translator")
class MaskedAccuracy(keras.metrics.Metric):
    """Share of real target tokens predicted right (argmax), padding excluded."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        real = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
        hits = ops.cast(ops.equal(ops.cast(y_true, "int32"), ops.cast(ops.argmax(y_pred, axis=-1), "int32")), "float32")
        self.correct.assign_add(ops.sum(hits * real))
        self.total.assign_add(ops.sum(real))

    def result(self):
        return ops.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)
