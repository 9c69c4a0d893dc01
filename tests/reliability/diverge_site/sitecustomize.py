"""Test-only fault injection inside Ray's worker processes: a run that diverges, a run that
exceeds memory.

Put this folder on PYTHONPATH and set one of the variables below: every Python process started
afterwards (Ray's raylet inherits the environment, so Tune's trial actors and Train workers too)
patches ``torch.optim.AdamW.step`` when torch is imported, or Ray Train's ``fit`` when Ray Train
is. Nothing in raymt knows about it.

- ``RAYMT_TEST_DIVERGE_AT_LR``: a run whose peak learning rate is at least that value gets NaN
  weights after its first step, and its loss becomes NaN — what a too large learning rate does
  to a real model, without depending on whether the tiny model happens to blow up. The worker
  sees a genuinely NaN loss.
- ``RAYMT_TEST_HOG_AT_LR``: in a run whose peak learning rate is at least that value, rank 0's
  first step allocates (and writes) memory until the node is 1 GiB past Ray's memory-monitor
  limit (``RAY_memory_usage_threshold``, as Ray computes it: total less available memory), then
  waits: Ray's memory monitor kills the trial's processes for real. It never allocates past that
  point, so other programs on the machine keep their room; after 120 s unkilled it raises.
- ``RAYMT_TEST_HOG_TRIAL_ONCE=PATH``: the first trial to start its Ray Train run (the one that
  creates PATH) does the same in its own Tune trial actor, before any Train process exists, so
  the actor the monitor kills is the trial's Tune actor.
"""

import importlib.abc
import importlib.util
import os
import sys
import time

THRESHOLD = os.environ.get("RAYMT_TEST_DIVERGE_AT_LR")
HOG_AT_LR = os.environ.get("RAYMT_TEST_HOG_AT_LR")
HOG_TRIAL_ONCE = os.environ.get("RAYMT_TEST_HOG_TRIAL_ONCE")
GIB = 1 << 30


def _peak_lr(optimizer) -> float:
    return max(g.get("initial_lr", g["lr"]) for g in optimizer.param_groups)


def _exceed_rays_memory_limit() -> None:
    import psutil
    import torch

    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return  # one process grows: the others keep training as a trial's workers do
    limit = float(os.environ.get("RAY_memory_usage_threshold", "0.95"))
    held = []
    while True:
        memory = psutil.virtual_memory()
        past_limit = (memory.total - memory.available) - limit * memory.total
        if past_limit >= GIB:
            break
        held.append(torch.ones(min(256 << 20, int(GIB - past_limit)), dtype=torch.uint8))  # written: resident
        time.sleep(0.05)
    time.sleep(120)  # Ray's monitor looks every 250 ms
    raise RuntimeError(f"fault injection: held {sum(t.numel() for t in held) / GIB:.1f} GiB for 120 s and Ray's memory monitor killed nothing")


def _patch_fit(trainer_module) -> None:
    cls = trainer_module.DataParallelTrainer
    original = cls.fit

    def fit(self, *args, **kwargs):
        try:
            os.close(os.open(HOG_TRIAL_ONCE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return original(self, *args, **kwargs)
        _exceed_rays_memory_limit()

    cls.fit = fit


def _patch_adamw(optim_module) -> None:
    import torch

    cls = optim_module.AdamW
    original = cls.step

    def step(self, *args, **kwargs):
        if HOG_AT_LR and _peak_lr(self) >= float(HOG_AT_LR):
            _exceed_rays_memory_limit()
        out = original(self, *args, **kwargs)
        if THRESHOLD and _peak_lr(self) >= float(THRESHOLD):
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("nan"))
        return out

    cls.step = step


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Runs ``patches[name](module)`` right after ``name`` is first imported."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path, target=None):
        patch = self.patches.pop(name, None)
        if patch is None:
            return None
        if not self.patches:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


_PATCHES = {}
if THRESHOLD or HOG_AT_LR:
    _PATCHES["torch.optim"] = _patch_adamw
if HOG_TRIAL_ONCE:
    _PATCHES["ray.train.v2.api.data_parallel_trainer"] = _patch_fit
if _PATCHES:
    sys.meta_path.insert(0, _PatchOnImport(_PATCHES))
