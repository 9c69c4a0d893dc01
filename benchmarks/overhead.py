"""Where a trial's seconds go: the default search's trials split into start-up, training,
evaluation, checkpoints and the gap between trials (issue 15, item 2).

    python -m benchmarks.overhead                    # the default search (8 trials), as a user runs it
    python -m benchmarks.overhead --num-samples 4    # fewer trials (--epochs, --train-size: smaller ones)
    python -m benchmarks.overhead --results DIR      # only the table, from a finished search's folder
    python -m benchmarks.overhead --imports          # what each process of a trial imports (no Ray started)

The search runs as the user runs it (``python -m raymt.cli search FILE`` in a fresh process, Ray
started locally) on ``search_spaces/default.yaml``, with only the name, the results folder and
(if given) the number of trials changed; a cache given with ``--cache`` (a ``.cache`` folder of
an earlier run) skips building the tiny base.

Each trial's row is read from Tune's ``result.json`` (one line per epoch) and the markers the
worker reports; every column is seconds:

- ``start``: from the Tune trial's start (its last report's ``timestamp`` less ``time_total_s``)
  to the first line of the worker: the Train controller, the placement group, the worker
  processes and the torch process group;
- ``import``: importing ``raymt.train.worker`` on the worker (``worker_import_s``);
- ``setup``: tokenizer, base model, method, data, optimizer (``setup_time_s``);
- ``first_step``: from the end of the set-up to the first optimizer step (the first batch);
- ``train`` / ``eval``: the epochs' own training and evaluation (``epoch_*_time_s``), less the
  first step's time, which is counted above;
- ``ckpt``: writing the checkpoint folders (``checkpoint_write_s``);
- ``report``: the rest of each epoch (``ray.train.report``: the upload and the barrier, the
  metrics' journey to Tune): the time between reports less train, eval and ckpt;
- ``between``: from the trial's last report to the next trial's start: the Train run's and the
  Tune trial's shutdown and the next Tune trial's actor start (trials run one at a time by default);
- ``fixed``: everything but training and evaluation: the per-trial fixed cost.

Tune's ``timestamp`` is in whole seconds: a trial's ``start``, ``report`` and ``between`` are
each good to about 1 s (``report`` may come out slightly negative); the parts of a trial's slot
still add up to the slot, and the mean slot over n trials is good to about 1/(n - 1) s.

``to_first_step`` is the Tune trial's start to its first optimizer step. The summary gives the
means and the share of the search's wall time spent in training and evaluation. Times depend on
the machine's load: the script prints ``uptime`` with them.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "overhead"
COLUMNS = ["start", "import", "setup", "first_step", "train", "eval", "ckpt", "report", "between", "fixed", "to_first_step", "slot"]


def run_search(
    out: Path, name: str, num_samples: int | None, cache: Path | None, epochs: int | None = None, train_size: int | None = None
) -> tuple[Path, float]:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw["name"], raw["storage_path"] = name, str(out)
    if num_samples is not None:
        raw["search"]["num_samples"] = num_samples
    if epochs is not None:  # fewer only to check that the script runs: figures use the space's
        raw["train"]["epochs"] = epochs
    if train_size is not None:
        raw["data"]["train_size"] = train_size
    out.mkdir(parents=True, exist_ok=True)
    space = out / f"{name}.yaml"
    space.write_text(yaml.safe_dump(raw, sort_keys=False))
    if cache is not None and not (out / ".cache").exists():
        cache.mkdir(parents=True, exist_ok=True)  # a new cache: the first run fills it
        (out / ".cache").symlink_to(cache.resolve(), target_is_directory=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "raymt.cli", "search", str(space)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (out / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"search {name} failed (exit {proc.returncode}); log: {out / (name + '.log')}")
    return out / name, wall


def trial_rows(results: Path) -> pd.DataFrame:
    """One row per trial (in start order) with the columns of the module's docstring."""
    rows = []
    for result_json in (results / "tune").glob("*/result.json"):
        reports = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
        if not reports:
            continue
        last, first = reports[-1], reports[0]
        began = last["timestamp"] - last["time_total_s"]
        worker = first["worker_started_unix"]
        train = sum(r.get("epoch_train_time_s", 0.0) for r in reports)
        evals = sum(r.get("epoch_eval_time_s", 0.0) for r in reports)
        ckpt = sum(r.get("checkpoint_write_s", 0.0) for r in reports)
        setup_end = worker + first["setup_time_s"]
        first_step = first["first_step_unix"] - setup_end
        # the time between consecutive reports (the first: from the end of the set-up) not spent
        # training, evaluating or writing the checkpoint
        marks = [setup_end] + [r["timestamp"] for r in reports]
        epochs = sum(b - a for a, b in zip(marks, marks[1:]))
        report = epochs - train - evals - ckpt
        rows.append(
            {
                "trial_id": last["trial_id"],
                "method": (last.get("config") or {}).get("method", ""),
                "epochs": len(reports),
                "began": began,
                "ended": last["timestamp"],
                "start": worker - began - first.get("worker_import_s", 0.0),
                "import": first.get("worker_import_s", math.nan),
                "setup": first["setup_time_s"],
                "first_step": first_step,
                "train": train - first_step,
                "eval": evals,
                "ckpt": ckpt,
                "report": report,
                "to_first_step": first["first_step_unix"] - began,
            }
        )
    df = pd.DataFrame(rows).sort_values("began").reset_index(drop=True)
    df["between"] = (df["began"].shift(-1) - df["ended"]).astype(float)
    df["slot"] = df["ended"] - df["began"] + df["between"]
    parts = ["start", "import", "setup", "first_step", "ckpt", "report", "between"]
    df["fixed"] = df[parts].sum(axis=1, min_count=1)
    return df


