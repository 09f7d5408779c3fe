"""The Transformer: shapes, masks, causality, the cached decoder against teacher forcing,
learning a small task, save/load, and decoding through the shared searches."""

import keras
import numpy as np
import pytest
from keras import ops
from synthetic import reversal_task
from test_model import SRC_VOCAB, TGT_VOCAB, batch

from translator.models.metrics import MaskedAccuracy, masked_loss
from translator.models.search import DecodeOptions, take
from translator.models.transformer import Transformer, positional_encoding


def make_model(**kwargs):
    keras.utils.set_random_seed(1)
    options = dict(layers=2, heads=2, model_dim=16, ffn_dim=32, dropout=0.0) | kwargs
    model = Transformer(source_vocab_size=SRC_VOCAB, target_vocab_size=TGT_VOCAB, **options)
    model.build(None)
    return model


def test_positions_are_distinct_unit_scale_vectors():
    vectors = np.asarray(positional_encoding(ops.arange(50), 16))
    assert vectors.shape == (50, 16)
    np.testing.assert_allclose((vectors**2).sum(-1), 8.0, rtol=1e-5)  # sin² + cos² per pair
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    assert (distances + np.eye(50) > 0.1).all()


def test_shapes_and_attention_rows_over_real_source_positions():
    model = make_model()
    source, target_in, _ = batch()
    logits, weights = model.forward((source, target_in))
    assert logits.shape == (3, 4, TGT_VOCAB) and weights.shape == (3, 4, 4)
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(weights[1, :, 2:], 0.0, atol=1e-7)
    np.testing.assert_allclose(weights[2, :, 1:], 0.0, atol=1e-7)


def test_a_position_sees_only_the_positions_before_it():
    model = make_model()
    source, target_in, _ = batch()
    changed = target_in.copy()
    changed[:, 2] = 12
    before, after = np.asarray(model((source, target_in))), np.asarray(model((source, changed)))
    np.testing.assert_allclose(after[:, :2], before[:, :2], atol=1e-6)
    assert not np.allclose(after[0, 2:], before[0, 2:])


def test_extra_padding_changes_no_real_position():
    model = make_model()
    source, target_in, target_out = batch()
    wide = lambda a, n: np.pad(a, ((0, 0), (0, n)))  # noqa: E731
    logits = np.asarray(model((source, target_in)))
    logits_wide = np.asarray(model((wide(source, 3), wide(target_in, 2))))
    real = target_out != 0
    np.testing.assert_allclose(logits_wide[:, :4][real], logits[real], atol=1e-5)


@pytest.mark.parametrize(
    "repeat, rows",
    [
        (3, [1, 3, 5, 8]),  # beam copies of sentences 0, 1, 1 and 2
        (1, [0, 2]),
        (1, None),
    ],
)
@pytest.mark.parametrize("tie", [True, False])
def test_cached_steps_are_teacher_forcing_position_by_position(repeat, rows, tie):
    """The decoder stepping one position at a time against its cache of keys and values
    gives, for every stepped row, the logits and attention of teacher forcing its sentence."""
    model = make_model(tie_embeddings=tie)
    source, target_in, _ = batch()
    forced_logits, forced_weights = (np.asarray(t) for t in model.forward((source, target_in)))
    steps = target_in.shape[1] + 2  # a cache longer than the target: the rest stays unseen
    state, next_fn = model.decoding_start(source, steps, repeat)
    stepped = np.arange(3 * repeat, dtype=np.int32) if rows is None else np.array(rows, np.int32)
    sentence = stepped // repeat
    copies = keras.tree.map_structure(lambda t: ops.repeat(t, repeat, axis=0), state)
    state = take(copies, stepped)  # as the searches give each stepped row its own state
    rows_stepped = None if rows is None else ops.convert_to_tensor(stepped)
    for step in range(target_in.shape[1]):
        token = ops.convert_to_tensor(target_in[sentence, step])
        logits, state, weights = next_fn(token, state, rows_stepped)
        np.testing.assert_allclose(np.asarray(logits), forced_logits[sentence, step], atol=1e-4)
        np.testing.assert_allclose(np.asarray(weights), forced_weights[sentence, step], atol=1e-5)
    assert (np.asarray(state["position"]) == target_in.shape[1]).all()


def test_learns_a_reversal_task():
    source, target_in, target_out, lengths = reversal_task(SRC_VOCAB, TGT_VOCAB)
    model = make_model(model_dim=32, ffn_dim=64)
    model.compile(
        optimizer=keras.optimizers.Adam(0.005), loss=masked_loss(), metrics=[MaskedAccuracy()]
    )
    for _ in range(300):
        logs = model.train_on_batch((source, target_in), target_out, return_dict=True)
        if logs["loss"] < 0.02:
            break
    assert logs["loss"] < 0.05 and logs["accuracy"] == 1.0
    for beam in (1, 4):  # and the searches find what it learned
        tokens = np.asarray(model.translate(source, DecodeOptions(beam_size=beam))["tokens"])
        for row, expected, n in zip(tokens, target_out, lengths):
            np.testing.assert_array_equal(row[: n + 1], expected[: n + 1])


@pytest.mark.parametrize("tie", [False, True])
def test_save_and_load_give_identical_outputs(tmp_path, tie):
    model = make_model(tie_embeddings=tie)
    source, target_in, _ = batch()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(
        np.asarray(loaded((source, target_in))), np.asarray(model((source, target_in)))
    )
    for options in (DecodeOptions(beam_size=1), DecodeOptions(beam_size=3)):
        np.testing.assert_array_equal(
            np.asarray(loaded.translate(source, options)["tokens"]),
            np.asarray(model.translate(source, options)["tokens"]),
        )
    assert loaded.get_config() == model.get_config()
    assert loaded.get_config()["layers"] == 2


def test_decoding_shapes_and_limits():
    model = make_model()
    source, _, _ = batch()
    for options in (DecodeOptions(beam_size=1), DecodeOptions(beam_size=3)):
        out = model.translate(source, options)
        tokens, attention = np.asarray(out["tokens"]), np.asarray(out["attention"])
        assert tokens.shape == (3, 13) and attention.shape == (3, 13, 4)
        extra = int(options.beam_size > 1)  # beam search: the <end> after a full-length output
        for row, n in zip(tokens, (source != 0).sum(1)):
            assert (row != 0).sum() <= 2 * n + 5 + extra and not np.isin(row, [1, 2]).any()
        spoken = tokens != 0
        np.testing.assert_allclose(attention.sum(-1)[spoken], 1.0, atol=1e-4)
