"""The typed configuration: YAML in, checked dataclasses out, before any work starts.

The dataclasses below hold every default, once; ``configs/default.yaml`` lists the same keys
and values with a comment on each (a test keeps the two equal), and any other config file
holds only the keys it overrides. Unknown keys, wrong types and out-of-range values are
refused with one line naming the key; ``--set section.key=value`` overrides one key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from translator.core.errors import UserError


@dataclass
class DataConfig:
    corpus: str = "data/fra-eng/fra.txt"
    source_lang: str = "en"
    target_lang: str = "fr"
    columns: list = field(default_factory=lambda: ["en", "auto"])
    lowercase: bool = False
    max_tokens: int = 30
    max_pairs: int = 0
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    split_seed: int = 1234
    min_count: int = 2
    max_vocab: int = 0
    vocab: str = "word"
    vocab_size: int = 8000
    joint_vocab: bool = False


@dataclass
class ModelConfig:
    """Keyword arguments of the model classes (the names match; each reads its own keys)."""

    architecture: str = "gru"
    embedding_dim: int = 256
    units: int = 512
    encoder_layers: int = 1
    bidirectional: bool = True
    attention: str = "bahdanau"
    attention_units: int = 0
    dropout: float = 0.15
    tie_embeddings: bool = True
    dtype: str = "auto"
    layers: int = 3
    heads: int = 4
    model_dim: int = 256
    ffn_dim: int = 1024


@dataclass
class TrainConfig:
    batch_size: int = 128
    epochs: int = 30
    learning_rate: float = 0.002
    lr_schedule: str = "cosine"
    warmup_steps: int = 200
    clipnorm: float = 1.0
    label_smoothing: float = 0.1
    seed: int = 42
    checkpoint_every_steps: int = 1000
    keep_checkpoints: int = 3
    bleu_every_epochs: int = 1
    bleu_sample: int = 500
    early_stopping_patience: int = 3
    max_minutes: float = 52.0
    plan_epochs: bool = True
    average: str = "ema"
    ema_momentum: float = 0.999
    bucket_width: int = 64
    backend: str = "auto"
    devices: int | str = "auto"


@dataclass
class DecodeConfig:
    max_length_ratio: float = 2.0
    max_length_offset: int = 5
    batch_size: int = 256
    max_source_tokens: int = 100
    ban_unk: bool = True
    beam_size: int = 5
    length_penalty: float = 0.6
    unk_replace: str = "auto"
    shortlist: int = 20


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CHOICES = {
    ("model", "architecture"): ("gru", "transformer"),
    ("model", "attention"): ("bahdanau", "dot", "general"),
    ("train", "lr_schedule"): ("constant", "cosine", "exponential"),
    ("train", "backend"): ("auto", "tensorflow", "jax"),
    ("train", "average"): ("none", "ema"),
    ("model", "dtype"): ("auto", "float32", "mixed_bfloat16"),
    ("data", "vocab"): ("word", "unigram", "bpe"),
    ("decode", "unk_replace"): ("auto", "none", "copy", "lexicon"),
}
POSITIVE = {
    ("data", "max_tokens"),
    ("data", "min_count"),
    ("data", "vocab_size"),
    ("model", "embedding_dim"),
    ("model", "units"),
    ("model", "encoder_layers"),
    ("model", "layers"),
    ("model", "heads"),
    ("model", "model_dim"),
    ("model", "ffn_dim"),
    ("train", "batch_size"),
    ("train", "epochs"),
    ("train", "learning_rate"),
    ("train", "checkpoint_every_steps"),
    ("train", "keep_checkpoints"),
    ("train", "bleu_every_epochs"),
    ("train", "bucket_width"),
    ("train", "ema_momentum"),
    ("decode", "max_length_ratio"),
    ("decode", "batch_size"),
    ("decode", "max_source_tokens"),
    ("decode", "beam_size"),
}
FRACTIONS = {
    ("model", "dropout"),
    ("train", "label_smoothing"),
    ("train", "ema_momentum"),
}  # [0, 1)


def _check_type(name: str, value, kind):
    """``value`` as ``kind`` (bool, int, float or str), or a UserError naming the key."""
    if kind is bool and not isinstance(value, bool):
        raise UserError(f"config key {name} must be true or false, not {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise UserError(f"config key {name} must be a whole number, not {value!r}")
    if kind is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"config key {name} must be a number, not {value!r}")
        value = float(value)
    if kind is str and not isinstance(value, str):
        raise UserError(f"config key {name} must be a string, not {value!r}")
    return value


def _check_value(section: str, key: str, value, kind):
    name = f"{section}.{key}"
    if kind is list:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise UserError(f"config key {name} must be a list of strings, not {value!r}")
    if kind == int | str:  # "auto" or a count
        if value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and value > 0
        ):
            return value
        raise UserError(f"config key {name} must be auto or a whole number above 0, not {value!r}")
    value = _check_type(name, value, kind)
    if kind in (int, float):
        if (section, key) in POSITIVE and value <= 0:
            raise UserError(f"config key {name} must be greater than 0, not {value!r}")
        if value < 0:
            raise UserError(f"config key {name} must not be negative, not {value!r}")
        if (section, key) in FRACTIONS and not value < 1:
            raise UserError(f"config key {name} must be in [0, 1), not {value!r}")
    choices = CHOICES.get((section, key))
    if choices and value not in choices:
        raise UserError(f"config key {name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def from_dict(raw: dict) -> Config:
    """Build a ``Config`` from the defaults and ``raw``'s overrides, checking every key."""
    if not isinstance(raw, dict):
        raise UserError("a config must be a mapping of sections (data, model, train, decode)")
    config = Config()
    sections = {f.name for f in dataclasses.fields(Config)}
    for section, values in raw.items():
        if section not in sections:
            raise UserError(
                f"unknown config section {section!r}; expected one of {', '.join(sections)}"
            )
        if values is None:
            continue
        if not isinstance(values, dict):
            raise UserError(f"config section {section!r} must be a mapping of keys")
        target = getattr(config, section)
        hints = typing.get_type_hints(type(target))
        for key, value in values.items():
            if key not in hints:
                raise UserError(
                    f"unknown config key {section}.{key}; see configs/default.yaml for the keys"
                )
            setattr(target, key, _check_value(section, key, value, hints[key]))
    from translator.core.languages import rules

    rules(config.data.source_lang), rules(config.data.target_lang)  # known languages only
    if config.data.valid_fraction + config.data.test_fraction >= 1:
        raise UserError("config keys data.valid_fraction + data.test_fraction must be below 1")
    model = config.model
    if model.architecture == "transformer" and (
        model.model_dim % model.heads or model.model_dim % 2
    ):
        raise UserError(
            f"config key model.model_dim ({model.model_dim}) must be even and a multiple of "
            f"model.heads ({model.heads})"
        )
    return config


def parse_override(text: str) -> tuple[str, str, object]:
    """``section.key=value`` -> (section, key, YAML-parsed value)."""
    name, sep, value = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not key:
        raise UserError(f"--set takes section.key=value (e.g. train.epochs=3), not {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return section, key, parsed


def read_yaml(path: str | Path) -> dict:
    """The raw mapping of a YAML config file; a missing or broken file is one UserError."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist; try configs/default.yaml") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        first_line = str(error).splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML: {first_line}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping of sections")
    return raw


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """The defaults, overridden by a YAML file (if given) and then by ``--set`` overrides."""
    raw = read_yaml(path) if path is not None else {}
    for text in overrides or []:
        section, key, value = parse_override(text)
        section_values = raw.setdefault(section, {})
        if not isinstance(section_values, dict):
            raise UserError(f"config section {section!r} must be a mapping of keys")
        section_values[key] = value
    return from_dict(raw)


def save(config: Config, path: Path) -> None:
    """Write the complete config (every key), as a run directory keeps it."""
    from translator.core.files import atomic_write_text

    text = yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
    atomic_write_text(path, text)
