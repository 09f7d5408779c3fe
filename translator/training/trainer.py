"""Training: ``Trainer`` owns one run, from an empty run directory to a scored best checkpoint.

Each epoch is one ``model.fit`` call over that epoch's batches (from the exact batch where
an interrupted run stopped). After it: validation loss and accuracy, validation BLEU every
``train.bleu_every_epochs`` with a few example translations, a row in ``metrics.csv`` and in
TensorBoard, an end-of-epoch checkpoint, the ``best`` link and early stopping. When training
ends, the best checkpoint is scored on the test split. What depends on the Keras backend
(input pipeline, devices) is in ``backends``; the rest is the same code on every backend.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import keras

from translator.core import backends
from translator.core import config as config_lib
from translator.core.errors import UserError
from translator.core.faults import failpoint
from translator.data.corpus import load_corpus
from translator.data.pipeline import BatchPlan, encode_pairs
from translator.models.model import build_model
from translator.training import rundir
from translator.training.averaging import WeightAverage
from translator.training.budget import Budget
from translator.training.checkpoints import CheckpointManager, RunLock
from translator.training.progress import StepCallback, StopRequest
from translator.training.runlog import RunLog
from translator.training.state import TrainResult, TrainState


class Trainer:
    """One training run: corpus, vocabularies, batch plans, model, checkpoints, logs, state."""

    def __init__(
        self,
        config: config_lib.Config,
        run_dir: Path,
        *,
        show_progress: bool = True,
        log=print,
        clock=time.monotonic,
    ):
        self.config, self.run_dir = config, Path(run_dir)
        self.show_progress, self.log = show_progress, log
        self.budget = Budget(config.train, clock)
        self.checkpoints = CheckpointManager(self.run_dir, config.train.keep_checkpoints)
        self.state = TrainState()
        self.model = self.plan = self.valid_plan = self.runlog = self.average = None

    # -- the run ------------------------------------------------------------------------
    def run(self, evaluate_test: bool = True):
        """Train to the end (or a stop signal); a ``TrainResult``."""

        with RunLock(self.run_dir):
            self.config = rundir.with_dtype_resolved(self.run_dir, self.config)
            rundir.check_resumable(self.run_dir, self.config)
            self.prepare()
            try:
                stopped_by = self.fit()
            finally:
                self.runlog.close()
            if stopped_by or not evaluate_test:
                return TrainResult(self.state, stopped_by)
            return TrainResult(self.state, test=self.evaluate_test())

    def prepare(self) -> None:
        """Corpus, vocabularies, batch plans, devices, and the model: new or resumed."""
        config, t = self.config, self.config.train
        self.corpus = load_corpus(config.data)
        report = self.corpus.report
        self.log(
            f"corpus: {len(self.corpus.frame)} pairs kept, {report.skipped} lines skipped "
            f"({report.summary()})"
        )
        train_frame = self.corpus.split("train")
        self.source_index, self.target_index = rundir.vocabularies(
            self.run_dir, config.data, train_frame
        )
        config_lib.save(config, self.run_dir / rundir.CONFIG_FILE)
        if config.data.vocab == "word" and not (self.run_dir / rundir.LEXICON).exists():
            rundir.learn_lexicon(self.run_dir, train_frame)
        self.log(backends.prepare(t))
        keras.utils.set_random_seed(t.seed)
        random.seed(t.seed)
        pairs = encode_pairs(train_frame, self.source_index, self.target_index)
        # Validation decodes with the run's shortlist, as translate will.
        shortlist = rundir.load_shortlist(
            self.run_dir, config.data, self.source_index, self.target_index, train_pairs=pairs
        )
        self.plan = BatchPlan(*pairs, t.batch_size, seed=t.seed, bucket_width=t.bucket_width)
        valid = self.corpus.split("valid")
        if len(valid):
            pairs = encode_pairs(valid, self.source_index, self.target_index)
            self.valid_plan = BatchPlan(*pairs, t.batch_size, shuffle=False)
        self.checkpoints.clean_partial()
        latest = self.checkpoints.latest()
        if latest is not None:
            self.state = TrainState.load(latest)
            self.model = rundir.load_model(latest / "model.keras", compile=True)
            self.state.restore_seeds(self.model)
            self.log(
                f"resuming from {latest.name}: epoch {self.state.epoch + 1}, "
                f"step {self.state.step_in_epoch} of {self.steps_per_epoch}"
            )
        else:
            self.model = build_model(
                config, len(self.source_index), len(self.target_index), self.steps_per_epoch
            )
            self.log(
                f"new run {self.run_dir}: {self.steps_per_epoch} batches per epoch, "
                f"{self.model.count_params():,} parameters, vocabularies "
                f"{len(self.source_index)} / {len(self.target_index)}"
            )
        self.model.shortlist = shortlist
        if t.average != "none":
            self.average = WeightAverage(self.run_dir, self.model)
        self.runlog = RunLog(self.run_dir)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.plan)

    @property
    def epochs(self) -> int:
        """The epochs this run trains: the budget's plan, else ``train.epochs``."""
        return self.state.planned_epochs or self.config.train.epochs

    # -- the epoch loop -----------------------------------------------------------------
    def fit(self) -> str | None:
        """Train epoch by epoch until done; the signal's name if one stopped it first."""
        self.budget.restart()
        with StopRequest() as stop:
            while not self.state.finished and self.state.epoch < self.epochs:
                logs, reason = self.train_epoch(stop)
                if reason == "nan":
                    last = self.checkpoints.latest()
                    kept = (
                        f"the last good checkpoint {last.name} is kept"
                        if last
                        else "no checkpoint was written"
                    )
                    raise UserError(
                        f"training loss became NaN at step {self.state.global_step + 1}; "
                        f"{kept}; lower train.learning_rate or train.clipnorm and run again"
                    )
                if reason and reason != "time":
                    path = self.save()
                    self.log(
                        f"stopped by {reason}: saved {path.name}; run the same command to resume"
                    )
                    return reason
                self.end_epoch(logs, time_up=reason == "time")
        return None

    def train_epoch(self, stop: StopRequest) -> tuple[dict, str | None]:
        """The rest of the current epoch: its last logs and why it stopped early, if it did."""
        s = self.state
        self.budget.epoch_begins(s)
        callback = StepCallback(self, stop, f"epoch {s.epoch + 1}/{self.epochs}")
        if s.step_in_epoch >= self.steps_per_epoch:
            return {}, None
        history = self.model.fit(
            backends.training_batches(self.plan, s.epoch, s.step_in_epoch),
            initial_epoch=s.epoch,
            epochs=s.epoch + 1,
            verbose=0,
            shuffle=False,
            callbacks=[callback],
            steps_per_epoch=self.steps_per_epoch - s.step_in_epoch,
        )
        return {
            key: float(values[-1]) for key, values in history.history.items()
        }, callback.stop_reason

    def end_epoch(self, logs: dict, time_up: bool) -> None:
        """Validate, log, move the counters, checkpoint, and point ``best`` at the best."""
        bleu = self.bleu_due(time_up)
        row = self.validate(logs, bleu=bleu)
        if self.average is not None and self.valid_plan is not None:
            with self.average.swapped_in():
                row.update(self.average.figures(self.validation(bleu, examples=False)))
        validation_s = self.tick()
        self.log_epoch(row)
        if self.budget.planning_due(self.state, self.steps_per_epoch):
            self.plan_schedule(validation_s)
        trained, averaged = row.get("val_bleu"), row.get("avg_val_bleu")
        average_leads = averaged is not None and (trained is None or averaged > trained)
        improved = self.advance(averaged if average_leads else trained, time_up)
        path = self.save()
        if self.average is not None:
            averaged_path = self.average.save(self.state)
            path = averaged_path if average_leads else path
        if improved or self.checkpoints.best() is None:
            self.checkpoints.mark_best(path)

    def validate(self, logs: dict, bleu: bool) -> dict:
        """The epoch's metrics row: training logs, validation loss and maybe BLEU."""
        s = self.state
        row = {
            "epoch": s.epoch + 1,
            "step": s.global_step,
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "elapsed_s": round(s.elapsed_s, 1),
            "learning_rate": float(self.model.optimizer.learning_rate),
        }
        if logs.get("cross_entropy") is not None:
            row["perplexity"] = math.exp(min(logs["cross_entropy"], 50))
        failpoint("validation")
        if self.valid_plan is not None:
            row.update(self.validation(bleu))
        return row

    def validation(self, bleu: bool, examples: bool = True) -> dict:
        """Validation loss, accuracy and perplexity of the model's weights, and maybe BLEU."""
        val = self.model.evaluate(
            backends.training_batches(self.valid_plan, 0), verbose=0, return_dict=True
        )
        figures = {
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_perplexity": math.exp(min(val["cross_entropy"], 50)),
        }
        if bleu:
            scores = self.validation_bleu(log_examples=examples)
            figures.update(val_bleu=scores["bleu"], val_chrf=scores["chrf"])
        return figures

    def bleu_due(self, time_up: bool) -> bool:
        epoch = self.state.epoch + 1
        return epoch % self.config.train.bleu_every_epochs == 0 or time_up or epoch == self.epochs

    def validation_bleu(self, log_examples: bool = True) -> dict:
        """BLEU/chrF of up to ``train.bleu_sample`` validation sources; 3 examples logged.

        Greedy: it tracks progress as the beam does at a seventh of the time (434 against 58
        sentences/s), which goes to training; the test split is scored with the configured beam.
        """
        from translator.decoding.evaluate import sample_scores
        from translator.models.search import DecodeOptions

        run = rundir.Run(
            self.run_dir,
            self.config,
            self.source_index,
            self.target_index,
            self.model,
            None,
            DecodeOptions.from_config(self.config.decode, beam_size=1),
        )
        report, examples = sample_scores(
            run, self.corpus.split("valid"), self.config.train.bleu_sample
        )
        for source, reference, hypothesis in examples[:3] if log_examples else ():
            self.log(
                f"  Source:     {source}\n  Reference:  {reference}\n  Hypothesis: {hypothesis}"
            )
        return report

    def log_epoch(self, row: dict) -> None:
        figures = ", ".join(
            f"{k} {v:.4g}" for k, v in row.items() if k != "epoch" and isinstance(v, float)
        )
        self.log(f"epoch {row['epoch']}: {figures}")
        self.runlog.write(row)

    def advance(self, val_bleu: float | None, time_up: bool) -> bool:
        """Count the epoch, keep the best score and decide whether training is finished.

        Returns whether this checkpoint is the best so far (always, without validation data).
        """
        s, t = self.state, self.config.train
        if s.step_in_epoch >= self.steps_per_epoch:
            s.epoch, s.step_in_epoch = s.epoch + 1, 0
        improved = self.valid_plan is None or (
            val_bleu is not None and (s.best_metric is None or val_bleu > s.best_metric)
        )
        if improved:
            s.best_metric, s.best_step, s.bad_epochs = val_bleu, s.global_step, 0
        elif val_bleu is not None:
            s.bad_epochs += 1
        if time_up:
            self.log(f"time budget of {t.max_minutes} min reached")
        patience_over = t.early_stopping_patience and s.bad_epochs >= t.early_stopping_patience
        s.finished = bool(time_up or patience_over or s.epoch >= self.epochs)
        return improved

    # -- checkpoints and limits -----------------------------------------------------------
    def save(self) -> Path:
        """Checkpoint the model and the state (with the dropout generators' states)."""
        backends.sync_variables(self.model)
        self.tick()
        self.state.capture_seeds(self.model)
        return self.checkpoints.save(self.model, self.state)

    def checkpoint_due(self) -> bool:
        s = self.state
        every = self.config.train.checkpoint_every_steps
        return s.global_step % every == 0 and s.step_in_epoch < self.steps_per_epoch

    def tick(self) -> float:
        return self.budget.tick(self.state)

    def step_done(self) -> None:
        """After every training step (``StepCallback``): count its time for the budget."""
        self.budget.step_done(self.state, self.steps_per_epoch)

    def out_of_time(self) -> bool:
        return self.budget.out_of_time(self.state)

    def plan_schedule(self, validation_s: float) -> None:
        """Plan the epochs that fit the budget; bend the learning-rate schedule to a new plan."""
        from translator.models.optimizer import replanned_rate

        plan = self.budget.plan(self.state, self.steps_per_epoch, validation_s)
        if plan is None:
            return
        train = self.config.train
        total = plan.epochs * self.steps_per_epoch
        rate = replanned_rate(self.model.optimizer, train, self.state.global_step, total)
        if rate is not None:
            self.model.optimizer.learning_rate = rate
            self.model.make_train_function(force=True)  # the schedule is part of the compiled step
        self.log(plan.describe(train.max_minutes, revised=len(self.state.plan_changes) > 1))

    def evaluate_test(self) -> dict | None:
        """Score the best checkpoint on the test split (if it has sentences)."""
        test = self.corpus.split("test")
        if not len(test):
            return None
        from translator.decoding.evaluate import evaluate_split

        report = evaluate_split(rundir.load_run(self.run_dir), test, "test")
        self.log(
            f"test: BLEU {report['bleu']}, chrF {report['chrf']} on {report['sentences']} "
            f"sentences ({report['references']} references); "
            f"training took {self.state.elapsed_s / 60:.1f} min"
        )
        return report
