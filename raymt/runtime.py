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
    address = _start_local_ray(num_cpus)
    log(f"started a local Ray at {address} with {int(ray.cluster_resources().get('CPU', 0))} CPUs "
        "(dashboard on 127.0.0.1 only)")


def _start_local_ray(num_cpus: int | None) -> str:
    """Start a local Ray whose own processes know its address.

    Why: Ray Train frees a finished trial's placement group from a cleaner actor that asks the
    State API whether the trial's controller is still alive. Inside a locally started cluster that
    API finds "its" cluster by RAY_ADDRESS, else by ``ray start``'s /tmp/ray/ray_current_cluster,
    else by scanning for GCS processes — so on a machine where another Ray runs (a ``ray start``
    head, a second raymt search, a notebook's ray.init) it raised "Found multiple active Ray
    instances", the placement groups were never freed, and every later trial of the search
    waited for resources until WorkerGroupStartupTimeoutError (seen here). So raymt picks the GCS
    port itself and starts Ray with RAY_ADDRESS already pointing at it: the raylet, and every
    worker it spawns, inherit it. ``address="local"`` makes ray.init start a cluster even though
    RAY_ADDRESS is set; the driver's own environment is restored afterwards, so a later
    ``init_ray`` in this process starts (or attaches) afresh.
    """
    import socket

    import ray

    with socket.socket() as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    address = f"{ray.util.get_node_ip_address()}:{port}"
    saved = {k: os.environ.get(k) for k in ("RAY_ADDRESS", "RAY_GCS_SERVER_PORT")}
    os.environ.update(RAY_ADDRESS=address, RAY_GCS_SERVER_PORT=str(port))
    try:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1",
                 log_to_driver=True, configure_logging=True, logging_level="WARNING")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return ray.get_runtime_context().gcs_address


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
