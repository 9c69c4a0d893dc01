"""`ray job submit` to a Ray head started separately (as on a cluster): raymt attaches to it
through RAY_ADDRESS instead of starting its own Ray, with Ray 2.60's token authentication on.

The head (tests/cluster/ray_head.py) gets its own temp dir, ports outside Ray's defaults and its
own HOME (so its auth token is not the user's); only processes of this head are stopped
afterwards (`ray stop` would kill every Ray on the machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml
from ray_head import RAY, HeadPorts, start_head, stop_head

pytestmark = pytest.mark.slow
PORTS = HeadPorts(gcs=46379, dashboard=48265, min_worker=42000)  # tests/cluster/test_autoscaling.py uses 47xxx


@pytest.fixture()
def head(tmp_path):
    temp_dir = f"/tmp/rj-{os.getpid()}"  # short: Ray's unix sockets live under it
    env = start_head(tmp_path / "home", temp_dir, PORTS, num_cpus=2)
    try:
        yield env
    finally:
        stop_head(temp_dir)


def test_job_submit_runs_a_trial_on_the_existing_cluster(tmp_path, head, cache_root, tiny_base):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / ".cache").symlink_to(cache_root, target_is_directory=True)
    config = tmp_path / "job.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "job",
                "storage_path": str(tmp_path / "results"),
                "data": {"source": "synthetic", "domain": "medical", "train_size": 300, "valid_size": 30, "test_size": 30, "lexicon_size": 20},
                "train": {"epochs": 1},
                "eval": {"max_samples": 30},
                "method": {"name": "lora"},
                "resources": {"num_workers": 1, "cpus_per_worker": 1},
            }
        )
    )
    t0 = time.time()
    out = subprocess.run(
        [RAY, "job", "submit", "--address", PORTS.dashboard_url, "--", sys.executable, "-m", "raymt.cli", "train", str(config)],
        env=head,
        capture_output=True,
        text=True,
        timeout=600,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "attached to the Ray cluster" in text  # no second Ray was started
    assert "trial result:" in text and "storage_mb" in text
    assert "succeeded" in text.lower()
    print(f"job submit -> finished in {time.time() - t0:.1f}s")
    # authentication stays on: a client without the cluster's token is refused
    stranger = {**head, "RAY_AUTH_TOKEN": "0" * 64}
    denied = subprocess.run([RAY, "job", "list", "--address", PORTS.dashboard_url], env=stranger, capture_output=True, text=True, timeout=120)
    assert denied.returncode != 0
