"""The smaller-run options shared by the default-search benchmarks (peer_hf, peer_ray_tune,
search_default): what they change in the default space, and the shared cache folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.search_default import add_size_options, link_cache, size_overrides
from raymt.config.load import load_config

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_size_options(parser)
    return parser.parse_args(list(argv))


def test_size_options_change_only_trials_epochs_and_training_set():
    default = load_config(ROOT / "search_spaces" / "default.yaml")
    assert size_overrides(parse()) == {}  # no option: the space as shipped
    cfg = load_config(ROOT / "search_spaces" / "default.yaml", size_overrides(parse("--trials", "2", "--epochs", "1", "--train-size", "256")))
    assert (cfg.search.num_samples, cfg.train.epochs, cfg.data.train_size) == (2, 1, 256)
    assert cfg.train.batch_size == default.train.batch_size and cfg.search.scheduler == default.search.scheduler


def test_a_new_cache_folder_is_created_and_linked(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "run"
    link_cache(out, cache)
    assert (out / ".cache").is_dir() and (out / ".cache").resolve() == cache.resolve()
    link_cache(out, tmp_path / "other")  # an existing .cache is kept
    assert (out / ".cache").resolve() == cache.resolve()