def summary(df: pd.DataFrame, results: Path, wall: float | None) -> dict:
    timings = json.loads((results / "timings.json").read_text()) if (results / "timings.json").exists() else {}
    work = float(df["train"].sum() + df["first_step"].sum() + df["eval"].sum())
    inner = df.iloc[:-1]  # the last trial has no next start: its "between" is unknown
    out = {
        "trials": len(df),
        "mean_s": {c: round(float(df[c].mean()), 2) for c in COLUMNS if c in df},
        "fixed_per_trial_s": round(float(inner["fixed"].mean()), 2) if len(inner) else math.nan,
        "to_first_step_s": round(float(df["to_first_step"].mean()), 2),
        "tune_fit_s": round(timings.get("tune_fit_s", math.nan), 1),
        "train_eval_share_of_tune_fit": round(work / timings["tune_fit_s"], 3) if timings.get("tune_fit_s") else math.nan,
    }
    if wall is not None:
        out["search_wall_s"] = round(wall, 1)
        out["train_eval_share_of_wall"] = round(work / wall, 3)
        out["prepare_s"] = round(timings.get("prepare_s", math.nan), 1)
        out["train_eval_share_of_wall_without_data_prep"] = round(work / (wall - timings.get("prepare_s", 0.0)), 3)
    return out


#: What each kind of process of a trial imports beyond what Ray itself already loaded there:
#: the Tune trial (raymt's function trainable, which builds the TorchTrainer) and a Train
#: worker (raymt.train.worker); both import torch through ``ray.train.torch`` in any case.
IMPORTS = {
    "tune trial": ("import ray, ray.tune, ray.train", "import raymt.search.trainable, ray.train.torch"),
    "train worker": ("import ray, ray.train, ray.train.torch, torch", "import raymt.train.worker"),
}


def import_costs(top: int = 6) -> dict:
    """Seconds each process spends on raymt's own imports (``python -X importtime``, a fresh
    process each, median of 3), and the heaviest packages among them."""
    import re
    import statistics

    def timed(code: str) -> dict[str, tuple[int, int]]:
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True).stderr
        out = {}
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if m:
                out[m.group(4)] = (int(m.group(1)), int(m.group(2)), len(m.group(3)))
        return out

    report = {}
    for name, (before, extra) in IMPORTS.items():
        totals, heavy = [], {}
        for _ in range(3):
            base, full = timed(before), timed(f"{before}; {extra}")
            new = {k: v for k, v in full.items() if k not in base}
            totals.append(sum(v[0] for v in new.values()) / 1e6)
            heavy = {k: v[1] / 1e6 for k, v in new.items() if "." not in k or k.startswith("raymt.")}
        report[name] = {
            "extra_import_s": round(statistics.median(totals), 2),
            "heaviest_s": {k: round(v, 2) for k, v in sorted(heavy.items(), key=lambda kv: -kv[1])[:top]},
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=None, help="trials (default: the default space's)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the space's)")
    parser.add_argument("--train-size", type=int, default=None, help="training pairs (default: the space's)")
    parser.add_argument("--name", default="overhead")
    parser.add_argument("--cache", type=Path, default=None, help="a .cache folder of an earlier run (skips the base build)")
    parser.add_argument("--results", type=Path, default=None, help="a finished search's folder: only print its table")
    parser.add_argument("--imports", action="store_true", help="only the import cost of a trial's processes (no Ray started)")
    args = parser.parse_args(argv)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    if args.imports:
        print(json.dumps({"uptime": load, **import_costs()}, indent=1))
        return 0
    wall = None
    if args.results is None:
        print(f"running the default search ({args.name}) ...  [{load}]", flush=True)
        results, wall = run_search(args.out, args.name, args.num_samples, args.cache, args.epochs, args.train_size)
    else:
        results = args.results
    df = trial_rows(results)
    pd.set_option("display.width", 200)
    print(df[["trial_id", "method", "epochs", *COLUMNS]].round(2).to_string(index=False))
    report = {
        "results": str(results),
        "uptime_before": load,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    report.update(summary(df, results, wall))
    print(json.dumps(report, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
