"""Training: prepare a run directory, then fit epoch by epoch with checkpoints and validation.

Each epoch is one ``model.fit`` call over that epoch's batches (from the exact batch where
an interrupted run stopped). After it: validation loss and accuracy, validation BLEU every
``train.bleu_every_epochs`` with a few example translations, a row in ``metrics.csv`` and in
TensorBoard, an end-of-epoch checkpoint, the ``best`` link and early stopping. When training
ends, the best checkpoint is scored on the test split.
"""
from __future__ import annotations

import csv
import math
import random

import numpy as np

from translator import config as config_lib
from translator import rundir
from translator.checkpoints import CheckpointManager, RunLock, read_state
from translator.corpus import load_corpus, references_by_source
from translator.errors import UserError
from translator.faults import failpoint
from translator.pipeline import BatchPlan, encode_pairs
from translator.progress import StepCallback, StopRequest
from translator.vocab import LanguageIndex

METRIC_FIELDS = ["epoch", "step", "loss", "accuracy", "perplexity", "val_loss", "val_accuracy",
                 "val_perplexity", "val_bleu", "val_chrf", "learning_rate", "elapsed_s"]


def build_model(config: config_lib.Config, source_size: int, target_size: int, steps_per_epoch: int):
    """A compiled ``Translator`` as the config describes."""
    import keras

    from translator.metrics import MaskedAccuracy, TokenCrossEntropy, masked_loss
    from translator.model import Translator

    m, t = config.model, config.train
    model = Translator(source_size, target_size, m.embedding_dim, m.units, m.encoder_layers, m.bidirectional,
                       m.attention, m.attention_units, m.dropout, config.decode.max_length_ratio,
                       config.decode.max_length_offset, config.decode.ban_unk, m.tie_embeddings,
                       config.decode.beam_size, config.decode.length_penalty)
    model.build(None)
    decay_steps = max(1, t.epochs * steps_per_epoch - t.warmup_steps)
    if t.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(0.0 if t.warmup_steps else t.learning_rate, decay_steps, alpha=0.02,
                                                      warmup_target=t.learning_rate if t.warmup_steps else None,
                                                      warmup_steps=t.warmup_steps)
    elif t.lr_schedule == "exponential":
        rate = keras.optimizers.schedules.ExponentialDecay(t.learning_rate, steps_per_epoch, decay_rate=0.8)
    else:
        rate = t.learning_rate
    optimizer = keras.optimizers.Adam(rate, global_clipnorm=t.clipnorm or None)
    model.compile(optimizer=optimizer, loss=masked_loss(t.label_smoothing), metrics=[MaskedAccuracy(), TokenCrossEntropy()])
    return model


def seed_states(model) -> list:
    return [np.asarray(v).tolist() for v in model.variables if "seed_generator" in v.path]


def restore_seed_states(model, states: list) -> None:
    variables = [v for v in model.variables if "seed_generator" in v.path]
    for variable, value in zip(variables, states):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def _vocabularies(run_dir, config, corpus):
    source_path, target_path = run_dir / rundir.SOURCE_VOCAB, run_dir / rundir.TARGET_VOCAB
    if source_path.exists() and target_path.exists():
        return LanguageIndex.load(source_path), LanguageIndex.load(target_path)
    train = corpus.split("train")
    d = config.data
    source = LanguageIndex.build(train["source_tokens"], d.source_lang, d.min_count, d.max_vocab)
    target = LanguageIndex.build(train["target_tokens"], d.target_lang, d.min_count, d.max_vocab)
    source.save(source_path)
    target.save(target_path)
    return source, target


def _check_resumable(run_dir, config) -> None:
    saved_path = run_dir / rundir.CONFIG_FILE
    if not saved_path.exists():
        return
    saved = config_lib.load(saved_path)
    for section in ("data", "model"):
        if getattr(saved, section) != getattr(config, section):
            raise UserError(f"run directory {run_dir} was trained with other {section} settings; "
                            "use a new --run-dir, or the same config to resume it")


