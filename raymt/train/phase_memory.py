"""Peak resident memory of one worker, phase by phase, for comparing a trial with its plan.

``raymt plan`` (raymt/plan/memory.py) predicts each phase of a worker: set-up, restore, the
forward and backward passes, the optimizer step, evaluation, the checkpoint. A watcher that
samples a process's resident set twice a second can tell *how much* a worker peaked at, not
*in which phase*: the phases that matter at real size last well under a second. So when
``RAYMT_PHASE_MEMORY`` names a file, each worker measures its own phases exactly: at a phase's
start it resets the kernel's high-water mark of the process (``/proc/self/clear_refs``, value
5: Linux >= 4.0), at its end it reads ``VmHWM`` back, and appends one JSON line:

``{"rank", "pid", "phase", "step", "start", "end", "rss_start", "rss_end", "peak", "peak_before"}``

``peak`` is the largest resident set inside the phase; ``peak_before`` the largest since the
previous phase ended (the moments between phases: the data loader, a barrier), so that the
largest of all the lines is the worker's peak. Off (a no-op) without the variable, or where
``/proc`` is missing. ``python -m benchmarks.real_scale`` sets it and names the phase of each
worker's peak.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

__all__ = ["ENV", "PhaseMemory", "read_phases"]

#: the file every worker of a trial appends its phase lines to (unset: nothing is measured)
ENV = "RAYMT_PHASE_MEMORY"


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of a process (this one by default), in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) * 1024
    return values


class PhaseMemory:
    """``with memory.phase("backward", step=3): ...`` records that phase's peak (or nothing)."""

    def __init__(self, path: str | None, rank: int):
        self.path = path if path and os.path.exists("/proc/self/clear_refs") else None
        self.rank = rank
        self._open: dict | None = None  # the phase now running, and its open segment (watch_backward)

    @classmethod
    def from_env(cls, rank: int) -> PhaseMemory:
        return cls(os.environ.get(ENV), rank)

    @property
    def active(self) -> bool:
        return self.path is not None

    def _reset(self) -> int:
        """The high-water mark so far, then reset it to the current resident set."""
        hwm = proc_status()["VmHWM"]
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return hwm

    def _write(self, phase: str, step, start: float, rss_start: int, peak: int, peak_before: int, rss_end: int) -> None:
        line = {
            "rank": self.rank,
            "pid": os.getpid(),
            "phase": phase,
            "step": step,
            "start": round(start, 3),
            "end": round(time.time(), 3),
            "rss_start": rss_start,
            "rss_end": rss_end,
            "peak": peak,
            "peak_before": peak_before,
        }
        with open(self.path, "a", encoding="utf-8") as fh:  # one write per line: appends do not interleave
            fh.write(json.dumps(line) + "\n")

    @contextlib.contextmanager
    def phase(self, name: str, step: int | None = None):
        if self.path is None:
            yield
            return
        before = self._reset()
        rss_start = proc_status()["VmRSS"]
        self._open = {"name": name, "step": step, "inner": 0, "segment": None}
        start = time.time()
        try:
            yield
        finally:
            self._close_segment()
            status = proc_status()
            self._write(name, step, start, rss_start, max(status["VmHWM"], self._open["inner"]), before, status["VmRSS"])
            self._open = None
            self._reset()

    def mark(self, label: str) -> None:
        """Inside a phase: end the current segment and start one named ``<phase>:<label>``."""
        if self._open is None:
            return
        self._close_segment()
        self._reset()
        self._open["segment"] = (label, time.time(), proc_status()["VmRSS"])

    def _close_segment(self) -> None:
        if self._open is None or self._open["segment"] is None:
            return
        label, start, rss_start = self._open["segment"]
        status = proc_status()
        self._open["inner"] = max(self._open["inner"], status["VmHWM"])
        self._write(f"{self._open['name']}:{label}", self._open["step"], start, rss_start, status["VmHWM"], 0, status["VmRSS"])
        self._open["segment"] = None

    def watch_backward(self, model) -> None:
        """Split each phase at every layer's backward: a hook on the output of each layer, of
        the token embeddings and of the LM head marks the moment its gradient arrives (the
        segment runs until the next mark), so a backward's peak is placed module by module."""
        if self.path is None:
            return
        import re

        import torch

        def hook(name):
            def on_output(module, args, output):
                tensor = output if isinstance(output, torch.Tensor) else next((x for x in output if isinstance(x, torch.Tensor)), None)
                if tensor is not None and tensor.requires_grad:
                    tensor.register_hook(lambda grad: self.mark(name))

            return on_output

        for name, module in model.named_modules():
            if re.search(r"(lm_head|embed_tokens|layers\.\d+)$", name):
                module.register_forward_hook(hook(name))


def read_phases(path: str | os.PathLike) -> list[dict]:
    """The lines the workers wrote, oldest first (an absent file: none)."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return []
    return sorted((json.loads(line) for line in text.splitlines() if line.strip()), key=lambda r: r["start"])
