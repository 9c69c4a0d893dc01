"""Hugging Face datasets, built locally the way a user would (no hub access in tests)."""

from __future__ import annotations

import json

import pytest

from raymt.data.config import parse_data_config
from raymt.data.sources import load_corpus
from raymt.errors import DataError

datasets = pytest.importorskip("datasets")

ROWS = [{"de": f"ein Hund {i}", "en": f"a dog {i}"} for i in range(60)]


def _cfg(**kw):
    return parse_data_config({"source": "hf", "src": "de", "tgt": "en", **kw})


def test_save_to_disk_folder_in_translation_format(tmp_path):
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"translation": ROWS[:40]}),
            "validation": datasets.Dataset.from_dict({"translation": ROWS[40:50]}),
            "test": datasets.Dataset.from_dict({"translation": ROWS[50:]}),
        }
    )
    dd.save_to_disk(str(tmp_path / "ds"))
    splits, report = load_corpus(_cfg(dataset=str(tmp_path / "ds")))
    assert splits["train"][3] == ("ein Hund 3", "a dog 3")
    assert report.kept == {"train": 40, "validation": 10, "test": 10} and report.carved == {}


def test_single_saved_dataset_is_train_and_held_out_splits_are_carved(tmp_path):
    datasets.Dataset.from_dict({"translation": ROWS}).save_to_disk(str(tmp_path / "one"))
    splits, report = load_corpus(_cfg(dataset=str(tmp_path / "one"), valid_size=6, test_size=4))
    assert report.carved == {"validation": 6, "test": 4} and len(splits["train"]) == 50


def test_json_builder_with_columns_format_and_split_names(tmp_path):
    for name, rows in (("tr", ROWS[:50]), ("dev", ROWS[50:])):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps({"text_de": r["de"], "text_en": r["en"]}) for r in rows))
    cfg = _cfg(
        dataset="json",
        data_files={"train": str(tmp_path / "tr.jsonl"), "dev": str(tmp_path / "dev.jsonl")},
        cache_dir=str(tmp_path / "cache"),
        format="columns",
        src_column="text_de",
        tgt_column="text_en",
        validation_split="dev",
        test_split=None,
        test_size=5,
    )
    splits, report = load_corpus(cfg)
    assert len(splits["validation"]) == 10 and splits["validation"][0] == ("ein Hund 50", "a dog 50")
    assert report.carved == {"test": 5} and len(splits["train"]) == 45


def test_parquet_builder(tmp_path):
    datasets.Dataset.from_dict({"translation": ROWS}).to_parquet(str(tmp_path / "train.parquet"))
    splits, _ = load_corpus(
        _cfg(dataset="parquet", data_files=str(tmp_path / "train.parquet"), cache_dir=str(tmp_path / "c"), valid_size=5, test_size=5)
    )
    assert len(splits["train"]) == 50


def test_wrong_language_keys_and_columns_are_clear_errors(tmp_path):
    datasets.Dataset.from_dict({"translation": ROWS}).save_to_disk(str(tmp_path / "one"))
    with pytest.raises(DataError, match="translation has no 'fr'/'en'.*'de'"):
        load_corpus(parse_data_config({"source": "hf", "dataset": str(tmp_path / "one"), "src": "fr", "tgt": "en"}))
    with pytest.raises(DataError, match="no column 'source'.*translation"):
        load_corpus(_cfg(dataset=str(tmp_path / "one"), format="columns", src_column="source", tgt_column="target"))


def test_explicit_missing_split_is_an_error(tmp_path):
    datasets.Dataset.from_dict({"translation": ROWS}).save_to_disk(str(tmp_path / "one"))
    with pytest.raises(DataError, match="no split 'dev'.*\\['train'\\]"):
        load_corpus(_cfg(dataset=str(tmp_path / "one"), validation_split="dev"))


def test_unloadable_dataset_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot load the dataset") as info:
        load_corpus(_cfg(dataset="json", data_files=str(tmp_path / "absent.jsonl"), cache_dir=str(tmp_path / "c")))
    assert info.value.where == "data.dataset='json'"