def _append_metrics(run_dir, row: dict, writer) -> None:
    path = run_dir / "metrics.csv"
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, METRIC_FIELDS)
        if new:
            out.writeheader()
        out.writerow({k: row.get(k, "") for k in METRIC_FIELDS})
    if writer is not None:
        import tensorflow as tf

        with writer.as_default(step=row["step"]):
            for key in METRIC_FIELDS[2:]:
                value = row.get(key)
                if isinstance(value, float) and math.isfinite(value):
                    tf.summary.scalar(key, value)
        writer.flush()


def validate_bleu(model, source_index, target_index, config, frame, sample: int, log) -> dict:
    """Translate up to ``sample`` distinct validation sources; BLEU/chrF and 3 examples."""
    from translator.decode import translate_tokens
    from translator.evaluate import score

    refs = references_by_source(frame)
    if sample and len(refs) > sample:
        refs = refs.sample(n=sample, random_state=0)
    # Greedy: it tracks progress as the beam does at a seventh of the time (434 against 58
    # sentences/s), which goes to training; the test split is scored with the configured beam.
    beam_size, model.beam_size, model.predict_function = model.beam_size, 1, None
    try:
        results = translate_tokens(model, source_index, target_index, list(refs["source_tokens"]),
                                   config.decode.batch_size, config.data.target_lang, config.decode.max_source_tokens)
    finally:
        model.beam_size, model.predict_function = beam_size, None
    hypotheses = [r.text for r in results]
    for source, references, hypothesis in list(zip(refs["source"], refs["references"], hypotheses))[:3]:
        log(f"  Source:     {source}\n  Reference:  {references[0]}\n  Hypothesis: {hypothesis}")
    return score(hypotheses, list(refs["references"]))


def train(config: config_lib.Config, run_dir, show_progress: bool = True, evaluate_test: bool = True, log=print) -> dict:
    """Train (or resume) the run in ``run_dir``; returns the final state."""
    from pathlib import Path

    run_dir = Path(run_dir)
    with RunLock(run_dir):
        _check_resumable(run_dir, config)
        corpus = load_corpus(config.data)
        log(f"corpus: {len(corpus.frame)} pairs kept, {corpus.report.skipped} lines skipped ({corpus.report.summary()})")
        source_index, target_index = _vocabularies(run_dir, config, corpus)
        config_lib.save(config, run_dir / rundir.CONFIG_FILE)
        return _fit(config, run_dir, corpus, source_index, target_index, show_progress, evaluate_test, log)


