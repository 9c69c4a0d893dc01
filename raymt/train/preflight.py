"""How a trial's resource request meets the cluster: refuse what can never run, size concurrency.

A Train run whose workers can never fit at once waits forever (Ray retries the worker-group
start without limit): refuse it up front with a message naming the field. What "never" means
depends on what raymt knows about the cluster:

- the autoscaler's cluster config is known (:mod:`raymt.cluster_limits`): check the trial
  against the largest cluster that config allows, before any data or Ray work;
- ``RAYMT_AUTOSCALING=1`` without a config: the cluster may grow by an unknown amount, so
  nothing is refused;
- otherwise a fixed cluster: check against the nodes it has now.
"""

from __future__ import annotations

import math
import os

from raymt.errors import ResourceError

_FIND = object()


def check_trial_fits(cfg, *, capacity: dict | None = None, autoscaling: bool | None = None, limits=_FIND) -> None:
    """Raise ResourceError if a trial of ``cfg`` can never run. ``limits``: a ClusterLimits,
    None (no autoscaler config), or left out to look one up. With limits no Ray call is made,
    so the check can run before Ray starts."""
    if limits is _FIND:
        from raymt.cluster_limits import find_cluster_limits

        limits = find_cluster_limits()
    if limits is not None:
        check_against_limits(cfg, limits)
        return
    if autoscaling is None:
        autoscaling = bool(os.environ.get("RAYMT_AUTOSCALING"))
    if autoscaling:
        return
    from raymt.runtime import cluster_capacity

    cap = capacity or cluster_capacity()
    res = cfg.resources
    need_cpu = res.num_workers * res.cpus_per_worker + res.trial_cpus
    if need_cpu > cap["total_CPU"] + 1e-9:
        raise ResourceError(
            f"a trial needs {need_cpu:g} CPUs ({res.num_workers} workers x {res.cpus_per_worker:g} + {res.trial_cpus:g} for its driver) "
            f"but the cluster has {cap['total_CPU']:g}",
            where="resources",
            fix="lower resources.num_workers or resources.cpus_per_worker, or add nodes (on an autoscaling cluster set "
            "RAYMT_AUTOSCALER_CONFIG to its cluster config, or RAYMT_AUTOSCALING=1)",
        )
    if res.use_gpu:
        need_gpu = res.num_workers * res.gpus_per_worker
        if need_gpu > cap["total_GPU"] + 1e-9:
            raise ResourceError(
                f"a trial needs {need_gpu:g} GPUs but the cluster has {cap['total_GPU']:g}",
                where="resources.use_gpu",
                fix="set resources.use_gpu: false, lower resources.num_workers, or run on a GPU cluster",
            )
        if res.gpus_per_worker > max(cap["GPU"], 0) + 1e-9 and res.gpus_per_worker > 1:
            raise ResourceError(
                f"one worker asks for {res.gpus_per_worker:g} GPUs but the largest node has {cap['GPU']:g}",
                where="resources.gpus_per_worker",
                fix="use at most the GPUs of one node per worker",
            )
    if res.cpus_per_worker > cap["CPU"] + 1e-9:
        raise ResourceError(
            f"one worker asks for {res.cpus_per_worker:g} CPUs but the largest node has {cap['CPU']:g}",
            where="resources.cpus_per_worker",
            fix="use at most the CPUs of one node per worker",
        )


def _worker_shape(res) -> tuple[float, float]:
    return res.cpus_per_worker, (res.gpus_per_worker if res.use_gpu else 0.0)


