"""A run directory: what it holds and how to load a trained model from it safely.

``runs/NAME/`` holds ``config.yaml`` (the exact config the run trained with), the two
vocabularies, ``checkpoints/``, the ``best`` link, ``metrics.csv``, ``tensorboard/`` and the
evaluation reports. Loading never unpickles or executes anything from the directory: the
config and vocabularies are YAML/JSON and the model loads in Keras' safe mode.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from translator.core import backends
from translator.core import config as config_lib
from translator.core.errors import UserError
from translator.data.subwords import is_subword, load_index
from translator.data.vocab import LanguageIndex
from translator.models.search import DecodeOptions
from translator.training.checkpoints import CheckpointManager

CONFIG_FILE = "config.yaml"
SOURCE_VOCAB = "vocab.source.json"
LEXICON = "lexicon.json"
SHORTLIST = "shortlist.npz"
TARGET_VOCAB = "vocab.target.json"


@dataclass
class Run:
    directory: Path
    config: config_lib.Config
    source_index: LanguageIndex
    target_index: LanguageIndex
    model: object
    checkpoint: Path | None
    options: DecodeOptions
    unk_replace: str = "none"
    _lexicon: object = None

    def lexicon(self):
        """The run's ``unk.Lexicon`` when ``unk_replace`` is ``lexicon`` (built once, then kept)."""
        if self.unk_replace != "lexicon":
            return None
        if self._lexicon is None:
            self._lexicon = load_lexicon(self.directory, self.config.data)
        return self._lexicon


def with_dtype_resolved(run_dir: Path, config: config_lib.Config) -> config_lib.Config:
    """``model.dtype: auto`` made concrete once, when the run starts: a resumed run keeps the
    dtype it started with (saved in its config.yaml) whatever machine resumes it."""
    if config.model.dtype != "auto":
        return config
    saved_path = Path(run_dir) / CONFIG_FILE
    saved = config_lib.load(saved_path).model.dtype if saved_path.exists() else "auto"
    dtype = saved if saved != "auto" else backends.resolve_dtype("auto")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, dtype=dtype))


def check_resumable(run_dir: Path, config: config_lib.Config) -> None:
    """Refuse to resume a run directory with other data or model settings."""
    saved_path = Path(run_dir) / CONFIG_FILE
    if not saved_path.exists():
        return
    saved = config_lib.load(saved_path)
    for section in ("data", "model"):
        if getattr(saved, section) != getattr(config, section):
            raise UserError(
                f"run directory {run_dir} was trained with other {section} settings; "
                "use a new --run-dir, or the same config to resume it"
            )
    for key in ("average", "ema_momentum"):  # the optimizer's saved state depends on them
        if getattr(saved.train, key) != getattr(config.train, key):
            raise UserError(
                f"run directory {run_dir} was trained with train.{key} "
                f"{getattr(saved.train, key)}; use a new --run-dir, or that value to resume it"
            )


def vocabularies(run_dir: Path, data: config_lib.DataConfig, train_frame) -> tuple:
    """The run's saved (source, target) vocabularies, or new ones built from ``train_frame``."""
    source_path, target_path = Path(run_dir) / SOURCE_VOCAB, Path(run_dir) / TARGET_VOCAB
    if source_path.exists() and target_path.exists():
        return load_index(source_path), load_index(target_path)
    sources, targets = train_frame["source_tokens"], train_frame["target_tokens"]
    if data.vocab == "word":
        build = LanguageIndex.build
        source = build(sources, data.source_lang, data.min_count, data.max_vocab)
        target = build(targets, data.target_lang, data.min_count, data.max_vocab)
    else:
        from translator.data.subwords import SubwordIndex

        if data.joint_vocab:
            both = f"{data.source_lang}+{data.target_lang}"
            source = target = SubwordIndex.build(
                [*sources, *targets], both, data.vocab_size, data.vocab
            )
        else:
            source = SubwordIndex.build(sources, data.source_lang, data.vocab_size, data.vocab)
            target = SubwordIndex.build(targets, data.target_lang, data.vocab_size, data.vocab)
    source.save(source_path)
    target.save(target_path)
    return source, target


def resolve_unk_replace(requested: str, target_index) -> str:
    """``auto`` is ``lexicon`` with a word vocabulary; pieces never write ``<unk>``, so with
    them every mode is ``none`` (and asking for another one says so)."""
    if not is_subword(target_index):
        return "lexicon" if requested == "auto" else requested
    if requested in ("copy", "lexicon"):
        print(
            f"note: unk_replace {requested} has no work to do: a subword vocabulary never "
            "writes <unk>",
            file=sys.stderr,
        )
    return "none"


