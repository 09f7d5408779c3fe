"""A synthetic English -> French corpus made from a small grammar, for tests without the real data.

Every sentence is "<subject> <verb> <object>." with its French translation, so a model can
learn it exactly; some sentences get a second French translation, as in the real corpus.
"""

from __future__ import annotations

import itertools

import numpy as np

SUBJECTS = [
    ("I", "Je", 0),
    ("You", "Tu", 1),
    ("He", "Il", 2),
    ("She", "Elle", 2),
    ("We", "Nous", 3),
    ("They", "Ils", 4),
]
VERBS = [
    (("see", "see", "sees", "see", "see"), ("vois", "vois", "voit", "voyons", "voient")),
    (("like", "like", "likes", "like", "like"), ("aime", "aimes", "aime", "aimons", "aiment")),
    (("want", "want", "wants", "want", "want"), ("veux", "veux", "veut", "voulons", "veulent")),
    (("have", "have", "has", "have", "have"), ("ai", "as", "a", "avons", "ont")),
]
OBJECTS = [
    ("the cat", "le chat"),
    ("the dog", "le chien"),
    ("a book", "un livre"),
    ("the house", "la maison"),
    ("an apple", "une pomme"),
    ("the car", "la voiture"),
    ("my sister", "ma sœur"),
    ("the summer", "l'été"),
]


def synthetic_pairs() -> list[tuple[str, str]]:
    pairs = []
    for (en_s, fr_s, person), (en_v, fr_v), (en_o, fr_o) in itertools.product(
        SUBJECTS, VERBS, OBJECTS
    ):
        subject = "J'" if fr_s == "Je" and fr_v[person][0] in "aeiou" else fr_s + " "
        pairs.append((f"{en_s} {en_v[person]} {en_o}.", f"{subject}{fr_v[person]} {fr_o}."))
        if en_o == "the cat":
            pairs.append((f"{en_s} {en_v[person]} {en_o}.", f"{subject}{fr_v[person]} {fr_o} !"))
    return pairs


def write_corpus(path, pairs=None) -> str:
    pairs = pairs if pairs is not None else synthetic_pairs()
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(f"{en}\t{fr}\n" for en, fr in pairs)
    return str(path)


def reversal_task(source_vocab: int, target_vocab: int, pairs: int = 16, seed: int = 0):
    """Id arrays (source, target_in, target_out) and lengths of ``pairs`` sentences of 2-6
    words whose translation is the reversed sentence, word by word: a task a model can
    learn exactly from one batch."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 7, pairs)
    source = np.zeros((pairs, 7), np.int32)
    target_in = np.zeros((pairs, 8), np.int32)
    target_out = np.zeros((pairs, 8), np.int32)
    for i, n in enumerate(lengths):
        words = rng.integers(4, source_vocab, n)
        source[i, :n] = words
        translation = (words[::-1] % (target_vocab - 4)) + 4
        target_in[i, : n + 1] = np.r_[2, translation]
        target_out[i, : n + 1] = np.r_[translation, 3]
    return source, target_in, target_out, lengths