def check_against_limits(cfg, limits) -> None:
    """The trial against the autoscaler config: one worker must fit some node type Ray may start,
    and all its workers (plus its driver's CPU) the largest cluster the config allows."""
    res = cfg.resources
    cpu, gpu = _worker_shape(res)
    runnable = [t for t in limits.node_types if limits.can_ever_run(t)]
    types = ", ".join(t.describe() + ("" if t is limits.head else f" x {t.max_workers}") for t in runnable)
    if not any(t.slots(cpu, gpu) >= 1 for t in runnable):
        most_cpu = max(t.cpu for t in runnable)
        if cpu > most_cpu + 1e-9:
            raise ResourceError(
                f"one worker asks for {cpu:g} CPUs but no node type the autoscaler can start has that many: {types} (from {limits.source})",
                where="resources.cpus_per_worker",
                fix=f"lower resources.cpus_per_worker to at most {most_cpu:g}, or add a node type with at least {cpu:g} CPUs "
                f"to available_node_types in {limits.source}",
            )
        where = "resources.gpus_per_worker" if gpu else "resources.cpus_per_worker"
        raise ResourceError(
            f"one worker asks for {cpu:g} CPUs and {gpu:g} GPUs but no node type the autoscaler can start holds both: {types} (from {limits.source})",
            where=where,
            fix=f"lower resources.cpus_per_worker/gpus_per_worker (or set resources.use_gpu: false), or add such a node type "
            f"to available_node_types in {limits.source}",
        )
    largest = limits.largest_cluster(cpu, gpu)
    if largest.worker_slots < res.num_workers:
        raise ResourceError(
            f"a trial's {res.num_workers} workers must all run at once, but the largest cluster {limits.source} allows "
            f"({largest.describe()}) holds {largest.worker_slots} such workers",
            where="resources.num_workers",
            fix=f"lower resources.num_workers to at most {largest.worker_slots}, or raise max_workers in {limits.source}",
        )
    need_cpu = res.num_workers * res.cpus_per_worker + res.trial_cpus
    if need_cpu > largest.cpu + 1e-9:
        raise ResourceError(
            f"a trial needs {need_cpu:g} CPUs ({res.num_workers} workers x {res.cpus_per_worker:g} + {res.trial_cpus:g} for "
            f"its driver) but the largest cluster {limits.source} allows has {largest.cpu:g}",
            where="resources",
            fix=f"lower resources.num_workers, resources.cpus_per_worker or resources.trial_cpus, or raise max_workers in {limits.source}",
        )


def trial_concurrency(cfg, requested: int | None, *, limits, autoscaling: bool | None = None, capacity: dict | None = None) -> tuple[int, str]:
    """How many trials run at once, and the rule that said so (raymt logs it).

    ``search.max_concurrent_trials`` wins. Else, with the autoscaler config known, the trials
    that fit the largest cluster it allows: pending trials are the demand the autoscaler sees,
    so sizing to the cluster *now* would keep it from ever growing. A trial's workers must fit
    node by node, by CPUs and GPUs both (a 1.2-CPU worker uses one slot of a 2-CPU node, not
    1.67; a 1-GPU worker one slot of a 1-GPU node however many CPUs it has), and the trials'
    total CPUs, drivers included, must fit the whole; the tighter of the two binds. (A GPU
    total adds nothing: node-by-node slots never exceed it.)
    Without a config: the CPUs the cluster has now (the rule before autoscaler limits)."""
    if requested:
        return requested, "search.max_concurrent_trials"
    res = cfg.resources
    per_trial_cpu = res.num_workers * res.cpus_per_worker + res.trial_cpus
    if limits is not None:
        cpu, gpu = _worker_shape(res)
        largest = limits.largest_cluster(cpu, gpu)
        bounds = {
            f"{largest.worker_slots} worker slots / {res.num_workers} per trial": largest.worker_slots // res.num_workers,
            f"{largest.cpu:g} CPUs / {per_trial_cpu:g} per trial": math.floor(largest.cpu / per_trial_cpu + 1e-9),
        }
        binding = min(bounds, key=bounds.get)
        return max(1, bounds[binding]), (
            f"the largest cluster {limits.source} allows ({largest.describe()}): {binding} "
            f"(bounds: {'; '.join(f'{k} = {v}' for k, v in bounds.items())})"
        )
    from raymt.runtime import cluster_capacity

    cap = capacity or cluster_capacity()
    n = max(1, int(cap["total_CPU"] // per_trial_cpu))
    if autoscaling is None:
        autoscaling = bool(os.environ.get("RAYMT_AUTOSCALING"))
    why = f"the cluster's {cap['total_CPU']:g} CPUs now / {per_trial_cpu:g} per trial"
    if autoscaling:
        why += (
            " (autoscaling, limits unknown: the cluster may grow but raymt cannot tell how far; set "
            "RAYMT_AUTOSCALER_CONFIG or search.max_concurrent_trials)"
        )
    return n, why
