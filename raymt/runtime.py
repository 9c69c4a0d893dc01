"""Starting or attaching to Ray, the way Ray users expect.

Under ``ray job submit`` (or with ``RAY_ADDRESS`` set) raymt attaches to that cluster and never
starts a second one. On a laptop it starts a local Ray whose dashboard listens on 127.0.0.1
only: the dashboard can submit jobs, so it must never face the network.
"""

from __future__ import annotations

import os


def init_ray(*, num_cpus: int | None = None, log=print) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        log(f"attached to the Ray cluster at {os.environ['RAY_ADDRESS']}")
        return
    ray.init(num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=True,
             configure_logging=True, logging_level="WARNING")
    log(f"started a local Ray with {int(ray.cluster_resources().get('CPU', 0))} CPUs (dashboard on 127.0.0.1 only)")


def cluster_capacity() -> dict:
    """The largest node's resources: a trial's workers must fit somewhere at once."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    best = {"CPU": 0.0, "GPU": 0.0}
    for n in nodes:
        res = n.get("Resources", {})
        best["CPU"] = max(best["CPU"], res.get("CPU", 0.0))
        best["GPU"] = max(best["GPU"], res.get("GPU", 0.0))
    best["total_CPU"] = float(ray.cluster_resources().get("CPU", 0.0))
    best["total_GPU"] = float(ray.cluster_resources().get("GPU", 0.0))
    return best
