"""The Python API behind the CLI: what a notebook calls.

    from raymt import api
    metrics = api.train("my.yaml")          # one trial
    results_dir = api.search("search_spaces/default.yaml")
    print(api.plan("search_spaces/mbart50_de_en.yaml", gpu_memory="80GB").to_frame())

(``raymt.train`` and ``raymt.search`` are the subpackages that do the work, hence ``api``.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from raymt.config.load import load_config


def train(config: str | Path | None = None, *, overrides: dict[str, Any] | None = None, log=print) -> dict:
    """Run ONE trial as a Ray Train job and return its metrics (no argument: offline default)."""
    from raymt.cluster_limits import find_cluster_limits
    from raymt.runtime import init_ray
    from raymt.train.prepare import prepare_experiment
    from raymt.train.preflight import check_trial_fits
    from raymt.train.trial import run_trial

    t_start = time.perf_counter()
    cfg = load_config(config, overrides)
    from raymt.plan.build import check_before_launch

    check_before_launch(config, (cfg, None, None, None), log=log)  # memory plan; refuses a trial that cannot fit
    limits = find_cluster_limits(log=log)  # an autoscaler config: the trial is checked before any data or Ray work
    if limits is not None:
        check_trial_fits(cfg, limits=limits)
    prepared = prepare_experiment(cfg, log=log)
    t_ray = time.perf_counter()
    init_ray(log=log)
    if limits is None:
        check_trial_fits(cfg, limits=None)
    ray_s = time.perf_counter() - t_ray
    name = f"train-{time.strftime('%Y%m%d-%H%M%S')}"
    metrics, checkpoint = run_trial(cfg, prepared, name=name)
    metrics["checkpoint"] = checkpoint
    metrics["timings"] = {**prepared.timings, "ray_init_s": ray_s, "total_s": time.perf_counter() - t_start}
    return metrics


def search(
    config: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    warm_start: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    log=print,
    verbose: bool | None = None,
) -> Path:
    """Run (or ``resume``) a search and return its results folder (no argument: offline default).

    ``warm_start``: results folder of an earlier search whose trials seed the sampler.
    ``log`` gets raymt's lines (one per trial start, epoch and end); ``verbose`` (default:
    ``RAYMT_VERBOSE``) also shows Ray Tune's status tables and Ray Train's INFO logs.
    Ctrl-C (KeyboardInterrupt) ends the search with its results written so far and raises
    :class:`raymt.errors.SearchInterrupted` (a KeyboardInterrupt naming the folder to resume).
    """
    from raymt.search.run import run_search

    return run_search(config, resume=resume, warm_start=warm_start, overrides=overrides, log=log, verbose=verbose)


def plan(
    config: str | Path | None = None,
    *,
    gpu_memory: str | int | None = None,
    gpus_per_node: int | None = None,
    overrides: dict[str, Any] | None = None,
):
    """The memory / checkpoint / storage plan of a search space or trial config, before any Ray
    work (:class:`raymt.plan.build.Plan`; ``.to_frame()`` for a table). ``gpu_memory``: one
    GPU's memory (``"80GB"``), to check that every branch fits (docs/plan.md)."""
    from raymt.plan.build import plan_for

    if gpu_memory is not None:
        from raymt.errors import ConfigError
        from raymt.plan.units import parse_memory

        try:
            parse_memory(gpu_memory)
        except ValueError as err:
            raise ConfigError(str(err), where="--gpu-memory", fix="write the memory of one GPU, e.g. 80GB or 24GiB") from None
    return plan_for(config, overrides=overrides, gpu_memory=gpu_memory, gpus_per_node=gpus_per_node)
