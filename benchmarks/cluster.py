"""Cluster figures: job submit -> first trial, autoscaler time to add a node, trials/hour on 1 vs 2 nodes.

    python -m benchmarks.cluster [--samples 4] [--adds 3] [--skip-throughput]

Every cluster here is a separate Ray head started with `ray start --head` (its own temp dir,
ports, HOME and auth token; tests/cluster/ray_head.py), stopped afterwards without touching any
other Ray on the machine. Searches are submitted with `ray job submit`, as on a real cluster.

1. Job submit -> first trial: `raymt search` on the default space submitted to a 2-CPU head;
   from the submit command to the first Train worker's first line and to its first optimizer
   step, with the job's own split (data preparation, attaching to Ray).
2. Autoscaler time to add a node: Ray's fake multi-node provider (`RAY_FAKE_CLUSTER=1`,
   `provider.type: fake_multinode`) on a 1-CPU head; an actor asking for 2 CPUs cannot fit, the
   autoscaler adds a 2-CPU node. Timed: demand -> node registered alive -> actor running there.
   Repeated with the earlier actors kept alive, so every repetition needs a new node. Then the
   time for the idle nodes to go away (idle_timeout_minutes + the autoscaler's loop).
3. Trials per hour: the default space (`search_spaces/default.yaml`, its resources: 2 workers x
   0.95 CPU + 0.1) with `max_concurrent_trials` left to raymt (what the cluster holds: 1 trial
   on one 2-CPU node, 2 on two), on one node vs a head plus one fake worker node. Early stopping
   off, so every trial trains the same 3 epochs. Both "nodes" share this machine's cores: on a
   2-core machine the ratio shows Ray's overhead of spreading trials, not a speed-up.

Raw numbers: benchmarks/out/cluster/cluster.json and cluster.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "cluster"
sys.path.insert(0, str(ROOT))
from tests.cluster.ray_head import RAY, HeadPorts, fake_cluster_config, node_ip, start_head, stop_head  # noqa: E402

PORTS = HeadPorts(gcs=45379, dashboard=45265, min_worker=44000)  # the tests use 46xxx/47xxx/48xxx
WORKER_TYPE = {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0, "max_workers": 3}


class Head:
    """One head for the length of a `with` block."""

    def __init__(self, tag: str, *, num_cpus: float, autoscaling: dict | None = None):
        self.temp_dir = f"/tmp/rb-{os.getpid()}-{tag}"
        self.home = OUT / "home" / tag
        self.num_cpus, self.autoscaling = num_cpus, autoscaling

    def __enter__(self) -> dict:
        self.env = start_head(self.home, self.temp_dir, PORTS, num_cpus=self.num_cpus, autoscaling=self.autoscaling)
        return self.env

    def __exit__(self, *exc) -> None:
        stop_head(self.temp_dir)


def default_space(out: Path, name: str, samples: int, cache: Path) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw["name"], raw["storage_path"] = name, str(out)
    raw["search"].update(num_samples=samples, max_concurrent_trials=None, scheduler={"kind": "none"})
    out.mkdir(parents=True, exist_ok=True)
    if not (out / ".cache").exists():
        (out / ".cache").symlink_to(cache, target_is_directory=True)
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def submit_search(env: dict, space: Path, log: Path) -> float:
    """`ray job submit ... raymt search`; returns the submit command's wall time."""
    runtime_env = {"env_vars": {"RAYMT_AUTOSCALING": "1", "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "300"}}
    t0 = time.time()
    proc = subprocess.run(
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
            str(space),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"job failed (exit {proc.returncode}); log: {log}")
    return time.time() - t0


def trial_reports(results: Path) -> list[dict]:
    """Every per-epoch report of every trial (Tune's result.json files)."""
    rows = []
    for path in sorted((results / "tune").glob("*/result.json")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def throughput_run(tag: str, nodes: int, samples: int, cache: Path) -> dict:
    """One default-space search on `nodes` nodes of 2 CPUs each; submit -> first trial timings too."""
    out = OUT / tag
    space = default_space(out, tag, samples, cache)
    autoscaling = None
    if nodes > 1:  # a head plus fixed fake worker nodes, started by the autoscaler at launch
        autoscaling = fake_cluster_config(
            head_cpus=2,
            gcs_port=PORTS.gcs,
            idle_timeout_minutes=5,
            worker_types={"cpu2": {**WORKER_TYPE, "min_workers": nodes - 1, "max_workers": nodes - 1}},
        )
    with Head(tag, num_cpus=2, autoscaling=autoscaling) as env:
        wait_for_nodes(env, nodes, timeout=300)
        t_submit = time.time()
        wall = submit_search(env, space, out / f"{tag}.log")
    results = out / tag
    timings = json.loads((results / "timings.json").read_text())
    import pandas as pd

    trials = pd.read_parquet(results / "trials.parquet")
    reports = trial_reports(results)
    completed = int((trials["status"] == "completed").sum())
    first_worker = min(r["worker_started_unix"] for r in reports)
    # 1-second resolution: raymt's experiment marker is written once Ray is attached and the
    # trial is known to fit; Tune names its experiment state by the time fit() started
    created = time.mktime(time.strptime(json.loads((results / "raymt_experiment.json").read_text())["created"], "%Y-%m-%d %H:%M:%S"))
    state = min((results / "tune").glob("experiment_state-*.json")).stem.removeprefix("experiment_state-")
    fit_start = time.mktime(time.strptime(state, "%Y-%m-%d_%H-%M-%S"))
    return {
        "nodes": nodes,
        "trials": len(trials),
        "completed": completed,
        "job_wall_s": wall,
        "tune_fit_s": timings["tune_fit_s"],
        "prepare_s": timings["prepare_s"],
        "ray_init_s": timings["ray_init_s"],
        "trials_per_hour": completed / timings["tune_fit_s"] * 3600,
        "submit_to_first_worker_s": first_worker - t_submit,
        "submit_to_search_ready_s": created - t_submit,
        "search_ready_to_fit_s": fit_start - created,
        "fit_to_first_worker_s": first_worker - fit_start,
        "submit_to_first_step_s": min(r["first_step_unix"] for r in reports) - t_submit,
    }


def cluster_nodes(env: dict) -> list[dict]:
    code = "import json, ray; ray.init(address='auto', logging_level='ERROR'); print(json.dumps(ray.nodes()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "RAY_ADDRESS": f"{node_ip()}:{PORTS.gcs}"}, capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_for_nodes(env: dict, count: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while sum(n["Alive"] for n in cluster_nodes(env)) < count:
        if time.time() > deadline:
            raise SystemExit(f"the cluster never reached {count} nodes")
        time.sleep(2)


ADD_NODE_PROBE = r"""
import json, sys, time
import ray
from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID

ray.init(address="auto", logging_level="ERROR")
adds, held = [], []


@ray.remote(num_cpus=2)
class Holder:  # fits no node yet: the autoscaler must add one for it
    def node(self):
        return ray.get_runtime_context().get_node_id()


for _ in range(int(sys.argv[1])):
    before = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    t0 = time.time()
    holder = Holder.remote()
    ready = holder.node.remote()
    t_node = None
    while True:
        if t_node is None and {n["NodeID"] for n in ray.nodes() if n["Alive"]} - before:
            t_node = time.time()
        done, _ = ray.wait([ready], timeout=0.2)
        if done:
            break
    node = ray.get(ready)
    t_ready = time.time()
    adds.append({"node_alive_s": (t_node or t_ready) - t0, "actor_running_s": t_ready - t0, "new_node": node not in before})
    held.append(holder)
for holder in held:
    ray.kill(holder)
t0 = time.time()
while any(n["Alive"] for n in ray.nodes() if n["NodeID"] != FAKE_HEAD_NODE_ID):
    time.sleep(1)
print("RESULT", json.dumps({"adds": adds, "idle_removal_s": time.time() - t0}))
"""


def autoscaler_run(adds: int, idle_minutes: float = 0.1) -> dict:
    config = fake_cluster_config(
        head_cpus=1, gcs_port=PORTS.gcs, idle_timeout_minutes=idle_minutes, worker_types={"cpu2": {**WORKER_TYPE, "max_workers": adds}}
    )
    with Head("autoscale", num_cpus=1, autoscaling=config) as env:
        out = subprocess.run(
            [sys.executable, "-c", ADD_NODE_PROBE, str(adds)],
            env={**env, "RAY_ADDRESS": f"{node_ip()}:{PORTS.gcs}"},
            capture_output=True,
            text=True,
            timeout=900,
        )
    (OUT / "autoscaler.log").write_text(out.stdout + out.stderr)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]  # Ray prints autoscaler events too
    if out.returncode != 0 or not lines:
        raise SystemExit(f"autoscaler probe failed; log: {OUT / 'autoscaler.log'}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["idle_timeout_s"] = idle_minutes * 60
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4, help="trials per search in the throughput runs")
    parser.add_argument("--adds", type=int, default=3, help="nodes the autoscaler adds, one after another")
    parser.add_argument(
        "--cache", default=str(ROOT / "raymt_results" / ".cache"), help="shared data cache (tiny base, tokenised corpus); built on first use"
    )
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)

    raw: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    raw["autoscaler"] = autoscaler_run(args.adds)
    if not args.skip_throughput:
        raw["one_node"] = throughput_run("one-node", 1, args.samples, cache)
        raw["two_nodes"] = throughput_run("two-nodes", 2, args.samples, cache)
    raw["load_avg_at_end"] = os.getloadavg()
    (OUT / "cluster.json").write_text(json.dumps(raw, indent=1))

    rows = []
    adds = raw["autoscaler"]["adds"]
    med = lambda key: statistics.median(a[key] for a in adds)  # noqa: E731
    rows += [
        (
            f"autoscaler: demand -> new node alive (median of {len(adds)})",
            f"{med('node_alive_s'):.1f} s",
            ", ".join(f"{a['node_alive_s']:.1f}" for a in adds),
        ),
        (
            "autoscaler: demand -> actor running on the new node",
            f"{med('actor_running_s'):.1f} s",
            ", ".join(f"{a['actor_running_s']:.1f}" for a in adds),
        ),
        (
            "autoscaler: idle nodes gone after the last use",
            f"{raw['autoscaler']['idle_removal_s']:.1f} s",
            f"idle_timeout {raw['autoscaler']['idle_timeout_s']:.0f} s",
        ),
    ]
    if not args.skip_throughput:
        one, two = raw["one_node"], raw["two_nodes"]
        rows += [
            (
                "job submit -> first trial's worker running (1 node)",
                f"{one['submit_to_first_worker_s']:.1f} s",
                f"prepare {one['prepare_s']:.1f} s, attach {one['ray_init_s']:.1f} s",
            ),
            ("  submit -> search ready (job start, imports, prepare, attach)", f"{one['submit_to_search_ready_s']:.0f} s", "+-1 s"),
            ("  search ready -> Tune fit() (sampler, storage estimates)", f"{one['search_ready_to_fit_s']:.0f} s", "+-1 s"),
            ("  fit() -> first Train worker running", f"{one['fit_to_first_worker_s']:.0f} s", "+-1 s"),
            ("job submit -> first optimizer step (1 node)", f"{one['submit_to_first_step_s']:.1f} s", ""),
            (
                "trials/hour, 1 node (1 trial at a time)",
                f"{one['trials_per_hour']:.1f}",
                f"{one['completed']}/{one['trials']} trials in {one['tune_fit_s']:.0f} s",
            ),
            (
                "trials/hour, 2 nodes (2 at a time)",
                f"{two['trials_per_hour']:.1f}",
                f"{two['completed']}/{two['trials']} trials in {two['tune_fit_s']:.0f} s",
            ),
            ("ratio 2 nodes / 1 node", f"{two['trials_per_hour'] / one['trials_per_hour']:.2f}", "same 2 physical cores"),
        ]
    with open(OUT / "cluster.csv", "w", newline="") as f:
        csv.writer(f).writerows([("figure", "value", "detail"), *rows])
    width = max(len(r[0]) for r in rows)
    print(f"\nload average at start {raw['load_avg_at_start'][0]:.1f}, at end {raw['load_avg_at_end'][0]:.1f} ({os.cpu_count()} CPUs)")
    print(f"{'figure':<{width}}  {'value':>9}  detail")
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:>9}  {detail}")


if __name__ == "__main__":
    main()
