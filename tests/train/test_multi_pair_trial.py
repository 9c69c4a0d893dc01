"""A multi-pair trial through Ray Train: both directions of the synthetic pair in one model,
2 DDP workers sharing the temperature sampler, per-pair BLEU and its mean reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raymt.config.load import validate_config
from raymt.train.prepare import prepare_experiment
from raymt.train.trial import run_trial

pytestmark = pytest.mark.slow

SYNTH = {"source": "synthetic", "domain": "medical", "valid_size": 30, "test_size": 30, "lexicon_size": 20}


@pytest.fixture()
def shared_cache(tmp_path, cache_root, tiny_base):
    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    return tmp_path


def test_both_directions_train_in_one_trial_with_per_pair_bleu(shared_cache, ray_local):
    cfg = validate_config({
        "name": "mp", "storage_path": str(shared_cache), "model": {"max_length": 48},
        "multi_pair": {"temperature": 5.0, "pairs": [
            {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": {**SYNTH, "train_size": 400}},
            {"src_lang": "de_DE", "tgt_lang": "en_XX", "reverse": True, "data": {**SYNTH, "seed": 1, "train_size": 100}},
        ]},
        "method": {"name": "lora", "r": 8, "target_modules": "all-linear"},
        "train": {"epochs": 1, "batch_size": 32, "lr": 2e-3},
        "resources": {"num_workers": 2, "cpus_per_worker": 0.9},
    }, "test")
    prepared = prepare_experiment(cfg, log=lambda m: None)
    metrics, checkpoint = run_trial(cfg, prepared, name="multi_pair")

    forward, backward = metrics["bleu_en_XX-de_DE"], metrics["bleu_de_DE-en_XX"]
    assert metrics["bleu"] == pytest.approx((forward + backward) / 2)
    assert metrics["chrf"] == pytest.approx((metrics["chrf_en_XX-de_DE"] + metrics["chrf_de_DE-en_XX"]) / 2)
    assert metrics["world_size"] == 2 and 0 <= backward <= 100
    # the base was pre-trained on en -> de: that direction must already translate
    assert forward > 5, metrics
    hyps = (Path(checkpoint) / "hyps.txt").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == 60  # 30 per pair, pair by pair in config order (as references.txt)
    state = json.loads((Path(checkpoint) / "state.json").read_text())
    assert {"bleu_en_XX-de_DE", "bleu_de_DE-en_XX"} <= set(state["history"][0])

