"""Model behaviour: shapes, masks, padding invariance, sanity of the loss, save/load."""

import math

import keras
import numpy as np
import pytest
from keras import ops
from synthetic import reversal_task

from translator.models.attention import Attention
from translator.models.metrics import MaskedAccuracy, TokenCrossEntropy, masked_loss
from translator.models.model import Translator
from translator.models.search import DecodeOptions

SRC_VOCAB, TGT_VOCAB = 30, 40


def make_model(**kwargs):
    keras.utils.set_random_seed(1)
    options = dict(embedding_dim=16, units=32, dropout=0.0) | kwargs
    model = Translator(source_vocab_size=SRC_VOCAB, target_vocab_size=TGT_VOCAB, **options)
    model.build(None)
    return model


def batch():
    source = np.array([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]], np.int32)
    target_in = np.array([[2, 5, 6, 7], [2, 8, 0, 0], [2, 9, 10, 0]], np.int32)
    target_out = np.array([[5, 6, 7, 3], [8, 3, 0, 0], [9, 10, 3, 0]], np.int32)
    return source, target_in, target_out


@pytest.mark.parametrize("attention", ["bahdanau", "general", "dot"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_shapes(attention, bidirectional):
    model = make_model(attention=attention, bidirectional=bidirectional)
    source, target_in, _ = batch()
    values, final, mask = model.encoder(source)
    assert values.shape == (3, 4, 32) and final.shape == (3, 32) and mask.shape == (3, 4)
    logits, weights = model.forward((source, target_in))
    assert logits.shape == (3, 4, TGT_VOCAB) and weights.shape == (3, 4, 4)


def test_attention_rows_sum_to_one_and_are_zero_on_padding():
    model = make_model()
    source, target_in, _ = batch()
    _, weights = model.forward((source, target_in))
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    padded = np.broadcast_to((source == 0)[:, None, :], weights.shape)
    assert (weights[padded] == 0.0).all() and (weights[~padded] > 0).all()


def test_attention_layer_alone():
    layer = Attention(8)
    values = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    context, weights = layer(np.ones((2, 4), "float32"), values, mask=mask)
    assert context.shape == (2, 6) and weights.shape == (2, 5)
    np.testing.assert_allclose(np.asarray(weights)[0, 3:], 0.0)
    np.testing.assert_allclose(
        np.asarray(context), np.einsum("bs,bsh->bh", np.asarray(weights), values), atol=1e-5
    )


def test_extra_padding_changes_neither_loss_nor_outputs():
    model = make_model()
    source, target_in, target_out = batch()
    wide = lambda a, n: np.pad(a, ((0, 0), (0, n)))  # noqa: E731
    logits = np.asarray(model((source, target_in)))
    logits_wide = np.asarray(model((wide(source, 3), wide(target_in, 2))))
    real = target_out != 0
    np.testing.assert_allclose(logits_wide[:, :4][real], logits[real], atol=1e-5)
    loss = masked_loss()
    np.testing.assert_allclose(
        float(loss(wide(target_out, 2), logits_wide)), float(loss(target_out, logits)), rtol=1e-5
    )


def test_masked_loss_is_the_mean_over_real_tokens():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, TGT_VOCAB)).astype("float32")
    _, _, target_out = batch()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, target_out[..., None], -1)[..., 0]
    expected = -picked[target_out != 0].mean()
    assert float(masked_loss()(target_out, logits)) == pytest.approx(expected, rel=1e-5)
    accuracy = MaskedAccuracy()
    accuracy.update_state(target_out, logits)
    hits = (logits.argmax(-1) == target_out)[target_out != 0]
    assert float(accuracy.result()) == pytest.approx(hits.mean())


def test_accuracy_counts_real_tokens_scored_highest():
    """Hits among real tokens only; a target tied for the highest score counts as a hit."""
    logits = np.zeros((2, 3, 6), "float32")
    target_out = np.array([[4, 5, 3], [4, 5, 0]], np.int32)
    logits[0, 0, 4] = 2.0  # hit
    logits[0, 1, 4] = 2.0  # miss: 4 beats the target 5
    logits[0, 2, [3, 5]] = 1.0  # tie between the target 3 and 5: a hit
    logits[1, 0, 4], logits[1, 0, 5] = 1.0, 1.5  # miss
    logits[1, 1, 5] = -1.0  # miss: the other words score 0
    logits[1, 2, 0] = 9.0  # padding: not counted though "right"
    accuracy = MaskedAccuracy()
    accuracy.update_state(target_out, logits)
    assert float(accuracy.result()) == pytest.approx(2 / 5)
    accuracy.update_state(target_out[:1, :1], logits[:1, :1])  # accumulates over batches
    assert float(accuracy.result()) == pytest.approx(3 / 6)


