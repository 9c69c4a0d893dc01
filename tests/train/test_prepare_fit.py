"""Before any Ray work, prepare measures the corpus under the base's tokenizer, stores the
figures (prepared.json) and refuses a corpus the tokenizer does not cover (issue 18 item 3);
it also scores the untouched base, the level every direction must rise above."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from raymt.config.load import validate_config
from raymt.errors import DataError
from raymt.train.prepare import prepare_experiment

ROOT = Path(__file__).resolve().parents[2]
MULTI30K = ROOT.parent / "shared" / "data" / "multi30k" / "task1" / "raw"


def with_shared_cache(tmp_path: Path, cache_root: Path) -> Path:
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "models").symlink_to(cache_root / "models", target_is_directory=True)
    return tmp_path


def test_the_default_search_passes_and_records_fit_base_and_base_score(tmp_path, cache_root, tiny_base):
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.pop("search")
    raw["storage_path"] = str(with_shared_cache(tmp_path, cache_root))
    raw["data"].update(train_size=300, valid_size=40, test_size=40)
    logs: list[str] = []
    prepared = prepare_experiment(validate_config(raw, "default.yaml"), log=logs.append)
    ((source, target),) = prepared.tokenizer_fit.values()
    assert source["side"] == "source" and source["lang"] == "en_XX" and target["lang"] == "de_DE"
    assert source["unk_rate"] == 0 and target["unk_rate"] == 0 and source["tokens_per_word"] >= 1
    assert any(line.startswith("tokenizer fit (data): source (en_XX): 0.00% unknown tokens") for line in logs), logs
    assert prepared.base["name"] == "tiny" and prepared.base["spec"]["threads"] >= 1 and "torch" in prepared.base["build"]
    score = prepared.base_scores[""]
    assert score["sentences"] == 40 and score["split"] == "validation" and 0 <= score["bleu"] < 100


def test_the_synthetic_base_refuses_real_german_before_ray(tmp_path, cache_root, tiny_base):
    if not (MULTI30K / "train.de.gz").is_file():
        pytest.skip(f"the shared Multi30k corpus is not at {MULTI30K} (../shared absent on this machine)")
    raw = {
        "name": "real",
        "storage_path": str(with_shared_cache(tmp_path, cache_root)),
        "model": {"name_or_path": "tiny"},
        "data": {
            "source": "local",
            "path": str(MULTI30K),
            "format": "moses",
            "src": "en",
            "tgt": "de",
            "validation": "val",
            "test": "test_2016_flickr",
            "max_train_pairs": 500,
        },
    }
    with pytest.raises(DataError) as err:
        prepare_experiment(validate_config(raw, "real.yaml"), log=lambda m: None)
    text = str(err.value)
    assert text.startswith("data: ") and "are <unk> under the tokenizer of tiny" and "Fix: use a base whose tokenizer covers" in text
    assert "(limit 1.00%" in text and "tiny-multilingual" in text
    assert not (tmp_path / ".cache" / "data").exists() or not any((tmp_path / ".cache" / "data").iterdir())  # refused before tokenising
    raw["model"]["max_unk_rate"] = 1.0  # the limit is the user's: measured, reported, not refused
    prepared = prepare_experiment(validate_config(raw, "real.yaml"), log=lambda m: None)
    assert max(side["unk_rate"] for side in prepared.tokenizer_fit[""]) > 0.01