def _fit(config, run_dir, corpus, source_index, target_index, show_progress, evaluate_test, log) -> dict:
    import keras
    import tensorflow as tf

    t = config.train
    keras.utils.set_random_seed(t.seed)
    random.seed(t.seed)
    plan = BatchPlan(*encode_pairs(corpus.split("train"), source_index, target_index), t.batch_size, t.seed, t.bucket_width)
    valid_frame = corpus.split("valid")
    valid_plan = BatchPlan(*encode_pairs(valid_frame, source_index, target_index), t.batch_size, shuffle=False) if len(valid_frame) else None
    manager = CheckpointManager(run_dir, t.keep_checkpoints)
    manager.clean_partial()
    latest = manager.latest()
    if latest is not None:
        state = read_state(latest)
        model = rundir.load_model(latest / "model.keras", compile=True)
        restore_seed_states(model, state["seed_states"])
        log(f"resuming from {latest.name}: epoch {state['epoch'] + 1}, step {state['step_in_epoch']} of {len(plan)}")
    else:
        model = build_model(config, len(source_index), len(target_index), len(plan))
        state = {"global_step": 0, "epoch": 0, "step_in_epoch": 0, "elapsed_s": 0.0, "best_metric": None,
                 "best_step": None, "bad_epochs": 0, "finished": False}
        log(f"new run {run_dir}: {len(plan)} batches per epoch, {model.count_params():,} parameters, "
            f"vocabularies {len(source_index)} / {len(target_index)}")

    def save():
        state["seed_states"] = seed_states(model)
        return manager.save(model, state)

    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))
    deadline = t.max_minutes * 60 if t.max_minutes else None
    with StopRequest() as stop:
        while not state["finished"] and state["epoch"] < t.epochs:
            callback = StepCallback(state, len(plan), t.epochs, save, t.checkpoint_every_steps, stop, deadline, show_progress)
            if state["step_in_epoch"] < len(plan):
                history = model.fit(plan.dataset(state["epoch"], state["step_in_epoch"]), initial_epoch=state["epoch"],
                                    epochs=state["epoch"] + 1, steps_per_epoch=len(plan) - state["step_in_epoch"],
                                    verbose=0, shuffle=False, callbacks=[callback])
                logs = {k: float(v[-1]) for k, v in history.history.items()}
            else:
                logs = {}
            if callback.stop_reason == "nan":
                last = manager.latest()
                raise UserError(f"training loss became NaN at step {state['global_step'] + 1}; "
                                f"{'the last good checkpoint ' + last.name + ' is kept' if last else 'no checkpoint was written'}; "
                                "lower train.learning_rate or train.clipnorm and run again")
            if callback.stop_reason and callback.stop_reason != "time":
                path = save()
                log(f"stopped by {callback.stop_reason}: saved {path.name}; run the same command to resume")
                state["stopped_by"] = callback.stop_reason
                return state
            _end_of_epoch(config, run_dir, model, state, len(plan), logs, valid_plan, valid_frame, source_index,
                          target_index, manager, save, writer, log, time_up=callback.stop_reason == "time")
    if evaluate_test and len(corpus.split("test")):
        from translator.evaluate import evaluate_split

        report = evaluate_split(rundir.load_run(run_dir), corpus.split("test"), "test")
        log(f"test: BLEU {report['bleu']}, chrF {report['chrf']} on {report['sentences']} sentences "
            f"({report['references']} references); training took {state['elapsed_s'] / 60:.1f} min")
        state["test"] = report
    return state


def _end_of_epoch(config, run_dir, model, state, steps_per_epoch, logs, valid_plan, valid_frame, source_index, target_index,
                  manager, save, writer, log, time_up: bool) -> None:
    t = config.train
    complete = state["step_in_epoch"] >= steps_per_epoch
    row = {"epoch": state["epoch"] + 1, "step": state["global_step"], "loss": logs.get("loss"),
           "accuracy": logs.get("accuracy"), "elapsed_s": round(state["elapsed_s"], 1),
           "learning_rate": float(model.optimizer.learning_rate)}
    if logs.get("cross_entropy") is not None:
        row["perplexity"] = math.exp(min(logs["cross_entropy"], 50))
    failpoint("validation")
    if valid_plan is not None:
        val = model.evaluate(valid_plan.dataset(0), verbose=0, return_dict=True)
        row.update(val_loss=val["loss"], val_accuracy=val["accuracy"], val_perplexity=math.exp(min(val["cross_entropy"], 50)))
        if (state["epoch"] + 1) % t.bleu_every_epochs == 0 or time_up or state["epoch"] + 1 == t.epochs:
            bleu = validate_bleu(model, source_index, target_index, config, valid_frame, t.bleu_sample, log)
            row.update(val_bleu=bleu["bleu"], val_chrf=bleu["chrf"])
    log(f"epoch {row['epoch']}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                              if k not in ("epoch",) and isinstance(v, float)))
    _append_metrics(run_dir, row, writer)
    if complete:
        state["epoch"] += 1
        state["step_in_epoch"] = 0
    metric = row.get("val_bleu")  # the best checkpoint is the one with the best validation BLEU
    improved = valid_plan is None or (metric is not None and (state["best_metric"] is None or metric > state["best_metric"]))
    if improved:
        state["best_metric"], state["best_step"], state["bad_epochs"] = metric, state["global_step"], 0
    elif metric is not None:
        state["bad_epochs"] += 1
    if time_up:
        log(f"time budget of {t.max_minutes} min reached")
    if time_up or (t.early_stopping_patience and state["bad_epochs"] >= t.early_stopping_patience):
        state["finished"] = True
    elif state["epoch"] >= t.epochs:
        state["finished"] = True
    path = save()
    if improved or manager.best() is None:
        manager.mark_best(path)
