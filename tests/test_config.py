import pytest

from translator import config
from translator.errors import UserError


def test_default_config_file_matches_the_dataclass_keys():
    loaded = config.load("configs/default.yaml")
    assert loaded.model.attention == "bahdanau"
    assert config.load("configs/tiny.yaml").model.units < loaded.model.units


def test_overrides_parse_yaml_values():
    loaded = config.load("configs/tiny.yaml", ["train.epochs=7", "model.bidirectional=false", "train.learning_rate=1e-3"])
    assert loaded.train.epochs == 7 and loaded.model.bidirectional is False and loaded.train.learning_rate == 0.001


@pytest.mark.parametrize("override, message", [
    ("train.epochz=3", "unknown config key train.epochz"),
    ("trian.epochs=3", "unknown config section"),
    ("train.epochs=three", "must be a whole number"),
    ("model.units=-5", "must be greater than 0"),
    ("model.attention=luong", "must be one of"),
    ("model.dropout=1.5", "model.dropout"),
    ("train.label_smoothing=1.0", "train.label_smoothing"),
    ("train.epochs", "section.key=value"),
])
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
