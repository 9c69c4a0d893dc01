"""Object-store storage (raymt.object_store) against a real S3 protocol server (moto), offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from raymt import object_store as storage
from raymt.errors import ConfigError


def test_uris_keep_their_query_and_map_to_one_staging_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("RAYMT_STAGING_DIR", str(tmp_path))
    uri = "s3://bkt/runs?endpoint_override=localhost:9000&scheme=http"
    assert storage.join(uri, "exp", ".cache/") == "s3://bkt/runs/exp/.cache?endpoint_override=localhost:9000&scheme=http"
    assert storage.parent_uri(storage.join(uri, "a", "b")) == storage.join(uri, "a")
    assert storage.staging_path(storage.join(uri, "exp")) == tmp_path / "s3" / "bkt" / "runs" / "exp"
    # a path that tries to climb out of the staging root stays inside it
    assert storage.staging_path("s3://bkt/../../etc") == tmp_path / "s3" / "bkt" / "etc"
    local = storage.staging_path(uri) / "x" / "y.txt"
    assert storage.to_uri(local, storage.staging_path(uri), uri) == storage.join(uri, "x", "y.txt")
    assert storage.is_uri("gs://b/p") and not storage.is_uri("file:///tmp/x") and not storage.is_uri("/tmp/x")
    assert storage.local_form("file:///tmp/x") == "/tmp/x"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_push_and_pull_copy_what_changed_and_never_temporary_files(s3_bucket, tmp_path):
    src = tmp_path / "src"
    (src / "data" / "k1").mkdir(parents=True)
    (src / "data" / "k1" / "part.arrow").write_bytes(b"x" * 1000)
    (src / "report.md").write_text("v1")
    (src / "data" / ".tmp-k2-abc").mkdir()  # a builder still writing
    (src / "data" / ".tmp-k2-abc" / "part.arrow").write_bytes(b"half")
    (src / "data" / "k1.lock").write_text("")
    (src / "tune").mkdir()
    (src / "tune" / "state.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere" / "k3"  # an entry linked into the cache (as the tests link the tiny base)
    elsewhere.mkdir(parents=True)
    (elsewhere / "model.bin").write_bytes(b"m" * 10)
    (src / "data" / "k3").symlink_to(elsewhere, target_is_directory=True)
    uri = f"s3://{s3_bucket}/exp"

    assert storage.push_tree(src, uri, skip=("tune",)) == 3
    assert storage.push_tree(src, uri, skip=("tune",)) == 0  # nothing changed: nothing sent
    dest = tmp_path / "dest"
    assert storage.pull_tree(uri, dest) == 3
    assert _tree(dest) == {"data/k1/part.arrow": b"x" * 1000, "data/k3/model.bin": b"m" * 10, "report.md": b"v1"}
    assert storage.push_tree(dest, uri) == 0  # a pulled copy is not sent back

    # a rewrite of the same size (a rebuilt report) is newer, so it is sent and fetched, also
    # within the second of the upload (the store keeps times to the second: no slack hides it)
    (src / "report.md").write_text("v2")
    assert storage.push_tree(src, uri, skip=("tune",)) == 1
    assert storage.pull_tree(uri, dest) == 1
    assert (dest / "report.md").read_text() == "v2"


def test_localize_fetches_a_folder_once_per_node(s3_bucket, tmp_path):
    src = tmp_path / "model"
    src.mkdir()
    (src / "config.json").write_text('{"a": 1}')
    (src / "sub").mkdir()
    (src / "sub" / "w.bin").write_bytes(os.urandom(3000))
    uri = f"s3://{s3_bucket}/.cache/models/m1"
    storage.upload(src, uri)

    local = Path(storage.localize(uri))
    assert local == storage.staging_path(uri) and _tree(local) == _tree(src)
    storage.filesystem(uri)[0].delete_dir(storage.filesystem(uri)[1])
    assert storage.localize(uri) == str(local)  # the node's copy: no second download
    assert storage.localize(str(src)) == str(src)  # local paths are left alone
    with pytest.raises(FileNotFoundError):
        storage.localize(f"s3://{s3_bucket}/.cache/models/missing")
    assert not any(p.name.startswith(".") and "dl-" in p.name for p in local.parent.iterdir())  # no temp left


def test_unreachable_or_unknown_storage_is_refused_naming_the_field(s3_bucket):
    storage.check_writable(f"s3://{s3_bucket}/runs")  # the real bucket: fine
    with pytest.raises(ConfigError) as err:
        storage.check_writable("s3://no-such-bucket-raymt/runs")
    assert err.value.where == "storage_path" and "no-such-bucket-raymt" in str(err.value)
    with pytest.raises(ConfigError) as err:
        storage.check_writable("ftp://host/runs")
    assert "s3://" in str(err.value)


def test_the_config_accepts_object_stores_and_refuses_other_schemes():
    from pydantic import ValidationError

    from raymt.config.schema import ExperimentConfig

    assert ExperimentConfig(storage_path="s3://bucket/raymt").storage_path == "s3://bucket/raymt"
    assert ExperimentConfig(storage_path="gs://bucket/raymt").storage_path == "gs://bucket/raymt"
    for bad in ("ftp://host/raymt", "s3:///raymt"):
        with pytest.raises(ValidationError):
            ExperimentConfig(storage_path=bad)


def test_exists_answers_for_local_paths_too(tmp_path):
    (tmp_path / "a").mkdir()
    assert storage.exists(tmp_path / "a") and storage.exists(f"file://{tmp_path}/a")
    assert not storage.exists(tmp_path / "b")