def load_model(path: Path, compile: bool = False):
    """A saved model (with its optimizer state if ``compile``), in Keras' safe mode."""
    import keras

    import translator.models.metrics  # noqa: F401  (registers the custom metric)
    import translator.models.model  # noqa: F401  (registers the custom layers)
    import translator.models.optimizer  # noqa: F401  (registers the schedule and optimizer)

    if not path.is_file():
        raise UserError(
            f"model file {path} is missing; the checkpoint is incomplete, delete it to use an "
            "older one"
        )
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a damaged file
        raise UserError(
            f"model file {path} cannot be loaded ({error.__class__.__name__}); it is corrupt, "
            "delete its checkpoint to use an older one"
        ) from None
    if compile:
        from translator.core import backends

        backends.use_compilation(model)
    elif model.dtype_policy.name != "float32":
        model = float32_copy(model)
    return model


def float32_copy(model):
    """The same weights in a float32 model: translation runs in full precision.

    Mixed precision pays in training; in decoding on a CPU it measured slower (beam search
    of one sentence 26.6 against 20.6 ms) and coarser, so inference always uses float32.
    """
    copy = type(model).from_config(model.get_config() | {"dtype": "float32"})
    copy.build(None)
    copy.set_weights(model.get_weights())
    return copy


def learn_lexicon(run_dir: Path, train_frame):
    """Learn the ``<unk>`` lexicon of a run from its training split and save it in the run."""
    from translator.decoding.unk import Lexicon

    lexicon = Lexicon.build(list(train_frame["source_tokens"]), list(train_frame["target_tokens"]))
    lexicon.save(Path(run_dir) / LEXICON)
    return lexicon


def load_lexicon(run_dir: Path, data: config_lib.DataConfig):
    """The run's ``lexicon.json`` (learned now for runs older than it)."""
    from translator.decoding.unk import Lexicon

    path = Path(run_dir) / LEXICON
    if path.is_file():
        return Lexicon.load(path)
    from translator.data.corpus import load_corpus

    return learn_lexicon(run_dir, load_corpus(data).split("train"))


def load_shortlist(
    run_dir: Path, data: config_lib.DataConfig, source_index, target_index, train_pairs=None
):
    """The run's ``shortlist.npz``, else learned now and saved: from ``train_pairs`` (the
    encoded training split) when given, else from the corpus if it is there; else None
    (decoding scores the whole vocabulary)."""
    from translator.models.shortlist import Shortlist

    path = Path(run_dir) / SHORTLIST
    if path.is_file():
        return Shortlist.load(path)
    if train_pairs is None:
        if not Path(data.corpus).exists():
            return None
        from translator.data.corpus import load_corpus
        from translator.data.pipeline import encode_pairs

        train_pairs = encode_pairs(load_corpus(data).split("train"), source_index, target_index)
    shortlist = Shortlist.build(*train_pairs, len(source_index), len(target_index))
    shortlist.save(path)
    return shortlist


def load_run(
    run_dir: str | Path,
    *,
    checkpoint: str | None = None,
    beam_size: int | None = None,
    length_penalty: float | None = None,
    unk_replace: str | None = None,
    shortlist: int | None = None,
) -> Run:
    """Config, vocabularies and the best (else latest) checkpoint's model of a run.

    Decoding follows the run's ``decode`` config; ``beam_size``, ``length_penalty`` and
    ``shortlist`` override it.
    """
    directory = Path(run_dir)
    if not directory.is_dir():
        raise UserError(
            f"run directory {directory} does not exist; train one with `make train` or give "
            "--run-dir"
        )
    config = config_lib.load(directory / CONFIG_FILE)
    source_index = load_index(directory / SOURCE_VOCAB)
    target_index = load_index(directory / TARGET_VOCAB)
    manager = CheckpointManager(directory)
    if checkpoint:
        chosen = Path(checkpoint) if Path(checkpoint).is_dir() else manager.directory / checkpoint
    else:
        chosen = manager.best() or manager.latest()
    if chosen is None or not chosen.is_dir():
        raise UserError(
            f"run directory {directory} has no checkpoint yet; train it first (`python -m "
            f"translator train --run-dir {directory}`)"
        )
    if beam_size is not None and beam_size < 1:
        raise UserError(f"--beam-size must be 1 (greedy) or more, not {beam_size}")
    if length_penalty is not None and not length_penalty >= 0:
        raise UserError(f"--length-penalty must be 0 or more, not {length_penalty}")
    if shortlist is not None and shortlist < 0:
        raise UserError(f"--shortlist must be 0 (the whole vocabulary) or more, not {shortlist}")
    model = load_model(chosen / "model.keras")
    if (model.source_vocab_size, model.target_vocab_size) != (len(source_index), len(target_index)):
        raise UserError(
            f"checkpoint {chosen} does not match the vocabularies of {directory} "
            "(sizes differ); the run directory is mixed up"
        )
    # Decoding choices: the run's config (or the command line) decides, not the checkpoint.
    options = DecodeOptions.from_config(
        config.decode, beam_size=beam_size, length_penalty=length_penalty, shortlist=shortlist
    )
    unk_replace = resolve_unk_replace(unk_replace or config.decode.unk_replace, target_index)
    if options.shortlist:
        model.shortlist = load_shortlist(directory, config.data, source_index, target_index)
    return Run(directory, config, source_index, target_index, model, chosen, options, unk_replace)
