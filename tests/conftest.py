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
