from pathlib import Path

import pytest

from translator.core import config
from translator.core.errors import UserError


def test_default_yaml_lists_every_default_of_the_dataclasses_and_nothing_else():
    raw = config.read_yaml("configs/default.yaml")
    assert raw == config.Config().to_dict()  # every section, key and value


def test_other_configs_list_only_overrides_of_the_defaults():
    defaults = config.Config().to_dict()
    for path in sorted(set(Path("configs").glob("*.yaml")) - {Path("configs/default.yaml")}):
        raw = config.read_yaml(path)
        for section, values in raw.items():
            for key, value in values.items():
                assert key in defaults[section], (path, section, key)
                assert value != defaults[section][key], (
                    f"{path}: {section}.{key} repeats the default"
                )
    tiny = config.load("configs/tiny.yaml")
    assert tiny.model.units < config.Config().model.units
    assert tiny.decode.beam_size == config.Config().decode.beam_size  # not listed: the default


def test_devices_take_auto_or_a_count():
    assert config.load(None, ["train.devices=2"]).train.devices == 2
    assert config.load(None, ["train.devices=auto"]).train.devices == "auto"
    for bad in ("0", "two", "true"):
        with pytest.raises(UserError, match="train.devices must be auto or a whole number"):
            config.load(None, [f"train.devices={bad}"])


def test_overrides_parse_yaml_values():
    loaded = config.load(
        "configs/tiny.yaml",
        ["train.epochs=7", "model.bidirectional=false", "train.learning_rate=1e-3"],
    )
    assert (
        loaded.train.epochs == 7
        and loaded.model.bidirectional is False
        and loaded.train.learning_rate == 0.001
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochz=3", "unknown config key train.epochz"),
        ("trian.epochs=3", "unknown config section"),
        ("train.epochs=three", "must be a whole number"),
        ("model.units=-5", "must be greater than 0"),
        ("model.attention=luong", "must be one of"),
        ("model.dropout=1.5", "model.dropout"),
        ("train.label_smoothing=1.0", "train.label_smoothing"),
        ("train.epochs", "section.key=value"),
    ],
)
def test_mistakes_are_refused_with_one_line_naming_the_key(override, message):
    with pytest.raises(UserError, match=message) as error:
        config.load("configs/tiny.yaml", [override])
    assert "\n" not in str(error.value)


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        config.load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        config.load(tmp_path / "bad.yaml")


def test_save_and_load_round_trip(tmp_path):
    original = config.load("configs/tiny.yaml", ["train.epochs=5"])
    config.save(original, tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == original


def test_dtype_auto_follows_the_cpus_bfloat16_flags_and_a_run_keeps_its_first_choice(tmp_path):
    from conftest import TINY

    from translator.core import backends
    from translator.core import config as config_lib
    from translator.training.rundir import CONFIG_FILE, with_dtype_resolved

    native, emulated = tmp_path / "native", tmp_path / "emulated"
    native.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n\n")
    emulated.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\n")
    assert backends.native_bfloat16(native) and not backends.native_bfloat16(emulated)
    assert not backends.native_bfloat16(tmp_path / "missing")
    assert backends.resolve_dtype("float32") == "float32"
    here = "mixed_bfloat16" if backends.native_bfloat16() else "float32"  # tests run on CPU
    assert backends.resolve_dtype("auto") == here

    auto = config_lib.load(TINY, ["model.dtype=auto"])
    assert with_dtype_resolved(tmp_path, auto).model.dtype == here  # a new run
    other = "float32" if here == "mixed_bfloat16" else "mixed_bfloat16"
    config_lib.save(config_lib.load(TINY, [f"model.dtype={other}"]), tmp_path / CONFIG_FILE)
    resumed = with_dtype_resolved(tmp_path, auto)
    assert resumed.model.dtype == other and auto.model.dtype == "auto"  # the run's own choice
