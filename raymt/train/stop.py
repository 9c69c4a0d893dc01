"""Asking a running trial's Train workers to stop between two steps.

Why: when a scheduler stops a trial (early stopping) or the user presses Ctrl-C, Tune ends the
trial's actor; the Ray Train controller it owns dies with it, and the workers the controller
owns are then torn down wherever they are: in the middle of a forward pass, which printed the
workers' C++ stack traces ("SIGABRT received", in ``dropout``) after the search's final
summary. Ray Train 2.x gives a worker no stop signal of its own (``TrainController.abort``
kills the worker group after a 5 s grace period: ray/train/v2/_internal/execution/worker_group/
state.py ``_shutdown_workers``). So the trial asks first: :func:`request_stop` writes a key to
Ray's internal key-value store (in the GCS, reachable from every node), the workers look for it
between optimizer steps (:class:`StopWatch`), all return from their training function at the
same step, and the Train run ends the ordinary way, its workers idle, before Tune ends the
trial's actor.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist

NAMESPACE = "raymt"


def stop_key(train_storage: str, run_name: str) -> str:
    """One key per Train run: the experiment's trials folder (or URI) and the run's name,
    so two searches on one cluster never stop each other's trials."""
    return f"stop:{train_storage.rstrip('/')}/{run_name}"


def request_stop(key: str) -> None:
    from ray.experimental import internal_kv

    internal_kv._internal_kv_put(key, b"1", overwrite=True, namespace=NAMESPACE)


def clear_stop(key: str) -> None:
    from ray.experimental import internal_kv

    if internal_kv._internal_kv_initialized():
        internal_kv._internal_kv_del(key, namespace=NAMESPACE)


def _is_requested(key: str) -> bool:
    from ray.experimental import internal_kv

    return internal_kv._internal_kv_get(key, namespace=NAMESPACE) is not None


class StopWatch:
    """The worker side: :meth:`requested` answers the same on every rank at the same step.

    Rank 0 asks the key-value store at most every ``every_s`` seconds (one small GCS call) and
    broadcasts its answer: one one-element collective per optimizer step, so that every rank
    leaves the loop at the same step and none waits forever in DDP's all-reduce.
    """

    def __init__(self, key: str | None, rank: int, world: int, device: torch.device, every_s: float = 1.0) -> None:
        self.key, self.rank, self.world, self.device, self.every_s = key, rank, world, device, every_s
        self._asked_at = float("-inf")
        self._seen = False

    def requested(self) -> bool:
        if self.key is None:
            return False
        if self.rank == 0 and not self._seen and time.monotonic() - self._asked_at >= self.every_s:
            self._asked_at = time.monotonic()
            self._seen = _is_requested(self.key)
        if self.world <= 1:
            return self._seen
        flag = torch.tensor([int(self._seen)], dtype=torch.int32, device=self.device)  # nccl: on the GPU
        dist.broadcast(flag, src=0)
        return bool(flag.item())
