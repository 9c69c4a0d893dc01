"""The experiment config: defaults, and one-line errors that name the field and the fix."""

import pytest

from raymt.config.load import load_config
from raymt.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_default_config_is_the_offline_tiny_setup():
    cfg = load_config(None)
    assert cfg.model.name_or_path == "tiny"
    assert cfg.data.source == "synthetic"
    assert cfg.data.domain != cfg.model.tiny.pretrain_domain  # fine-tuning must adapt to a new domain
    assert cfg.method.name == "lora"


def test_method_parameters_are_validated_by_the_method(tmp_path):
    cfg = load_config(write(tmp_path, "method: {name: adapter, size: 16}\n"))
    assert cfg.method.params.size == 16


@pytest.mark.parametrize(
    "text, field, words",
    [
        ("train:\n  lerning_rate: 0.1\n", "train.lerning_rate", "unknown key"),
        ("train:\n  lr: -1\n", "train.lr", "greater than 0"),
        ("train:\n  epochs: 0\n", "train.epochs", "greater than or equal to 1"),
        ("train:\n  epochs: many\n", "train.epochs", "integer"),
        ("resources:\n  num_workers: -2\n", "resources.num_workers", ""),
        ("method: {name: lora, r: -4}\n", "method", "r"),
        ("method: {name: lorra}\n", "method", "unknown method"),
        ("eval: {beam_size: 0}\n", "eval.beam_size", ""),
        ("data: {source: local, path: /nonexistent, format: moses, src: de, tgt: en, extra_key: 1}\n", "data.extra_key", "unknown key"),
    ],
)
def test_bad_values_name_the_field(tmp_path, text, field, words):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert field in message
    assert words in message
    assert "\n" not in message


def test_unknown_key_gets_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config(write(tmp_path, "train:\n  epoch: 3\n"))


def test_yaml_syntax_error_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:3:"):
        load_config(write(tmp_path, "train:\n  lr: [1\n  x: 2\n"))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