def test_untrained_loss_is_about_log_vocabulary_size():
    model = make_model()
    source, target_in, target_out = batch()
    loss = float(masked_loss()(target_out, model((source, target_in))))
    assert abs(loss - math.log(TGT_VOCAB)) < 0.3


def test_overfits_sixteen_pairs():
    source, target_in, target_out, _ = reversal_task(SRC_VOCAB, TGT_VOCAB)
    model = make_model(embedding_dim=32, units=64)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss=masked_loss(), metrics=[MaskedAccuracy()]
    )
    for _ in range(200):
        logs = model.train_on_batch((source, target_in), target_out, return_dict=True)
        if logs["loss"] < 0.02:
            break
    assert logs["loss"] < 0.05 and logs["accuracy"] == 1.0


def test_label_smoothing_matches_the_formula_and_skips_padding():
    _, _, target_out = batch()
    logits = np.random.default_rng(3).normal(size=(3, 4, TGT_VOCAB)).astype("float32")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = target_out != 0
    nll = -np.take_along_axis(log_probs, target_out[..., None], -1)[..., 0]
    smoothed = 0.9 * nll - 0.1 * log_probs.mean(-1)
    assert float(masked_loss(0.1)(target_out, logits)) == pytest.approx(
        smoothed[real].mean(), rel=1e-5
    )
    assert float(masked_loss(0.0)(target_out, logits)) == pytest.approx(nll[real].mean(), rel=1e-5)
    metric = (
        TokenCrossEntropy()
    )  # perplexity's source: plain cross-entropy even when the loss is smoothed
    metric.update_state(target_out, logits)
    assert float(metric.result()) == pytest.approx(nll[real].mean(), rel=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
def test_loss_gradient_is_softmax_minus_the_smoothed_target_on_real_tokens():
    import tensorflow as tf

    _, _, target_out = batch()
    logits = tf.constant(np.random.default_rng(4).normal(size=(3, 4, TGT_VOCAB)), "float32")
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = masked_loss(0.1)(target_out, logits)
    softmax = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True)
    smoothed = 0.9 * np.eye(TGT_VOCAB)[target_out] + 0.1 / TGT_VOCAB
    real = (target_out != 0)[..., None]
    expected = (softmax - smoothed) * real / real.sum()
    np.testing.assert_allclose(tape.gradient(loss, logits).numpy(), expected, atol=1e-6)


def test_tied_output_layer_is_the_target_embedding():
    model = make_model(tie_embeddings=True)
    decoder = model.decoder
    assert decoder.logits is None
    untied = make_model()
    assert (
        model.count_params() == untied.count_params() - 16 * TGT_VOCAB
    )  # the output kernel is gone
    hidden = np.random.default_rng(4).normal(size=(2, 16)).astype("float32")
    features = np.zeros((2, 32 + 32 + 16), "float32")
    decoder.hidden.kernel.assign(np.zeros_like(decoder.hidden.kernel))
    decoder.hidden.bias.assign(np.arctanh(np.clip(hidden[0], -0.9, 0.9)))
    logits = np.asarray(
        decoder._output(features[:, :32], features[:, 32:64], features[:, 64:], training=False)
    )
    expected = np.tanh(np.asarray(decoder.hidden.bias)) @ np.asarray(decoder.embedding.embeddings).T
    np.testing.assert_allclose(logits[0], expected, atol=1e-5)


def test_greedy_decoding_never_emits_unk_unless_allowed():
    model = make_model()
    source, _, _ = batch()
    bias = model.decoder.logits.bias
    bias.assign(
        np.asarray(bias) + np.eye(TGT_VOCAB, dtype="float32")[1] * 100.0
    )  # <unk> wins every step
    greedy = DecodeOptions(beam_size=1)
    assert not (np.asarray(model.translate(source, greedy)["tokens"]) == 1).any()
    assert (np.asarray(model.translate(source, greedy.replace(ban_unk=False))["tokens"]) == 1).any()
    assert not (np.asarray(model.translate(source, greedy)["tokens"]) == 1).any()  # switched back


@pytest.mark.parametrize("tie", [False, True])
def test_save_and_load_give_identical_outputs(tmp_path, tie):
    model = make_model(tie_embeddings=tie)
    source, target_in, _ = batch()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(
        np.asarray(loaded((source, target_in))), np.asarray(model((source, target_in)))
    )
    np.testing.assert_array_equal(
        np.asarray(loaded.translate(source)["tokens"]),
        np.asarray(model.translate(source)["tokens"]),
    )
    assert loaded.get_config() == model.get_config()


