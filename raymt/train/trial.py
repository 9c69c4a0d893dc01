"""One trial = one Ray Train ``TorchTrainer`` run.

The trial driver builds the trainer from the config: N workers (``ScalingConfig``), gloo on CPU
and nccl on GPU (``TorchConfig(backend=None)`` picks), worker restarts from the last checkpoint
(``ray.train.FailureConfig``), and runs it. Inside a Tune search the same function runs as the
Tune trial, and ``TuneReportCallback`` forwards rank 0's per-epoch reports to Tune.
"""

from __future__ import annotations

import os
from pathlib import Path

from raymt.errors import TrialFailed
from raymt.results.files import TRIALS_DIR
from raymt.runtime import HEALTH_CHECK_INTERVAL_ENV, HEALTH_CHECK_INTERVAL_S
from raymt.train.prepare import PreparedExperiment


def make_trainer(
    cfg, prepared: PreparedExperiment, *, name: str, storage_path: str, callbacks=(), stop_key: str | None = None, log_level: str = "INFO"
):
    """The trial's TorchTrainer. Its init stage (if any) is built or reused here, in the
    driver, before the workers start: they only load the finished artefact. ``stop_key``: the
    key under which the trial may ask its workers to stop between steps (raymt.train.stop).
    ``log_level``: Ray Train's own logs (:func:`raymt.runtime.train_log_level`)."""
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig

    from raymt.plan.storage import CHECKPOINT_POLICY
    from raymt.train.init_stage import as_loop_config, ensure_init_stage
    from raymt.train.trainer import TrialTrainer

    # the controller's poll (raymt.runtime.HEALTH_CHECK_INTERVAL_S; a local Ray's processes have
    # it already). A user's own setting wins; Ray passes it on to the controller it starts from
    # this process.
    os.environ.setdefault(HEALTH_CHECK_INTERVAL_ENV, str(HEALTH_CHECK_INTERVAL_S))
    res = cfg.resources
    per_worker = {"CPU": res.cpus_per_worker}
    if res.use_gpu:
        per_worker["GPU"] = res.gpus_per_worker
    return TrialTrainer(
        train_loop_per_worker,
        train_loop_config={
            **prepared.loop_config(cfg),
            "init": as_loop_config(ensure_init_stage(cfg, prepared)),
            "stop_key": stop_key,
            "log_level": log_level,
        },
        torch_config=TorchConfig(backend=None),
        scaling_config=ScalingConfig(num_workers=res.num_workers, use_gpu=res.use_gpu, resources_per_worker=per_worker),
        run_config=RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=res.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=CHECKPOINT_POLICY.num_to_keep),  # the plan counts the same
            callbacks=list(callbacks),
            logging_config=LoggingConfig(log_level=log_level),
        ),
    )


def train_loop_per_worker(loop_config: dict) -> None:
    """Ray Train's entry point on every worker: runs :func:`raymt.train.worker.run_worker`.

    Why a stand-in: the trial driver hands Ray Train the function by reference (module and
    name), so the driver imports the module that defines it. ``raymt.train.worker`` pulls in
    peft and every fine-tuning method (~2.5-3 s and ~140 MB per process on a 2-core machine),
    which in a trial driver that only builds a ``TorchTrainer`` would sit on every trial's
    critical path. Here the import happens on the workers only, which need it anyway; the
    time it takes is reported (``worker_import_s``, benchmarks/overhead.py).
    """
    import time

    entered_unix = time.time()
    from raymt.runtime import quiet_train_reports
    from raymt.train.worker import run_worker

    quiet_train_reports(loop_config.get("log_level", "INFO"))

    run_worker({**loop_config, "entered_unix": entered_unix})


def run_trial(cfg, prepared: PreparedExperiment, *, name: str, storage_path: str | None = None, callbacks=()):
    """Run one trial to the end and return its final metrics and checkpoint folder.

    A trial that Ray's memory monitor kills raises :class:`TrialFailed` with the one line of
    :func:`raymt.results.failures.out_of_memory_reason` (what `raymt train` prints), not Ray's
    40-line report; every other error is raised as it is."""
    from raymt.object_store import is_uri, join, local_form

    if storage_path is None:  # an object store goes to Ray Train as a URI (it writes there itself)
        storage_path = (
            join(cfg.storage_path, cfg.name, TRIALS_DIR)
            if is_uri(cfg.storage_path)
            else str(Path(local_form(cfg.storage_path)).expanduser().resolve() / cfg.name / TRIALS_DIR)
        )
    storage = storage_path
    trainer = make_trainer(cfg, prepared, name=name, storage_path=storage, callbacks=callbacks)
    try:
        result = trainer.fit()
    except Exception as err:  # Ray's memory monitor killed a process: its one line, not Ray's 40-line report
        from raymt.results.failures import out_of_memory_reason

        if (reason := out_of_memory_reason(str(err))) is None:
            raise
        raise TrialFailed(reason) from None
    metrics = dict(result.metrics or {})
    if metrics.get("error"):
        raise TrialFailed(metrics["error"])
    checkpoint = result.checkpoint.path if result.checkpoint is not None else None
    if checkpoint is not None and is_uri(storage):  # pyarrow's path has no scheme: give the URI back
        checkpoint = f"{storage.split('://', 1)[0]}://{checkpoint}"
    return metrics, checkpoint
