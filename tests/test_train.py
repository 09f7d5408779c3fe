"""Training: checkpoints, resume, lock, NaN guard (tiny configs, in-process)."""

import os
import signal

import keras
import numpy as np
import pytest
from conftest import tiny_config

from translator.core.errors import UserError
from translator.training import progress
from translator.training.checkpoints import CheckpointManager, RunLock
from translator.training.train import train

QUIET = dict(show_progress=False, evaluate_test=False, log=lambda *_: None)


def weights_of(checkpoint):
    import translator.models.model  # noqa: F401

    return [
        np.asarray(w)
        for w in keras.saving.load_model(checkpoint / "model.keras", compile=False).weights
    ]


def config_for(corpus_path, *extra):
    return tiny_config(
        corpus_path,
        "train.epochs=2",
        "model.dropout=0.3",
        "train.checkpoint_every_steps=7",
        "train.bleu_sample=10",
        *extra,
    )


@pytest.mark.parametrize(("average", "vocab"), [("none", "word"), ("ema", "word"), ("none", "bpe")])
def test_interrupted_and_resumed_run_matches_uninterrupted(
    tmp_path, corpus_path, monkeypatch, average, vocab
):
    config = config_for(
        corpus_path,
        f"train.average={average}",
        "train.ema_momentum=0.9",
        f"data.vocab={vocab}",
        "data.vocab_size=300",
    )
    full = train(config, tmp_path / "full", **QUIET).state
    original = progress.StepCallback.on_train_batch_end

    def interrupt_at_step_11(self, batch, logs=None):
        if self.state.global_step == 10:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of epoch 1
        original(self, batch, logs)

    monkeypatch.setattr(progress.StepCallback, "on_train_batch_end", interrupt_at_step_11)
    stopped = train(config, tmp_path / "resumed", **QUIET)
    assert stopped.stopped_by == "SIGINT"
    assert stopped.state.global_step == 11 and not stopped.state.finished
    monkeypatch.setattr(progress.StepCallback, "on_train_batch_end", original)
    resumed = train(config, tmp_path / "resumed", **QUIET).state
    assert resumed.global_step == full.global_step and resumed.finished
    last = lambda run: CheckpointManager(tmp_path / run).latest()  # noqa: E731
    assert last("full").name == last("resumed").name
    for a, b in zip(weights_of(last("full")), weights_of(last("resumed"))):
        np.testing.assert_allclose(a, b, atol=1e-6)
    if average == "ema":  # the average is state too: the resumed run's is the same
        averages = lambda run: CheckpointManager(tmp_path / run, prefix="average").latest()  # noqa: E731
        assert (
            averages("full").name
            == averages("resumed").name
            == last("full").name.replace("step", "average")
        )
        for a, b in zip(weights_of(averages("full")), weights_of(averages("resumed")), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_averaged_weights_are_validated_saved_and_chosen_by_best(tmp_path, corpus_path):
    from translator.decoding.decode import translate_sentences
    from translator.training.rundir import load_run

    run_dir = tmp_path / "run"
    config = config_for(corpus_path, "train.average=ema", "train.ema_momentum=0.9")
    train(config, run_dir, **QUIET)
    trained = CheckpointManager(run_dir).latest()
    averaged = CheckpointManager(run_dir, prefix="average")
    assert [p.name for p in averaged.all()] == [trained.name.replace("step", "average")]
    model = keras.saving.load_model(trained / "model.keras")  # its optimizer holds the average
    for saved, average in zip(
        weights_of(averaged.latest()), model.optimizer.averages(), strict=True
    ):
        np.testing.assert_allclose(saved, np.array(average), atol=1e-6)
    assert any(
        not np.allclose(a, b) for a, b in zip(weights_of(trained), weights_of(averaged.latest()))
    )
    header, *rows = [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()]
    last = dict(zip(header, rows[-1]))
    assert last["val_bleu"] and last["avg_val_bleu"] and last["avg_val_loss"]
    better = "average" if float(last["avg_val_bleu"]) > float(last["val_bleu"]) else "step"
    assert CheckpointManager(run_dir).best().name.startswith(better)
    run = load_run(run_dir)  # best translates, whichever it is
    assert run.checkpoint.name.startswith(better)
    assert translate_sentences(run, ["I am cold."])[0].target_tokens
    with pytest.raises(UserError, match="train.average ema"):
        train(config_for(corpus_path), run_dir, **QUIET)


def test_run_directory_layout_and_pruning(tmp_path, corpus_path):
    run_dir = tmp_path / "run"
    train(config_for(corpus_path, "train.keep_checkpoints=2"), run_dir, **QUIET)
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.yaml",
        "vocab.source.json",
        "vocab.target.json",
        "checkpoints",
        "best",
        "metrics.csv",
        "tensorboard",
    } <= names
    manager = CheckpointManager(run_dir, 2)
    kept = manager.all()
    assert len(kept) <= 3 and manager.best() in kept
    assert all((c / "model.keras").is_file() and (c / "state.json").is_file() for c in kept)
    assert not list(manager.directory.glob(".tmp-*"))
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,loss") and len(rows) == 3


