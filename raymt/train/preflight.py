"""Checks that must pass before a trial is allowed to ask Ray for resources.

A Train run whose workers can never fit at once waits forever (Ray retries the worker-group
start without limit): refuse it up front with a message naming the field, unless the cluster
has an autoscaler that may add bigger nodes.
"""

from __future__ import annotations

import os

from raymt.errors import ResourceError


def check_trial_fits(cfg, *, capacity: dict | None = None, autoscaling: bool | None = None) -> None:
    from raymt.runtime import cluster_capacity

    cap = capacity or cluster_capacity()
    if autoscaling is None:
        autoscaling = bool(os.environ.get("RAYMT_AUTOSCALING"))
    if autoscaling:
        return
    res = cfg.resources
    need_cpu = res.num_workers * res.cpus_per_worker + res.trial_cpus
    if need_cpu > cap["total_CPU"] + 1e-9:
        raise ResourceError(
            f"a trial needs {need_cpu:g} CPUs ({res.num_workers} workers x {res.cpus_per_worker:g} + {res.trial_cpus:g} for its driver) "
            f"but the cluster has {cap['total_CPU']:g}", where="resources",
            fix="lower resources.num_workers or resources.cpus_per_worker, or add nodes (set RAYMT_AUTOSCALING=1 on an autoscaling cluster)")
    if res.use_gpu:
        need_gpu = res.num_workers * res.gpus_per_worker
        if need_gpu > cap["total_GPU"] + 1e-9:
            raise ResourceError(f"a trial needs {need_gpu:g} GPUs but the cluster has {cap['total_GPU']:g}", where="resources.use_gpu",
                                fix="set resources.use_gpu: false, lower resources.num_workers, or run on a GPU cluster")
        if res.gpus_per_worker > max(cap["GPU"], 0) + 1e-9 and res.gpus_per_worker > 1:
            raise ResourceError(f"one worker asks for {res.gpus_per_worker:g} GPUs but the largest node has {cap['GPU']:g}",
                                where="resources.gpus_per_worker", fix="use at most the GPUs of one node per worker")
    if res.cpus_per_worker > cap["CPU"] + 1e-9:
        raise ResourceError(f"one worker asks for {res.cpus_per_worker:g} CPUs but the largest node has {cap['CPU']:g}",
                            where="resources.cpus_per_worker", fix="use at most the CPUs of one node per worker")
