"""Autoscaling on one machine: a search whose trials do not fit on the head grows the cluster.

Ray's fake multi-node provider (`RAY_FAKE_CLUSTER=1`, `provider.type: fake_multinode`) adds
worker nodes as real raylets on this machine when there is unmet demand, and removes them when
they have been idle for `idle_timeout_minutes`. The head has 1 CPU; every trial's Train worker
asks for 1.2 CPUs, so no trial can run until the autoscaler has added a 2-CPU node. The search
is submitted as a job without `search.max_concurrent_trials`, with RAYMT_AUTOSCALER_CONFIG in its
runtime env naming the head's `--autoscaling-config` file (docs/cluster.md): raymt sizes the
search to the largest cluster that config allows (2 trials: one 1.2-CPU worker per 2-CPU node),
not to the 1-CPU head it sees at the start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID
from ray_head import RAY, HeadPorts, fake_cluster_config, node_ip, start_head, stop_head

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PORTS = HeadPorts(gcs=47379, dashboard=47265, min_worker=43000)  # tests/cluster/test_attach.py uses 45xxx/44xxx
IDLE_MINUTES = 0.25
WORKER_TYPE = "cpu2"


def cluster_nodes(env: dict) -> list[dict]:
    """Every node the cluster has ever had (dead ones stay listed), from a separate client."""
    # log_to_driver=False: the autoscaler's event lines ("Removing 1 nodes ...") would otherwise
    # land on this client's stdout next to the JSON
    code = "import json, ray; ray.init(address='auto', logging_level='ERROR', log_to_driver=False); print('NODES=' + json.dumps(ray.nodes()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "RAY_ADDRESS": f"{node_ip()}:{PORTS.gcs}"}, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("NODES="))[len("NODES=") :])


def ray_status(env: dict) -> str:
    """`ray status -v` (nodes, usage, pending demand, placement groups): shown when an assertion fails."""
    out = subprocess.run([RAY, "status", "-v", "--address", f"{node_ip()}:{PORTS.gcs}"], env=env, capture_output=True, text=True, timeout=120)
    return out.stdout[-3000:] + out.stderr[-1000:]


def search_yaml(tmp_path: Path, cache_root: Path) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name="autoscale", storage_path=str(tmp_path / "results"))
    raw["data"].update(train_size=300, valid_size=30, test_size=30)
    raw["eval"]["max_samples"] = 30
    raw["train"]["epochs"] = 1
    # one worker that does not fit on the 1-CPU head: every trial needs an added node
    raw["resources"] = {"num_workers": 1, "cpus_per_worker": 1.2, "trial_cpus": 0.1}
    raw["search"].pop("max_concurrent_trials", None)  # raymt derives it from the autoscaler config
    raw["search"].update(
        num_samples=2,
        points_to_evaluate=[],
        scheduler={"kind": "none"},
        space={"method": ["lora"], "common": {"train.lr": {"log_uniform": [1e-3, 3e-3]}}},
    )
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / ".cache").symlink_to(cache_root, target_is_directory=True)
    path = tmp_path / "autoscale.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture()
def fake_cluster(tmp_path):
    temp_dir = f"/tmp/ra-{os.getpid()}"  # short: Ray's unix sockets live under it
    config = fake_cluster_config(
        head_cpus=1,
        gcs_port=PORTS.gcs,
        idle_timeout_minutes=IDLE_MINUTES,
        worker_types={WORKER_TYPE: {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0, "max_workers": 2}},
    )
    env = start_head(tmp_path / "home", temp_dir, PORTS, num_cpus=1, autoscaling=config)
    try:
        yield env
    finally:
        stop_head(temp_dir)


def test_search_adds_nodes_then_idle_nodes_go_away(tmp_path, fake_cluster, cache_root, tiny_base):
    env = fake_cluster
    assert [n["Resources"]["CPU"] for n in cluster_nodes(env)] == [1.0]  # the head alone: no trial fits
    config = search_yaml(tmp_path, cache_root)
    autoscaler_config = tmp_path / "home" / "autoscaling.yaml"  # the head's --autoscaling-config (ray_head.start_head)
    runtime_env = {"env_vars": {"RAYMT_AUTOSCALER_CONFIG": str(autoscaler_config), "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "300"}}
    out = subprocess.run(
        [
            RAY,
            "job",
            "submit",
            "--address",
            PORTS.dashboard_url,
            "--runtime-env-json",
            json.dumps(runtime_env),
            "--",
            sys.executable,
            "-m",
            "raymt.cli",
            "search",
            str(config),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "attached to the Ray cluster" in text
    assert f"autoscaler limits: head ray.head.default (1 CPU) + up to 2 x {WORKER_TYPE} (2 CPU)" in text
    # the head holds no trial, yet raymt runs both at once: the cluster can grow to 2 x 2-CPU nodes
    assert "up to 2 trial(s) at once: the largest cluster" in text and "2 worker slots / 1 per trial" in text, text[-4000:]

    trials = pd.read_parquet(tmp_path / "results" / "autoscale" / "trials.parquet")
    assert len(trials) == 2 and (trials["status"] == "completed").all(), trials[["trial_id", "status"]]
    assert trials["bleu"].notna().all()

    added = [n for n in cluster_nodes(env) if n["NodeID"] != FAKE_HEAD_NODE_ID]
    assert added, "the autoscaler added no node, yet the trials (which cannot fit on the head) ran"
    # both trials asked for their worker at once, so the autoscaler added a node for each
    assert len(added) == 2, f"{len(added)} node(s) added for 2 concurrent trials\n{ray_status(env)}"
    # idle nodes are removed after idle_timeout_minutes (plus the autoscaler's update interval)
    deadline = time.time() + IDLE_MINUTES * 60 + 90
    while time.time() < deadline:
        nodes = cluster_nodes(env)
        if not any(n["Alive"] for n in nodes if n["NodeID"] != FAKE_HEAD_NODE_ID):
            break
        time.sleep(5)
    alive = [n["NodeID"] for n in nodes if n["Alive"]]
    assert alive == [FAKE_HEAD_NODE_ID], f"idle worker nodes were not removed: {alive}\n{ray_status(env)}"
