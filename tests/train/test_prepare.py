"""The experiment's shared preparation on an object store: built once, fetched by any node."""

from __future__ import annotations

from pathlib import Path

from raymt import object_store as storage
from raymt.config.schema import ExperimentConfig
from raymt.data.cache import load_tokenized
from raymt.train.prepare import local_loop_config, prepare_experiment


def _cfg(uri: str) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "name": "prep",
            "storage_path": uri,
            "data": {"source": "synthetic", "train_size": 200, "valid_size": 20, "test_size": 20},
            "augment": {"word_dropout": {"ratio": 0.5}},
        }
    )


def test_a_second_machine_fetches_the_prepared_cache_instead_of_rebuilding_it(s3_bucket, tmp_path, monkeypatch, cache_root, tiny_base):
    uri = f"s3://{s3_bucket}/runs"
    cfg = _cfg(uri)
    staged = storage.staging_path(storage.join(uri, ".cache"))
    staged.parent.mkdir(parents=True)
    staged.symlink_to(cache_root, target_is_directory=True)  # the session's tiny base: no rebuild
    logs: list[str] = []
    prepared = prepare_experiment(cfg, log=logs.append)
    for path in (prepared.base_path, prepared.data_path, *prepared.augment_pools.values()):
        assert path.startswith(f"{uri}/.cache/") and storage.exists(path), path

    # another node: an empty staging folder; its Train worker opens everything from the store
    monkeypatch.setenv("RAYMT_STAGING_DIR", str(tmp_path / "node2"))
    local = local_loop_config(prepared.loop_config(cfg))
    assert Path(local["base_path"], "config.json").exists()
    assert str(tmp_path / "node2") in local["data_path"]
    assert len(load_tokenized(local["data_path"])["train"]) == 200
    assert len(load_tokenized(local["augment_pools"]["word_dropout"])["train"]) == 100

    # another driver on that node: the cache comes from the store, nothing is rebuilt or re-sent
    logs.clear()
    again = prepare_experiment(cfg, log=logs.append)
    assert again.data_path == prepared.data_path and again.augment_pools == prepared.augment_pools
    assert any(" uploaded" in line and ", 0 uploaded" in line for line in logs), logs
