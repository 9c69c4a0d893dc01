"""Starting or attaching to Ray, the way Ray users expect.

Under ``ray job submit`` (or with ``RAY_ADDRESS`` set) raymt attaches to that cluster and never
starts a second one; the cluster's workers are told its GCS address (:func:`attach_runtime_env`). On a laptop it starts a local Ray whose dashboard listens on 127.0.0.1
only: the dashboard can submit jobs, so it must never face the network.
"""

from __future__ import annotations

import contextlib
import json
import os

#: ``RAYMT_VERBOSE=1``: Ray's own output during a search (Tune's status tables, Ray Train's INFO
#: logs), as ``raymt search --verbose``; by default raymt prints its own lines
#: (:mod:`raymt.search.trial_lines`).
VERBOSE_ENV = "RAYMT_VERBOSE"
#: Ray Tune's switch between its new output engine and the old one (:func:`tune_output`).
AIR_NEW_OUTPUT_ENV = "RAY_AIR_NEW_OUTPUT"


def is_verbose(flag: bool | None = None) -> bool:
    """``flag`` when given (``--verbose``), else whether ``RAYMT_VERBOSE`` is set to a true value."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def train_log_level(verbose: bool) -> str:
    """Ray Train's ``ray.train`` log level (controller and workers: ``ray.train.LoggingConfig``):
    its INFO lines are the worker group's life cycle, printed for every trial, and its WARNINGs
    on a busy machine are transient tracebacks Ray itself calls "safe to ignore" (the controller's
    resource request to the autoscaling coordinator timing out after 5 s). raymt reports every
    trial's end, and a failure with its reason, itself (:mod:`raymt.search.trial_lines`); ERROR
    keeps what ends a run, ``--verbose`` shows everything."""
    return "INFO" if verbose else "ERROR"


@contextlib.contextmanager
def tune_output(verbose: bool):
    """Tune's console output for one ``Tuner.fit``. Ray 2.60's new output engine prints its
    "Configuration for experiment" box even at ``verbose=0``; the old engine at ``verbose=0``
    prints nothing, and raymt's own trial lines say what happens. A user's own
    ``RAY_AIR_NEW_OUTPUT`` is left as set."""
    if verbose or AIR_NEW_OUTPUT_ENV in os.environ:
        yield
        return
    os.environ[AIR_NEW_OUTPUT_ENV] = "0"
    try:
        yield
    finally:
        os.environ.pop(AIR_NEW_OUTPUT_ENV, None)


def quiet_train_reports(log_level: str) -> None:
    """Give Ray Train's per-report line the trial's Train log level, on a worker.

    Ray Train 2.60 logs "Reporting training result N: TrainingReport(...)" at INFO for every
    report of every worker, on a logger named after its file rather than under ``ray.train``,
    so ``LoggingConfig(log_level=...)`` never reaches it (tests/test_runtime.py checks the name).
    """
    import logging

    try:
        from ray.train.v2._internal.execution import context
    except ImportError:  # another Ray layout: nothing to quiet
        return
    logging.getLogger(context.__file__).setLevel(log_level)


def init_ray(*, num_cpus: int | None = None, log=print) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]
        runtime_env = attach_runtime_env(address, os.environ)
        ray.init(address=address, log_to_driver=True, **({"runtime_env": runtime_env} if runtime_env else {}))
        log(f"attached to the Ray cluster at {address}")
        return
    address = _start_local_ray(num_cpus)
    log(f"started a local Ray at {address} with {int(ray.cluster_resources().get('CPU', 0))} CPUs (dashboard on 127.0.0.1 only)")


def attach_runtime_env(address: str, environ) -> dict | None:
    """The runtime env that tells the attached cluster's workers its GCS address, or None.

    Why: a head started with ``ray start`` (``ray up`` does so too) gives its raylet, and so
    every worker, no RAY_ADDRESS; Ray Train's placement-group cleaner then finds "its" cluster
    through /tmp/ray/ray_current_cluster or a scan for GCS processes, which on a machine with a
    second Ray raised "Found multiple active Ray instances" (see :func:`_start_local_ray`).
    The driver's ``ray.init(runtime_env=...)`` becomes the job's runtime env; under ``ray job
    submit`` Ray 2.60 merges it with the submitted one (``ray._private.worker.init`` ->
    ``_merge_runtime_env``): other fields (working_dir, pip, ...) are kept as submitted and
    env_vars are merged key by key, failing only when both set the same key. So:

    - ``address`` must be the GCS ``host:port`` every node can reach, as ``ray job submit``
      gives its driver. ``auto``, ``ray://`` (Ray Client) or ``http://`` addresses and loopback
      hosts (wrong on every other node) are left alone: None.
    - if the submitted runtime env already sets RAY_ADDRESS, the job's value stands: None.
    """
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit() or host in ("", "localhost") or host.startswith("127."):
        return None
    job_config = environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if job_config:
        job_env_vars = (json.loads(job_config).get("runtime_env") or {}).get("env_vars") or {}
        if "RAY_ADDRESS" in job_env_vars:
            return None
    return {"env_vars": {"RAY_ADDRESS": address}}


#: How often Ray Train's controller polls its workers (``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``,
#: ray/train/v2/_internal/constants.py; Ray's default 2 s): it notices a started worker group,
#: each report and the run's end only when it polls, so at 2 s every trial waited up to 2 s at
#: each of those points. A poll is one small remote call per worker; one that takes longer is
#: only waited for again (Ray marks a worker dead after its own 10-minute timeout). 0.5 s is what
#: the per-trial fixed cost was measured with (BENCHMARKS.md, "Per-trial fixed cost"). The one
#: value for both ways a trial runs: raymt's local Ray gives it to every process it starts
#: (:data:`LOCAL_TRAIN_ENV`), and on a cluster the trial driver sets it for the controller it
#: starts (raymt.train.trial.make_trainer); a value the user exported wins in both.
HEALTH_CHECK_INTERVAL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
HEALTH_CHECK_INTERVAL_S = 0.5

#: Ray Train settings for the local Ray raymt starts, each trimming a fixed cost every trial pays
#: (measured on 2 cores: ``python -m benchmarks.trial_efficiency``, BENCHMARKS.md):
#:
#: - ``RAY_TRAIN_ENABLE_PREEMPTION_WATCHER=0``: Ray Train otherwise starts one more actor
#:   process per run to watch for node preemption (a cloud node drained by its autoscaler); a
#:   local Ray has no such nodes, and on 2 cores that process start competes with the workers'
#:   own start-up.
#: - :data:`HEALTH_CHECK_INTERVAL_ENV` at :data:`HEALTH_CHECK_INTERVAL_S`.
LOCAL_TRAIN_ENV = {
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    HEALTH_CHECK_INTERVAL_ENV: str(HEALTH_CHECK_INTERVAL_S),
}


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

    The same inherited environment carries :data:`LOCAL_TRAIN_ENV` (a value the user has set
    wins): Ray Train's controller and workers read these switches in their own processes.
    """
    import socket

    import ray

    with socket.socket() as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    address = f"{ray.util.get_node_ip_address()}:{port}"
    train_env = {k: v for k, v in LOCAL_TRAIN_ENV.items() if k not in os.environ}
    saved = {k: os.environ.get(k) for k in ("RAY_ADDRESS", "RAY_GCS_SERVER_PORT", *train_env)}
    os.environ.update(RAY_ADDRESS=address, RAY_GCS_SERVER_PORT=str(port), **train_env)
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            log_to_driver=True,
            configure_logging=True,
            logging_level="WARNING",
        )
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