def test_second_writer_is_refused_and_a_dead_lock_is_not_stuck(tmp_path, corpus_path):
    run_dir = tmp_path / "run"
    with RunLock(run_dir), pytest.raises(UserError, match="in use by process"):
        train(config_for(corpus_path), run_dir, **QUIET)
    (run_dir / ".lock").write_text("12345")  # left by a crashed run: the flock died with it
    with RunLock(run_dir):
        pass


def test_changed_model_settings_are_refused_on_resume(tmp_path, corpus_path):
    run_dir = tmp_path / "run"
    train(config_for(corpus_path, "train.epochs=1"), run_dir, **QUIET)
    with pytest.raises(UserError, match="other model settings"):
        train(config_for(corpus_path, "model.units=48"), run_dir, **QUIET)


def test_nan_loss_stops_with_a_clear_message_and_keeps_good_checkpoints(
    tmp_path, corpus_path, monkeypatch
):
    # Whether a huge learning rate overflows to NaN depends on the CPU's arithmetic, so the
    # NaN is put into the logs of the 5th step, where the trainer reads the loss.
    original = progress.StepCallback.on_train_batch_end

    def nan_at_step_5(self, batch, logs=None):
        if self.state.global_step == 4:
            logs = dict(logs or {}, loss=float("nan"))
        original(self, batch, logs)

    monkeypatch.setattr(progress.StepCallback, "on_train_batch_end", nan_at_step_5)
    config = config_for(corpus_path, "train.checkpoint_every_steps=1")
    with pytest.raises(
        UserError, match="NaN at step 5; the last good checkpoint step-00000004 is kept"
    ) as error:
        train(config, tmp_path / "run", **QUIET)
    assert "\n" not in str(error.value)
    checkpoints = CheckpointManager(tmp_path / "run").all()
    assert checkpoints[-1].name == "step-00000004"
    for checkpoint in checkpoints:
        assert all(np.isfinite(w).all() for w in weights_of(checkpoint))


