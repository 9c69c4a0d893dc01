"""`ray job submit` to a Ray head started separately (as on a cluster): raymt's driver attaches
through RAY_ADDRESS instead of starting its own Ray, with Ray 2.60's token authentication on,
and tells the cluster's workers where the cluster is. (tests/cluster/test_autoscaling.py runs a
whole `raymt search` as such a job.)

Ray Train frees a finished trial's placement group from a cleaner actor that asks the State API
about the trial's controller. A head started with `ray start` gives its workers no RAY_ADDRESS,
so that lookup scans the machine for GCS processes and, with a second Ray running there, raised
"Found multiple active Ray instances": the placement groups were never freed and later trials
waited for resources until they timed out. raymt passes the GCS address in the job's runtime env;
the job's own runtime env (env_vars, working_dir) must survive the merge.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from ray_head import RAY, HeadPorts, node_ip, start_head, stop_head

pytestmark = pytest.mark.slow
PORTS = HeadPorts(gcs=45379, dashboard=45265, min_worker=44000)  # test_autoscaling: 47xxx

DRIVER = """
import json, os
import ray
from raymt.runtime import init_ray

init_ray(log=print)

@ray.remote(num_cpus=0)
class Marker:
    def ping(self):
        return True

marker = Marker.options(name="raymt-attach-marker").remote()
ray.get(marker.ping.remote())

@ray.remote(num_cpus=0)
def view():
    from ray.util.state import list_actors  # what Ray Train's placement-group cleaner uses
    return {"actors": [a.name for a in list_actors()], "job_var": os.environ.get("RAYMT_JOB_VAR"),
            "working_dir_file": open("payload.txt").read().strip(), "address": os.environ.get("RAY_ADDRESS")}

print("VIEW=" + json.dumps(ray.get(view.remote())))
"""


@pytest.fixture()
def head_next_to_another_ray(tmp_path):
    other = subprocess.Popen(
        [sys.executable, "-c", "import time, ray; ray.init(num_cpus=1, include_dashboard=False); print('up', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    temp_dir = f"/tmp/rt-{os.getpid()}"  # short: Ray's unix sockets live under it
    try:
        assert other.stdout.readline().strip() == "up"
        env = start_head(tmp_path / "home", temp_dir, PORTS, num_cpus=1)
        try:
            yield env
        finally:
            stop_head(temp_dir)
    finally:
        os.killpg(other.pid, signal.SIGTERM)
        other.wait(timeout=60)


def test_workers_of_an_attached_job_find_their_own_cluster(tmp_path, head_next_to_another_ray):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "driver.py").write_text(textwrap.dedent(DRIVER))
    (job_dir / "payload.txt").write_text("from the working_dir\n")
    runtime_env = {"env_vars": {"RAYMT_JOB_VAR": "kept"}}
    out = subprocess.run(
        [
            RAY,
            "job",
            "submit",
            "--address",
            PORTS.dashboard_url,
            "--working-dir",
            str(job_dir),
            "--runtime-env-json",
            json.dumps(runtime_env),
            "--",
            sys.executable,
            "driver.py",
        ],
        env=head_next_to_another_ray,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]  # "Found multiple active Ray instances" failed the job before
    assert "attached to the Ray cluster" in text  # no second Ray was started
    assert "succeeded" in text.lower()
    view = json.loads(next(line for line in text.splitlines() if line.startswith("VIEW="))[len("VIEW=") :])
    assert "raymt-attach-marker" in view["actors"]  # the State API saw this cluster, not the other Ray
    assert view["address"] == f"{node_ip()}:{PORTS.gcs}"
    assert view["job_var"] == "kept"  # the job's env_vars were merged, not replaced
    assert view["working_dir_file"] == "from the working_dir"  # ... and its working_dir kept
    # authentication stays on: a client without the cluster's token is refused
    stranger = {**head_next_to_another_ray, "RAY_AUTH_TOKEN": "0" * 64}
    denied = subprocess.run([RAY, "job", "list", "--address", PORTS.dashboard_url], env=stranger, capture_output=True, text=True, timeout=120)
    assert denied.returncode != 0
