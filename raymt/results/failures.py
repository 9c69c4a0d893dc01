"""Why a trial failed, in one line: the trials table's ``error``, the search's trial lines.

A failed trial's error is Ray's text: a traceback ending in the exception that ended the run. Its
last exception line says why, except when Ray's out-of-memory monitor killed one of the trial's
processes: that text is a 40-line report (the processes killed, the node's memory, the object
store's counters, Ray's generic advice) whose last line mentioning an error is an object-store
counter (``- bytes errored: 0``). :func:`out_of_memory_reason` reads that report and says what a
user must know: out of memory, which of the trial's processes were killed, the node's memory and
Ray's limit, and what to change in the trial. It reads text only (no Ray import): the report
reaches raymt in several exception types, by the process that was killed:

- a Ray Train worker: the Train controller's worker-group error (``WorkerGroupError``,
  "Worker exit type: NODE_OUT_OF_MEMORY") once ``resources.max_failures`` restarts are spent;
- the Train controller: ``ray.exceptions.OutOfMemoryError`` raised by ``TorchTrainer.fit()`` in
  the Tune trial;
- the trial's Tune actor: ``OutOfMemoryError`` in the search driver, which Ray Tune 2.60 does
  not treat as a trial failure (raymt.search.tuner.fail_trials_killed_for_memory).
"""

from __future__ import annotations

import re

#: Ray's memory monitor says one of these wherever its kill report goes (raylet's message for the
#: task or actor it killed, and the worker's exit type).
_RAY_OOM_MARKERS = ("killed due to the node running low on memory", "NODE_OUT_OF_MEMORY")
_NODE_MEMORY = re.compile(r"Memory on the node \(IP: (?P<ip>[^,]+), ID: \w+\) was (?P<used>[\d.]+\s*\w?B) used / (?P<limit>[\d.]+\s*\w?B) limit")
_THRESHOLD = re.compile(r"exceeded threshold of \d+B \((?P<percent>[\d.]+)% of \d+B limit\)")
_KILLED = re.compile(r"Selected to kill: \(.*?task name=(?P<name>[^,()]+).*")
_DIED_CLASS = re.compile(r"class_name: (?P<name>\w+)\s+actor_id: \w+")
_TOP_USER = re.compile(r"^\s*\d+\s+(?P<gb>[\d.]+)\s+(?P<command>\S.*?)\s*$", re.MULTILINE)

#: the processes of a raymt trial, as Ray names their actor classes
_PROCESS_NAMES = {
    "ImplicitFunc": "the trial's Tune actor",
    "TrainController": "the Ray Train controller",
    "RayTrainWorker": "Ray Train worker",
}

#: what to change, in raymt's config names (docs/plan.md: ``raymt plan`` gives a trial's memory)
OOM_FIX = (
    "Fix: fewer Train workers per node (resources.num_workers) or trials at once (search.max_concurrent_trials), "
    "a smaller train.batch_size, or train.gradient_checkpointing: true; `raymt plan CONFIG` estimates a trial's memory"
)


def failure_reason(error) -> str:
    """The one line of a failed trial's error that says why (its exception line), for the table and the log."""
    text = str(error).strip()
    if oom := out_of_memory_reason(text):
        return oom
    for line in reversed(text.splitlines()):
        line = line.strip()
        if "TrialFailed" in line or "Error" in line or "error" in line:
            return line[:500]
    return text.splitlines()[-1][:500] if text else type(error).__name__


def out_of_memory_reason(text: str) -> str | None:
    """One line for a trial Ray's memory monitor killed, or None if ``text`` is not such a report.

    ``out of memory: Ray's memory monitor killed the trial's Tune actor, the Ray Train controller
    and 4 other Ray processes; node 192.0.2.2 used 22.87GB of 23.54GB, over Ray's limit of 95.0%
    (RAY_memory_usage_threshold); largest process on the node: ray::RayTrainWorker 8.87GB. Fix: ...``"""
    if not any(marker in text for marker in _RAY_OOM_MARKERS):
        return None
    # each process once (by its whole line): a traceback can carry Ray's report twice
    killed = {m.group(0): m.group("name").split(":")[-1].removesuffix(".__init__") for m in _KILLED.finditer(text)}
    if not killed:  # an actor's death notice names its class (and id) only
        killed = {m.group(0): m.group("name") for m in _DIED_CLASS.finditer(text)}
    names = list(killed.values())
    line = f"out of memory: Ray's memory monitor killed {_processes(names)}"
    if node := _NODE_MEMORY.search(text):
        line += f"; node {node.group('ip')} used {node.group('used')} of {node.group('limit')}"
    if threshold := _THRESHOLD.search(text):
        line += f", over Ray's limit of {threshold.group('percent')}% (RAY_memory_usage_threshold)"
    _, listed, users = text.partition("Top 10 memory users:")
    if listed and (top := _TOP_USER.search(users)):  # maybe another program's: the monitor watches the whole node
        line += f"; largest process on the node: {top.group('command')[:60]} {top.group('gb')}GB"
    return f"{line}. {OOM_FIX}"


def _processes(names: list[str]) -> str:
    """``the trial's Tune actor, the Ray Train controller, 2 Ray Train workers and 3 other Ray
    processes``."""
    if not names:
        return "one of the trial's processes"
    parts = []
    for cls, words in _PROCESS_NAMES.items():
        count = names.count(cls)
        if count and words.endswith("worker"):
            parts.append(f"{count} {words}{'s' if count > 1 else ''}")
        elif count:
            parts.append(words)
    others = len([n for n in names if n not in _PROCESS_NAMES])
    if others:
        parts.append(f"{others} other Ray process{'es' if others > 1 else ''}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
