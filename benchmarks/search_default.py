"""The default search, measured: wall time and where it goes, best BLEU per method, the front,
and early stopping on vs off (compute saved against hypervolume lost).

    python -m benchmarks.search_default                  # mo_asha (the default) then no early stopping
    python -m benchmarks.search_default --schedulers mo_asha

Each search runs as the user runs it (`python -m raymt.cli search FILE` in a fresh process, Ray
started locally), on `search_spaces/default.yaml` with only the experiment name, the results
folder and the scheduler changed. The first search starts from an empty cache, so its wall time
includes building the tiny base; later ones reuse that cache (the base is built once per spec).

Time shares: training and evaluation are the trials' own totals (`train_time_s`, `eval_time_s`
summed over trials); everything else in the wall time (Python and Ray start, worker start-up,
model loading, checkpoints, the report) is overhead. Compute = epochs trained, summed over trials.
Hypervolume: both searches' eligible trials under ONE reference point, storage on a log10 scale
(storage spans 100x; on a linear axis the full model alone would decide the volume).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "search_default"


def add_size_options(parser: argparse.ArgumentParser) -> None:
    """A smaller run of the same benchmark, to check that it runs end to end (figures come from
    the default sizes: the space's own trials, epochs and training set)."""
    parser.add_argument("--trials", type=int, default=None, help="trials (default: the space's search.num_samples)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the space's train.epochs)")
    parser.add_argument("--train-size", type=int, default=None, help="training pairs (default: the space's data.train_size)")
    parser.add_argument("--cache", type=Path, default=None, help="a .cache folder of an earlier run (skips building the tiny base)")


def size_overrides(args: argparse.Namespace) -> dict:
    """The default space's YAML keys that ``add_size_options`` changed (nested, as in the file)."""
    out: dict = {}
    if getattr(args, "trials", None) is not None:
        out["search"] = {"num_samples": args.trials}
    if getattr(args, "epochs", None) is not None:
        out["train"] = {"epochs": args.epochs}
    if getattr(args, "train_size", None) is not None:
        out["data"] = {"train_size": args.train_size}
    return out


def link_cache(out: Path, cache: Path | None) -> None:
    """Share an earlier run's ``.cache`` (tiny base, tokenised corpus) with the runs in ``out``."""
    if cache is not None and not (out / ".cache").exists():
        out.mkdir(parents=True, exist_ok=True)
        Path(cache).mkdir(parents=True, exist_ok=True)  # a new cache: the first run fills it
        (out / ".cache").symlink_to(Path(cache).resolve(), target_is_directory=True)


def run_one(kind: str, out: Path, shared_cache: Path | None, *, name: str | None = None, edit=None, overrides: dict | None = None) -> dict:
    """One `raymt search` of the default space in a fresh process; ``edit(raw)`` may change the
    space's YAML (as a dict) before it runs, then ``overrides`` (nested keys) are merged in."""
    from raymt.config.load import deep_merge

    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    name = name or f"default-{kind}"
    raw["name"], raw["storage_path"] = name, str(out)
    if edit is not None:
        edit(raw)
    if overrides:
        raw = deep_merge(raw, overrides)
    if kind != raw["search"]["scheduler"].get("kind"):
        raw["search"]["scheduler"] = {"kind": kind}
    space = out / f"{name}.yaml"
    space.write_text(yaml.safe_dump(raw, sort_keys=False))
    link_cache(out, shared_cache)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "raymt.cli", "search", str(space)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (out / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"search {name} failed (exit {proc.returncode}); log: {out / (name + '.log')}")
    trials = pd.read_parquet(out / name / "trials.parquet")
    return {"kind": kind, "wall_s": wall, "trials": trials, "dir": out / name}


def summarise(run: dict) -> dict:
    """Where the wall time went. Training/evaluation: the trials' own totals; data: the shared
    preparation (tiny base build, corpus, tokenisation; cached after the first search); Ray start;
    the rest of Tune's fit() is per-trial overhead (trial and worker processes, imports, model
    loading, checkpoints); what remains is Python start-up, collection and the report."""
    df = run["trials"]
    timings = json.loads((run["dir"] / "timings.json").read_text())
    wall = run["wall_s"]
    train = float(df["train_time_s"].fillna(0).sum())
    evals = float(df["eval_time_s"].fillna(0).sum())
    trial_overhead = timings["tune_fit_s"] - train - evals
    done = df[df["status"] == "completed"]
    best = done.sort_values("bleu", ascending=False).groupby("method").head(1)
    return {
        "scheduler": run["kind"],
        "wall_s": round(wall, 1),
        "wall_without_data_prep_s": round(wall - timings["prepare_s"], 1),
        "trials": len(df),
        "statuses": df["status"].value_counts().to_dict(),
        "epochs_trained": int(df["epochs_done"].fillna(0).sum()),
        "train_time_s": round(train, 1),
        "shares": {
            k: round(v / wall, 3)
            for k, v in {
                "training": train,
                "evaluation": evals,
                "data_prep": timings["prepare_s"],
                "ray_start": timings["ray_init_s"],
                "per_trial_overhead": trial_overhead,
                "startup_collect_report": wall - timings["tune_fit_s"] - timings["prepare_s"] - timings["ray_init_s"],
            }.items()
        },
        "per_trial_overhead_s": round(trial_overhead / max(len(df), 1), 1),
        "best_bleu_per_method": {r.method: [round(float(r.bleu), 2), round(float(r.storage_mb), 4)] for r in best.itertuples()},
    }


def log_storage_hv(runs: list[dict]) -> dict[str, float]:
    from raymt.analysis.front import Front

    objectives = {"bleu": "max", "log10_storage_mb": "min"}
    frames = []
    for run in runs:
        df = run["trials"].copy()
        df["log10_storage_mb"] = df["storage_mb"].map(lambda v: math.log10(v) if v and v > 0 else math.nan)
        frames.append(df)
    if len(frames) == 1:
        return {runs[0]["kind"]: Front(frames[0], objectives).hypervolume()}
    table = Front(frames[0], objectives).compare(Front(frames[1], objectives), names=(runs[0]["kind"], runs[1]["kind"]))
    return dict(zip(table["front"], table["hypervolume"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedulers", nargs="+", default=["mo_asha", "none"], help="scheduler kinds to run, in order")
    parser.add_argument("--out", type=Path, default=OUT)
    add_size_options(parser)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs, cache = [], args.cache
    for kind in args.schedulers:
        print(f"running the default search with scheduler {kind} ...", flush=True)
        run = run_one(kind, args.out, cache, overrides=size_overrides(args))
        cache = cache or (args.out / ".cache").resolve()
        runs.append(run)
    report = {"machine": f"{os.cpu_count()} CPUs", "runs": [summarise(r) for r in runs], "hypervolume_log_storage": log_storage_hv(runs)}
    if len(runs) == 2:
        a, b = report["runs"]
        hv = report["hypervolume_log_storage"]
        report["early_stopping"] = {
            "epochs_saved": 1 - a["epochs_trained"] / max(b["epochs_trained"], 1),
            "train_time_saved": 1 - float(runs[0]["trials"]["train_time_s"].sum()) / float(runs[1]["trials"]["train_time_s"].sum()),
            "wall_saved_excluding_data_prep": 1 - a["wall_without_data_prep_s"] / b["wall_without_data_prep_s"],
            "hv_kept": hv[a["scheduler"]] / hv[b["scheduler"]] if hv[b["scheduler"]] else math.nan,
        }
    for run in runs:
        front = pd.read_csv(run["dir"] / "pareto.csv")
        cols = [c for c in ["trial_id", "method", "bleu", "storage_mb", "train.lr", "lora.r", "lora.target_modules", "adapter.size"] if c in front]
        print(f"\nfront ({run['kind']}):\n{front[cols].to_string(index=False)}")
    print("\n" + json.dumps(report, indent=1, default=str))
    (args.out / "summary.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
