"""A separate Ray head for tests and benchmarks (as on a cluster), started and stopped safely.

Another Ray may be running on the same machine (other users, other tests), so a head started
here gets its own temp dir, its own ports, its own HOME (its auth token is not the user's) and a
marker in its environment. Stopping it kills only processes that carry the marker or name its
temp dir: `ray stop` would kill every Ray on the machine. Every process a fake autoscaler adds
(Ray's `fake_multinode` provider starts worker nodes from the head's monitor process) inherits
the marker, so the added nodes are stopped too.

Imported by tests/cluster/*.py and by benchmarks/cluster.py (`from tests.cluster.ray_head import`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
MARKER = "RAYMT_TEST_HEAD"


@dataclass(frozen=True)
class HeadPorts:
    """Every port a head opens, outside Ray's defaults and its worker-port range (10002-19999)."""

    gcs: int
    dashboard: int
    min_worker: int

    def args(self) -> list[str]:
        return [
            "--port",
            str(self.gcs),
            "--node-manager-port",
            str(self.gcs + 1),
            "--object-manager-port",
            str(self.gcs + 2),
            "--ray-client-server-port",
            str(self.gcs + 3),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(self.dashboard),
            "--dashboard-agent-listen-port",
            str(self.dashboard + 1),
            "--dashboard-agent-grpc-port",
            str(self.dashboard + 2),
            "--runtime-env-agent-port",
            str(self.dashboard + 3),
            "--metrics-export-port",
            str(self.dashboard + 4),
            "--min-worker-port",
            str(self.min_worker),
            "--max-worker-port",
            str(self.min_worker + 200),
        ]

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"


def node_ip() -> str:
    """The address Ray's fake provider gives the nodes it adds (Ray's own choice, not 127.0.0.1)."""
    from ray._private.services import get_node_ip_address

    return get_node_ip_address()


def fake_cluster_config(*, head_cpus: float, worker_types: dict, gcs_port: int, idle_timeout_minutes: float, upscaling_speed: float = 1.0) -> dict:
    """An autoscaler config for Ray's `fake_multinode` provider (after Ray's fake_multi_node/example.yaml,
    which the 2.60 wheel does not ship). `gcs_address` is needed because the provider otherwise
    connects added nodes to port 6379."""
    return {
        "cluster_name": "raymt-fake",
        "max_workers": sum(t.get("max_workers", 0) for t in worker_types.values()),
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": f"{node_ip()}:{gcs_port}",
        },
        "available_node_types": {"ray.head.default": {"resources": {"CPU": head_cpus}, "node_config": {}, "max_workers": 0}, **worker_types},
        "head_node_type": "ray.head.default",
        "auth": {},
        "upscaling_speed": upscaling_speed,
        "idle_timeout_minutes": idle_timeout_minutes,
        "docker": {},
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
    }


def start_head(home: Path, temp_dir: str, ports: HeadPorts, *, num_cpus: float, autoscaling: dict | None = None) -> dict:
    """Start the head; return the environment a client of this cluster uses (token auth on).

    ``temp_dir`` must be short: Ray's unix sockets live under it. ``autoscaling``: a config from
    :func:`fake_cluster_config` (the head then runs Ray's fake autoscaler)."""
    Path(home).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), MARKER: temp_dir}
    env.pop("RAY_ADDRESS", None)
    cmd = [RAY, "start", "--head", "--num-cpus", f"{num_cpus:g}", "--temp-dir", temp_dir, *ports.args()]
    if autoscaling is not None:
        path = Path(home) / "autoscaling.yaml"
        path.write_text(json.dumps(autoscaling))
        cmd.append(f"--autoscaling-config={path}")
        env.update({"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"})
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        stop_head(temp_dir)
        raise RuntimeError(f"ray start failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    env.pop("RAY_FAKE_CLUSTER", None)  # clients are not autoscalers
    return env


def _ours(proc: psutil.Process, temp_dir: str) -> bool:
    try:
        if temp_dir in " ".join(proc.cmdline() or []):
            return True
        return proc.environ().get(MARKER) == temp_dir
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def stop_head(temp_dir: str) -> None:
    """Kill this head's processes (and the nodes its fake autoscaler added), nothing else."""
    for _ in range(3):  # a dying raylet may still be starting workers: sweep until none is left
        victims = [p for p in psutil.process_iter() if p.pid != os.getpid() and _ours(p, temp_dir)]
        # the raylet's agents (dashboard, runtime env) rename themselves and drop the marker from
        # their environment: found as children, they would otherwise outlive the head holding its
        # fixed ports, and the next head on those ports hangs its jobs (seen in a full run)
        for proc in list(victims):
            try:
                victims += [c for c in proc.children(recursive=True) if c.pid != os.getpid() and c not in victims]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        if not victims:
            break
        for proc in victims:
            try:
                proc.send_signal(signal.SIGKILL)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        psutil.wait_procs(victims, timeout=10)
        time.sleep(0.5)
    shutil.rmtree(temp_dir, ignore_errors=True)  # its session logs: several MB per run
