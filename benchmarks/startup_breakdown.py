"""Where a Ray Train trial's worker-group start goes: every Ray process's title, sampled.

    python -m benchmarks.startup_breakdown [--interval 0.2] [--storage DIR]

Runs one `raymt train` trial (the trial of ``benchmarks.trial_efficiency``: LoRA, 1 worker x 1
CPU, 1 epoch) on a local Ray and, from a thread of this process, reads the title of every
process whose command line starts with ``ray::`` every ``--interval`` seconds (Ray sets a
process's title to the actor class and the method it is running: ``ray::IDLE``,
``ray::TrainController.run``, ``ray::RayTrainWorker.__init__``, ...). Printed: for each
process that appeared after ``fit()`` was called, when it was first seen and how long it
spent under each title, relative to ``fit()``; then the worker's own first line and first
optimizer step (from the trial's metrics) on the same clock. Resolution is the interval; the
sampler itself takes a little CPU (a few ms per sample) from the run it watches.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import psutil

OUT = Path(__file__).resolve().parent / "out"


class TitleSampler:
    """Samples (unix time, pid, title) of every ``ray::`` process until stopped."""

    def __init__(self, interval: float):
        self.interval = interval
        self.samples: list[tuple[float, int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmd = proc.info["cmdline"] or []
                if cmd and cmd[0].startswith("ray::"):
                    self.samples.append((now, proc.info["pid"], cmd[0].split(" ")[0]))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def timelines(samples: list[tuple[float, int, str]], since: float, existing: set[int]) -> list[dict]:
    """Per new process: first seen, and its titles as (title, from, to) segments, relative to ``since``."""
    by_pid: dict[int, list[tuple[float, str]]] = {}
    for t, pid, title in samples:
        if pid not in existing:
            by_pid.setdefault(pid, []).append((t - since, title))
    out = []
    for pid, seen in by_pid.items():
        segments: list[list] = []
        for t, title in seen:
            if segments and segments[-1][0] == title:
                segments[-1][2] = t
            else:
                segments.append([title, t, t])
        out.append({"pid": pid, "first_seen_s": seen[0][0], "last_seen_s": seen[-1][0], "segments": segments})
    return sorted(out, key=lambda r: r["first_seen_s"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--storage", default="./raymt_results")
    args = parser.parse_args(argv)

    from benchmarks.trial_efficiency import bench_config
    from raymt.runtime import init_ray
    from raymt.train.prepare import prepare_experiment
    from raymt.train.trial import run_trial

    cfg = bench_config(args.storage, 1, "lora", 2000, 1.0)
    prepared = prepare_experiment(cfg, log=lambda m: None)
    init_ray(num_cpus=2, log=lambda m: None)
    time.sleep(2.0)  # let the prestarted idle workers settle: they are not the run's
    existing = {p.pid for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith("ray::")}
    with TitleSampler(args.interval) as sampler:
        fit = time.time()
        metrics, _ = run_trial(cfg, prepared, name=f"startup-{int(fit)}")
        done = time.time() - fit
    rows = timelines(sampler.samples, fit, existing)
    marks = {
        "worker function's first line": metrics["worker_started_unix"] - fit,
        "setup done (tokenizer, model, method, data)": metrics["worker_started_unix"] - fit + metrics["setup_time_s"],
        "first optimizer step": metrics["first_step_unix"] - fit,
        "fit() returned": done,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "startup_breakdown.json").write_text(
        json.dumps({"interval_s": args.interval, "processes": rows, "marks": marks, "load": os.getloadavg()}, indent=1)
    )
    print(f"\nRay processes started by one trial's fit() (titles sampled every {args.interval} s; times from fit(), s)")
    for row in rows:
        parts = ", ".join(f"{title} {start:.1f}-{end:.1f}" for title, start, end in row["segments"])
        print(f"  pid {row['pid']:>7}  first seen {row['first_seen_s']:6.1f}  {parts}")
    print("\nthe worker's own clock (trial metrics), from fit():")
    for key, value in marks.items():
        print(f"  {key:<45} {value:6.2f}")
    print(f"load averages (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
