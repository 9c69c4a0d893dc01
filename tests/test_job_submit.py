"""`ray job submit` to a Ray head started separately (as on a cluster): raymt attaches to it
through RAY_ADDRESS instead of starting its own Ray, with Ray 2.60's token authentication on.

The head gets its own temp dir, ports outside Ray's defaults and its own HOME (so its auth token
is not the user's); only processes of this head are stopped afterwards (`ray stop` would kill
every Ray on the machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))
DASHBOARD = 48265


def _stop_head(temp_dir: str) -> None:
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if temp_dir in " ".join(proc.info["cmdline"] or []):
                proc.send_signal(signal.SIGKILL)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


@pytest.fixture()
def head(tmp_path):
    temp_dir = f"/tmp/rj-{os.getpid()}"  # short: Ray's unix sockets live under it
    import secrets

    # the head and the job client share a token, as a cluster's nodes and its users do
    env = {**os.environ, "HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    cmd = [RAY, "start", "--head", "--num-cpus", "2", "--temp-dir", temp_dir, "--port", "46379",
           "--node-manager-port", "46380", "--object-manager-port", "46381", "--ray-client-server-port", "46382",
           "--dashboard-host", "127.0.0.1", "--dashboard-port", str(DASHBOARD), "--dashboard-agent-listen-port", "48266",
           "--dashboard-agent-grpc-port", "48267", "--min-worker-port", "42000", "--max-worker-port", "42200",
           "--runtime-env-agent-port", "48268", "--metrics-export-port", "48269"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    try:
        yield env
    finally:
        _stop_head(temp_dir)


def test_job_submit_runs_a_trial_on_the_existing_cluster(tmp_path, head, cache_root, tiny_base):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / ".cache").symlink_to(cache_root, target_is_directory=True)
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({
        "name": "job", "storage_path": str(tmp_path / "results"),
        "data": {"source": "synthetic", "domain": "medical", "train_size": 300, "valid_size": 30, "test_size": 30, "lexicon_size": 20},
        "train": {"epochs": 1}, "eval": {"max_samples": 30}, "method": {"name": "lora"},
        "resources": {"num_workers": 1, "cpus_per_worker": 1},
    }))
    t0 = time.time()
    out = subprocess.run([RAY, "job", "submit", "--address", f"http://127.0.0.1:{DASHBOARD}", "--",
                          sys.executable, "-m", "raymt.cli", "train", str(config)],
                         env=head, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "attached to the Ray cluster" in text          # no second Ray was started
    assert "trial result:" in text and "storage_mb" in text
    assert "succeeded" in text.lower()
    print(f"job submit -> finished in {time.time() - t0:.1f}s")
    # authentication stays on: a client without the cluster's token is refused
    stranger = {**head, "RAY_AUTH_TOKEN": "0" * 64}
    denied = subprocess.run([RAY, "job", "list", "--address", f"http://127.0.0.1:{DASHBOARD}"], env=stranger,
                            capture_output=True, text=True, timeout=120)
    assert denied.returncode != 0
