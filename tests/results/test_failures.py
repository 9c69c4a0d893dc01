"""A failed trial's reason, one line: Ray's out-of-memory report read for what a user must know.

``ray_oom_report.txt`` is a real report (``str(ray.exceptions.OutOfMemoryError)``) from a search
on the shared 2-core machine: another program's Train workers took 17.7 GB, and Ray's memory
monitor killed the search's own trial (its Tune actor, Train controller and Train's helpers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raymt.results.failures import OOM_FIX, failure_reason, out_of_memory_reason

REPORT = (Path(__file__).parent / "ray_oom_report.txt").read_text()


def test_the_report_becomes_one_line_naming_the_processes_the_memory_and_the_fix():
    reason = failure_reason(REPORT)
    assert "\n" not in reason
    assert reason.startswith("out of memory: Ray's memory monitor killed the trial's Tune actor, the Ray Train controller and 4 other Ray processes")
    assert "; node 192.0.2.2 used 22.87GB of 23.54GB, over Ray's limit of 95.0% (RAY_memory_usage_threshold)" in reason
    assert "; largest process on the node: ray::RayTrainWorker 8.87GB. Fix: " in reason  # another program's, here
    assert reason.endswith(OOM_FIX)
    for setting in ("resources.num_workers", "search.max_concurrent_trials", "train.batch_size", "train.gradient_checkpointing", "raymt plan"):
        assert setting in reason
    # what the table said before: the report's last line with "error" in it
    assert "bytes errored" not in reason


@pytest.mark.parametrize(
    "wrapped",
    [
        # the Train controller killed: fit() raised it in the Tune trial, which Tune wraps
        'ray::ImplicitFunc.train() (pid=32376, ip=192.0.2.2, actor_id=1c2a)\n  File "trainable.py", line 73, in train_run\n'
        "    result = trainer.fit()\nray.exceptions.OutOfMemoryError: {report}",
        # the trial's Tune actor killed (raymt.search.tuner.TrialKilledForMemory: the report as is)
        "{report}",
        # a chained traceback carries the report twice: each process is counted once
        "ray.exceptions.OutOfMemoryError: {report}\n\nThe above exception was the direct cause of the following exception:\n\n"
        "RuntimeError: Caught unexpected exception: {report}",
    ],
)
def test_the_report_is_found_inside_a_traceback(wrapped):
    assert failure_reason(wrapped.format(report=REPORT)) == out_of_memory_reason(REPORT)


def test_a_killed_train_worker_is_named_from_its_death_notice():
    """A Train worker the monitor killed reaches the trial through the controller's worker-group
    error, the worker's death notice (class name, exit type) carrying the monitor's message."""
    notice = (
        "Training failed due to worker errors:\n[Rank 0]\nThe actor died unexpectedly before finishing this task.\n"
        "\tclass_name: RayTrainWorker\n\tactor_id: 5e1f\n\tpid: 31300\n\tip: 192.0.2.2\n"
        "The actor is dead because its worker process has died. Worker exit type: NODE_OUT_OF_MEMORY Worker exit detail: "
        "Task was killed due to the node running low on memory.\nMemory on the node (IP: 192.0.2.2, ID: 9ce9) was 21.10GB used / "
        "23.54GB limit (0.896)\nOOM kill reason: Memory usage 22654000000B exceeded threshold of 22500000000B (89.0% of 25276203008B limit)"
    )
    reason = failure_reason(notice)
    assert reason.startswith("out of memory: Ray's memory monitor killed 1 Ray Train worker; node 192.0.2.2 used 21.10GB of 23.54GB")
    assert "over Ray's limit of 89.0%" in reason and reason.endswith(OOM_FIX)


@pytest.mark.parametrize(
    "error, reason",
    [
        # a trial that raised: its exception line, as before
        ("Traceback...\nraymt.errors.TrialFailed: training loss became nan in epoch 1 (lr 0.0095): the run diverged", "TrialFailed"),
        # CUDA running out is the trial's own error (torch's line says what and how much), not Ray's monitor
        ("Traceback...\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "torch.OutOfMemoryError: CUDA out of memory"),
        # the kernel's OOM killer is one of several causes Ray lists for a dead worker: not claimed as Ray's monitor
        (
            "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n"
            "Worker exit type: SYSTEM_ERROR Worker exit detail: Worker unexpectedly exits with a connection error code 2. "
            "Some common causes include: (1) the process was killed by the OOM killer due to high memory usage",
            "Worker exit type: SYSTEM_ERROR",
        ),
    ],
)
def test_other_failures_keep_their_exception_line(error, reason):
    assert out_of_memory_reason(error) is None
    assert reason in failure_reason(error) and "Ray's memory monitor" not in failure_reason(error)