class FakeClock:
    """Half a second passes at every reading: timings depend on the code path alone."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.5
        return self.now


def test_the_time_budget_plans_the_epochs_that_fit_and_a_resumed_run_keeps_the_plan(
    tmp_path, corpus_path, monkeypatch
):
    config = config_for(corpus_path, "train.max_minutes=1", "train.epochs=10")
    lines = []
    full = train(
        config, tmp_path / "full", **{**QUIET, "log": lines.append}, clock=FakeClock()
    ).state
    assert full.planned_epochs == 4 and full.epoch == 4 and full.finished
    assert any(line.startswith("planned 4 epochs for the 1-minute budget") for line in lines)
    assert 0.9 * 60 <= full.elapsed_s <= 60  # the budget is used, and not overrun
    model = keras.saving.load_model(CheckpointManager(tmp_path / "full").latest() / "model.keras")
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert schedule["segments"][-1][2] == 4 * 23  # the saved schedule spans the planned epochs

    original = progress.StepCallback.on_train_batch_end

    def interrupt_in_epoch_3(self, batch, logs=None):
        if self.state.global_step == 50:
            os.kill(os.getpid(), signal.SIGINT)
        original(self, batch, logs)

    monkeypatch.setattr(progress.StepCallback, "on_train_batch_end", interrupt_in_epoch_3)
    stopped = train(config, tmp_path / "resumed", **QUIET, clock=FakeClock())
    assert stopped.stopped_by == "SIGINT" and stopped.state.planned_epochs == 4
    monkeypatch.setattr(progress.StepCallback, "on_train_batch_end", original)
    resumed = train(config, tmp_path / "resumed", **QUIET, clock=FakeClock()).state
    assert resumed.planned_epochs == 4 and resumed.global_step == full.global_step
    last = lambda run: CheckpointManager(tmp_path / run).latest()  # noqa: E731
    for a, b in zip(weights_of(last("full")), weights_of(last("resumed")), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


class SlowingClock:
    """Half a second per reading until step ``slow_from``, then two: the machine got busy."""

    def __init__(self, slow_from: int):
        self.now, self.step, self.slow_from = 0.0, 0, slow_from

    def __call__(self):
        self.now += 0.5 if self.step < self.slow_from else 2.0
        return self.now


def test_the_plan_follows_a_machine_that_slows_down_and_a_resumed_run_follows_it(
    tmp_path, corpus_path, monkeypatch
):
    config = config_for(corpus_path, "train.max_minutes=2", "train.epochs=12")
    original = progress.StepCallback.on_train_batch_end
    clock, stop_at = SlowingClock(slow_from=30), None

    def count_steps(self, batch, logs=None):
        clock.step = self.state.global_step + 1
        if clock.step == stop_at:
            os.kill(os.getpid(), signal.SIGINT)
        original(self, batch, logs)

    monkeypatch.setattr(progress.StepCallback, "on_train_batch_end", count_steps)
    lines = []
    full = train(config, tmp_path / "full", **{**QUIET, "log": lines.append}, clock=clock).state
    first, *later = full.plan_changes
    assert first["after_epoch"] == 1 and later and later[-1]["epochs"] < first["epochs"]
    assert full.epoch == full.planned_epochs == later[-1]["epochs"] and full.finished
    assert full.elapsed_s <= 120  # the shorter plan fits the budget
    assert any(line.startswith(f"re-planned {full.planned_epochs} epochs") for line in lines)
    last = lambda run: CheckpointManager(tmp_path / run).latest()  # noqa: E731
    model = keras.saving.load_model(last("full") / "model.keras")
    schedule = model.optimizer._learning_rate
    assert len(schedule.segments) == len(full.plan_changes) + 1
    assert schedule.total_steps == full.planned_epochs * 23 == full.global_step
    for start, rate, _ in schedule.segments[1:]:  # every bend continues the curve
        assert schedule.rate_at(start) == pytest.approx(rate)
        before = float(schedule(start - 1))
        assert abs(float(schedule(start)) - before) < 0.05 * before

    # Stopped after the first change, resumed: the same later changes and the same weights.
    clock, stop_at = SlowingClock(slow_from=30), first["step"] + 5
    stopped = train(config, tmp_path / "resumed", **QUIET, clock=clock)
    assert stopped.stopped_by == "SIGINT" and stopped.state.plan_changes == [first]
    clock, stop_at = SlowingClock(slow_from=30), None
    clock.step = stopped.state.global_step
    clock.now = 0.0
    resumed = train(config, tmp_path / "resumed", **QUIET, clock=clock).state
    assert [c["epochs"] for c in resumed.plan_changes] == [c["epochs"] for c in full.plan_changes]
    assert resumed.global_step == full.global_step
    for a, b in zip(weights_of(last("full")), weights_of(last("resumed")), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_planning_never_exceeds_train_epochs_and_can_be_turned_off():
    from translator.core.config import TrainConfig
    from translator.training.budget import Budget, plan_epochs
    from translator.training.state import TrainState

    kwargs = dict(budget_s=600, elapsed_s=60, step_s=1.0, steps_per_epoch=50, validation_s=10)
    assert plan_epochs(**kwargs, epochs_done=1, upper_bound=30).epochs == 1 + int((582 - 60) / 60)
    assert plan_epochs(**kwargs, epochs_done=1, upper_bound=3).epochs == 3
    assert plan_epochs(**kwargs | {"elapsed_s": 900}, epochs_done=2, upper_bound=30).epochs == 2
    done = TrainState(epoch=0, step_in_epoch=50)
    assert Budget(TrainConfig(max_minutes=10)).planning_due(done, 50)
    later = TrainState(epoch=3, step_in_epoch=50, planned_epochs=6)
    assert Budget(TrainConfig(max_minutes=10)).planning_due(later, 50)  # after every epoch
    last = TrainState(epoch=5, step_in_epoch=50, planned_epochs=6)
    assert not Budget(TrainConfig(max_minutes=10)).planning_due(last, 50)
    assert not Budget(TrainConfig(max_minutes=10)).planning_due(TrainState(epoch=3), 50)
    assert not Budget(TrainConfig(max_minutes=10, plan_epochs=False)).planning_due(done, 50)
    assert not Budget(TrainConfig(max_minutes=0)).planning_due(done, 50)


def test_one_slow_epoch_does_not_change_the_plan_but_a_lasting_slowdown_does():
    """Plans use the median of the last three epochs' timings: noise does not make them flap."""
    from translator.core.config import TrainConfig
    from translator.training.budget import Budget
    from translator.training.state import TrainState

    budget, state = Budget(TrainConfig(max_minutes=100, epochs=100)), TrainState()

    def epoch(step_s):  # one epoch of 50 steps at step_s seconds, then 10 s of validation
        budget.timed_steps = [(10, 0.0), (50, 40 * step_s)]
        state.elapsed_s += 50 * step_s + 10
        state.step_in_epoch = 50
        budget.plan(state, 50, validation_s=10)
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        return state.planned_epochs

    plans = [epoch(s) for s in (1.0, 1.0, 1.0, 3.0, 1.0, 1.0)]
    # the slow epoch costs the 100 s it took (two epochs of 60 s), not a plan at 3 s per step
    assert plans[:3] == [plans[0]] * 3 and plans[3:] == [plans[0] - 2] * 3
    assert state.planned_step_s == 1.0 and len(state.plan_changes) == 2
    slowed = [epoch(2.0) for _ in range(3)]
    assert slowed[0] == plans[3] - 1  # one slow epoch: its own cost only
    assert slowed[1] < slowed[0] // 2 + 10  # two of three slow: planned at 2 s per step
    assert [t[0] for t in state.epoch_timings] == [1.0, 1.0, 1.0, 3.0, 1.0, 1.0, 2.0, 2.0, 2.0]
