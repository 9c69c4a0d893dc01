"""Shared fixtures: one tiny pre-trained base per test session, reused by every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """Where the session's tiny base and tokenised data live (shared by all tests)."""
    root = os.environ.get("RAYMT_TEST_CACHE")
    return Path(root) if root else tmp_path_factory.mktemp("raymt-cache")


@pytest.fixture(scope="session")
def tiny_base(cache_root) -> Path:
    from raymt.model.tiny import TinyModelSpec, build_tiny_base

    return build_tiny_base(TinyModelSpec(), cache_root, log=lambda m: None)


@pytest.fixture()
def ray_local():
    """A local Ray for one test (2 CPUs, dashboard on 127.0.0.1 only), shut down after it, so
    tests that start Ray themselves (a `raymt search` subprocess, a `ray start` head) never
    meet a leftover one."""
    import ray

    from raymt.runtime import init_ray

    init_ray(num_cpus=2, log=lambda m: None)
    yield ray
    ray.shutdown()


#: the local S3 server accepts any key; this one is distinctive so tests can look for leaks
S3_TEST_SECRET = "raymt-test-secret-5b1e0c9d"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A local S3 server (moto) for the object-store tests: nothing leaves the machine."""
    pytest.importorskip("moto", reason="the object-store tests need moto[server] (pip install -e '.[test]')")
    from s3_server import start_s3_server, stop_s3_server

    endpoint, server = start_s3_server(tmp_path_factory.mktemp("moto") / "server.log")
    yield endpoint
    stop_s3_server(server)


@pytest.fixture()
def s3_bucket(s3_endpoint, monkeypatch, tmp_path):
    """A fresh bucket on the local S3 server, reachable as plain ``s3://NAME`` through the
    standard AWS variables (what a user with MinIO or S3 sets), and a private staging folder."""
    import uuid

    import boto3

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": S3_TEST_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "RAYMT_STAGING_DIR": str(tmp_path / "staging"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    name = f"raymt-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name
