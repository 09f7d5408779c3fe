"""How token vectors start: drawn from N(0, 1/d), each of expected length 1.

Keras' defaults start a translation model on a plateau. Its embeddings are uniform in
±0.05 (a vector of length 0.03·√d) and a ``Dense`` output layer over a vocabulary of V words
is Glorot-uniform, of standard deviation about √(2/V) (0.035 for the tiny config's 1,632
French words). The path from a source or previous word to a prediction is a product of
these small factors, so at first the model learns only the target's word frequencies
(predicting the most frequent token everywhere: 19.1 % accuracy on the tiny config), and
when it leaves that plateau depends on the random draw: from 2026-11-30 the tiny config
stayed on it for its whole first epoch at every seed tried, while one seed's draw had
left it before.

Token vectors of length about 1, for the input embeddings and for the output layer's
columns alike (tied or not), keep every logit of order 1 at any ``embedding_dim`` and
leave that plateau within the first epoch at every seed measured (``docs/training.md``).
"""

from __future__ import annotations

import keras


def token_vectors(embedding_dim: int) -> keras.initializers.Initializer:
    """N(0, 1/embedding_dim): for embeddings and the (untied) output layer's kernel."""
    return keras.initializers.RandomNormal(stddev=embedding_dim**-0.5)