@pytest.mark.parametrize("layer_name", ["encoder", "decoder"])
def test_layer_config_round_trips(layer_name):
    layer = getattr(make_model(), layer_name)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_decoder_carries_its_recurrent_state():
    """With one source position the context is fixed; the state alone must change step 2."""
    model = make_model()
    values = np.random.default_rng(1).normal(size=(1, 1, 32)).astype("float32")
    mask = np.ones((1, 1), bool)
    target_in = np.array([[2, 5, 6]], np.int32)
    state = np.zeros((1, 32), "float32")
    logits_a, _ = model.decoder(target_in, state, values, mask)
    # Same first step, then a different state after step 1: feed step 2 from another state.
    next_fn = model.decoder.step_function(
        ops.convert_to_tensor(values), ops.convert_to_tensor(mask)
    )
    step1_logits, step1_state_a, _ = next_fn(
        ops.convert_to_tensor(target_in[:, 0]), ops.convert_to_tensor(state)
    )
    np.testing.assert_allclose(np.asarray(step1_logits), np.asarray(logits_a)[:, 0], atol=1e-5)
    logits_b, _ = model.decoder(target_in[:, 1:], np.asarray(step1_state_a) + 0.5, values, mask)
    logits_c, _ = model.decoder(target_in[:, 1:], np.asarray(step1_state_a), values, mask)
    np.testing.assert_allclose(np.asarray(logits_c)[:, 0], np.asarray(logits_a)[:, 1], atol=1e-5)
    assert np.abs(np.asarray(logits_b)[:, 0] - np.asarray(logits_c)[:, 0]).max() > 1e-3


@pytest.mark.parametrize(
    "attention, repeat, rows",
    [
        ("bahdanau", 3, [1, 3, 5, 8]),  # beam copies of sentences 0, 1, 1 and 2
        ("dot", 3, [2, 4, 6]),
        ("bahdanau", 1, [0, 2]),
    ],
)
def test_stepping_beam_copies_and_some_rows_is_teacher_forcing_step_by_step(
    attention, repeat, rows
):
    """``step_function`` (which, for beam copies, projects the encoder states once and sums
    them per sentence) stepping a subset of rows: each stepped row's logits and attention
    are those of teacher forcing its sentence's target, step after step."""
    model = make_model(attention=attention, bidirectional=attention == "bahdanau")
    source, target_in, _ = batch()
    values, final, mask = model.encoder(source)
    initial_state = model.bridge(final)
    forced_logits, forced_weights = model.decoder(target_in, initial_state, values, mask)
    rows = np.array(rows, np.int32)
    sentence = rows // repeat
    next_fn = model.decoder.step_function(values, mask, repeat=repeat)
    state = ops.take(initial_state, sentence, axis=0)
    for step in range(target_in.shape[1]):
        token = ops.convert_to_tensor(target_in[sentence, step])
        logits, state, weights = next_fn(token, state, ops.convert_to_tensor(rows))
        np.testing.assert_allclose(
            np.asarray(logits), np.asarray(forced_logits)[sentence, step], atol=1e-4
        )
        np.testing.assert_allclose(
            np.asarray(weights), np.asarray(forced_weights)[sentence, step], atol=1e-5
        )


def test_greedy_decoding_shapes_and_stop():
    model = make_model()
    source, _, _ = batch()
    out = model.translate(source, DecodeOptions(beam_size=1))
    tokens, attention = np.asarray(out["tokens"]), np.asarray(out["attention"])
    steps = math.ceil(4 * 2.0) + 5
    assert tokens.shape == (3, steps) and attention.shape == (3, steps, 4)
    source_lengths = (source != 0).sum(1)
    for row, n in zip(tokens, source_lengths):
        assert ((row != 0).sum()) <= math.ceil(n * 2.0) + 5
        assert not np.isin(row, [2]).any()


def test_models_saved_before_decode_options_existed_still_load():
    model = make_model()
    config = model.get_config()
    flat = {k: v for k, v in config.items() if k != "decoding"} | {"beam_size": 3, "ban_unk": False}
    old = Translator.from_config(flat)
    assert old.decoding == DecodeOptions(beam_size=3, ban_unk=False)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's tracing")
def test_decoding_traces_once_for_batches_of_any_shape():
    """A service's first batch of a new size must not trace the decoding loop again."""
    model = make_model()
    source, _, _ = batch()
    shapes = [source, source[:1, :1], np.tile(source, (3, 2)), source[:2, :3]]
    first = {}
    for options in (DecodeOptions(beam_size=1), DecodeOptions(beam_size=3)):
        first[options] = [np.asarray(model.translate(s, options)["tokens"]) for s in shapes]
        assert [tokens.shape[0] for tokens in first[options]] == [3, 1, 9, 2]
        assert model.predict_function.experimental_get_tracing_count() == 1
    for options, tokens in first.items():  # the kept functions, called again, agree
        np.testing.assert_array_equal(model.translate(source, options)["tokens"], tokens[0])
