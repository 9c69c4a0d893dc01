"""The data section: each source accepts its own fields and refuses typos with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from raymt.data.config import HFData, LocalData, SyntheticData, parse_data_config
from raymt.errors import ConfigError


def test_each_source_parses_to_its_model():
    assert isinstance(parse_data_config({"source": "synthetic", "domain": "medical"}), SyntheticData)
    local = parse_data_config({"source": "local", "path": "corpus", "format": "moses", "src": "de", "tgt": "en"})
    assert isinstance(local, LocalData) and local.path == Path("corpus") and local.train == "train"
    hf = parse_data_config({"source": "hf", "dataset": "wmt/wmt16", "config": "de-en", "src": "de", "tgt": "en"})
    assert isinstance(hf, HFData) and hf.format == "translation"


def test_synthetic_config_carries_the_generator_spec():
    cfg = parse_data_config({"source": "synthetic", "domain": "medical", "train_size": 50, "agreement": False, "max_train_pairs": 10})
    spec = cfg.spec()
    assert (spec.domain, spec.train_size, spec.agreement) == ("medical", 50, False)


@pytest.mark.parametrize(
    ("raw", "where", "match"),
    [
        ({"source": "local", "path": "x", "format": "moses", "src": "de", "tgt": "en", "fromat": "tsv"}, "data.fromat", "Extra inputs"),
        ({"source": "local", "path": "x", "format": "csv", "src": "de", "tgt": "en"}, "data.format", "moses"),
        ({"source": "local", "path": "x", "format": "moses", "src": "de", "tgt": "de"}, "data", "different languages"),
        ({"source": "local", "path": "x", "format": "tsv", "src": "de", "tgt": "en", "columns": ["id", "de"]}, "data", "'en' is not one of columns"),
        ({"source": "hf", "dataset": "x", "src": "de", "tgt": "en", "format": "columns"}, "data", "src_column and tgt_column"),
        ({"source": "zip"}, "data", "does not match any of the expected tags"),
        ({"source": "synthetic", "cleaning": {"max_words": 0}}, "data.cleaning.max_words", "greater than or equal to 1"),
        ({"source": "synthetic", "valid_size": -1}, "data.valid_size", "greater than or equal to 0"),
    ],
)
def test_mistakes_are_one_line_config_errors_naming_the_field(raw, where, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse_data_config(raw)
    assert info.value.where == where
    assert "\n" not in str(info.value)


def test_cleaning_defaults_apply_to_train_only():
    cfg = parse_data_config({"source": "synthetic"})
    assert cfg.cleaning.apply_to == ["train"] and cfg.cleaning.drop_empty
