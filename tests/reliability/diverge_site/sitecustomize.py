"""Test-only fault injection: make training diverge for real inside Ray's worker processes.

Put this folder on PYTHONPATH and set RAYMT_TEST_DIVERGE_AT_LR: every Python process started
afterwards (Ray's raylet inherits the environment, so Train workers too) patches
``torch.optim.AdamW.step`` when torch is imported, so that a run whose peak learning rate is at
least that value gets NaN weights after its first step, and its loss becomes NaN — what a too
large learning rate does to a real model, without depending on whether the tiny model happens
to blow up. Nothing in raymt knows about it; the worker sees a genuinely NaN loss.
"""

import importlib.abc
import importlib.util
import os
import sys

THRESHOLD = os.environ.get("RAYMT_TEST_DIVERGE_AT_LR")


def _patch(optim_module) -> None:
    import torch

    cls = optim_module.AdamW
    original = cls.step
    limit = float(THRESHOLD)

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if max(g.get("initial_lr", g["lr"]) for g in self.param_groups) >= limit:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("nan"))
        return out

    cls.step = step


class _PatchTorchOptim(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "torch.optim":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


if THRESHOLD:
    sys.meta_path.insert(0, _PatchTorchOptim())
