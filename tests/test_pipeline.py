import numpy as np
from conftest import tiny_config

from translator.data.corpus import load_corpus
from translator.data.pipeline import BatchPlan, encode_pairs
from translator.data.vocab import END_ID, START_ID, LanguageIndex


def make_plan(corpus_path, batch_size=8, seed=3, shuffle=True):
    corpus = load_corpus(tiny_config(corpus_path).data)
    train = corpus.split("train")
    source = LanguageIndex.build(train["source_tokens"], "en")
    target = LanguageIndex.build(train["target_tokens"], "fr")
    return BatchPlan(
        *encode_pairs(train, source, target), batch_size, seed=seed, bucket_width=4, shuffle=shuffle
    )


def test_batches_cover_every_pair_once_and_len_is_right(corpus_path):
    plan = make_plan(corpus_path)
    batches = plan.batches(0)
    assert len(batches) == len(plan)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(plan.sources)))


def test_teacher_forcing_shift_and_padding(corpus_path):
    plan = make_plan(corpus_path)
    (source, target_in), target_out = next(plan.arrays(0))
    assert source.dtype == np.int32 and target_in.shape == target_out.shape
    assert (target_in[:, 0] == START_ID).all()
    np.testing.assert_array_equal(
        target_in[:, 1:],
        np.where(target_out[:, :-1] == END_ID, target_in[:, 1:], target_out[:, :-1]),
    )
    for row in target_out:
        real = row[row != 0]
        assert real[-1] == END_ID and (row[len(real) :] == 0).all()


def test_same_seed_and_epoch_same_order_and_resume_position(corpus_path):
    plan = make_plan(corpus_path)
    first = [b.tolist() for b in plan.batches(2)]
    assert first == [b.tolist() for b in make_plan(corpus_path).batches(2)]
    assert first != [b.tolist() for b in plan.batches(3)]
    resumed = list(plan.arrays(2, start_step=3))
    full = list(plan.arrays(2))
    assert len(resumed) == len(full) - 3
    np.testing.assert_array_equal(resumed[0][1], full[3][1])


def test_bucketing_reduces_padding():
    rng = np.random.default_rng(0)
    sources = [np.arange(4, 4 + n, dtype=np.int32) for n in rng.integers(1, 20, 2000)]
    targets = [
        np.r_[START_ID, np.arange(4, 4 + n), END_ID].astype(np.int32)
        for n in rng.integers(1, 20, 2000)
    ]
    bucketed = BatchPlan(sources, targets, 32, bucket_width=16).real_token_share()
    unbucketed = BatchPlan(sources, targets, 32, bucket_width=1).real_token_share()
    assert bucketed > 0.9 and unbucketed < 0.7


def test_tf_dataset_yields_the_same_batches(corpus_path):
    plan = make_plan(corpus_path)
    (source, target_in), target_out = next(iter(plan.dataset(0)))
    (np_source, _), np_out = next(plan.arrays(0))
    np.testing.assert_array_equal(source.numpy(), np_source)
    np.testing.assert_array_equal(target_out.numpy(), np_out)
