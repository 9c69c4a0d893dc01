"""The floor of a trial: what a bare Ray Train ``TorchTrainer`` run costs inside Ray Tune, with no
raymt code in it (issue 15, item 2).

    python -m benchmarks.train_floor                                   # 8 trials: Ray as raymt starts it, then Ray's defaults
    python -m benchmarks.train_floor --variants raymt --trials 4       # one variant
    python -m benchmarks.train_floor --hf-base DIR                     # + the floor of a trial that loads a Hugging Face model
    python -m benchmarks.train_floor --compare OVERHEAD.json           # + raymt's excess over each floor, term by term

A plain Ray Tune ``Tuner`` (a function trainable; Tune's defaults: its random/grid searcher over a
fixed configuration, no scheduler, no actor reuse; ``max_concurrent_trials=1``) runs ``--trials``
trials. Each trial is one ``ray.train.torch.TorchTrainer`` run with the ``ScalingConfig`` of raymt's
default search (``search_spaces/default.yaml``: 2 workers x 0.95 CPU, gloo on CPU; the trial
driver at 0.1 CPU, as raymt reserves it: at Tune's default 1 CPU the trial and its workers do not
fit 2 cores at once) and Ray's ``TuneReportCallback``. The worker function is the least a DDP
trial does: import torch, a tiny model wrapped by ``ray.train.torch.prepare_model``, one optimizer
step, one ``ray.train.report`` (no checkpoint). Nothing of raymt runs in the trials or the
workers (each reports whether ``raymt`` is in its ``sys.modules``). The variants (``--variants``):

- ``raymt``: Ray started by ``raymt.runtime.init_ray`` in the driver, as ``raymt search`` starts it
  (its Ray Train settings: the 0.5-s controller poll, no preemption watcher);
- ``defaults``: Ray as a user gets it (``benchmarks.peer_ray_tune.start_own_ray``: Ray's defaults);
- ``raymt-lean``: as ``raymt``, plus the Ray Train switches that are left (:data:`LEAN_ENV`:
  no Train metrics, no structured log files): what they would save;
- ``raymt-poll``: as ``raymt``, with the controller polling its workers every 0.1 s (:data:`POLL_ENV`)
  instead of 0.5 s: what a faster poll would save at most (a trial that trains pays the polls' CPU);
- ``raymt-hf`` (with ``--hf-base DIR``, a saved seq2seq model such as raymt's tiny base): as
  ``raymt``, but the worker loads the tokenizer and the model from DIR with ``transformers``'
  Auto classes and wraps that model instead: the floor of any trial that trains a Hugging Face
  model, the imports of transformers' model stack included.

Each trial is split with ``benchmarks.overhead.trial_rows`` (the worker reports the same markers
raymt's worker does), so the columns mean what they mean there: ``start`` (Tune trial start ->
the worker function's first line), ``setup`` (the model and ``prepare_model``), ``first_step``,
``report`` (the step's end -> the report's arrival in Tune), ``between`` (the last report -> the
next trial's start: the Train run's shutdown, the Tune trial's end, the next trial actor's start),
``fixed`` (all of it: the floor trains nothing). Two more columns come from the trial's own clock
(a marks file the trial function writes, to the millisecond rather than Tune's whole seconds):
``end`` (the report returned on the worker -> ``fit()`` returned in the trial: the Train run's
shutdown) and ``gap`` (``fit()`` returned -> the next trial function's first line: Tune's part).

``--compare`` reads the JSON that ``python -m benchmarks.overhead`` writes (raymt's default search
as users run it, on the same machine) and prints raymt's mean per term next to each floor's, and
raymt's excess over the bare floor with raymt's Ray (the first variant run). Times depend on the
machine's load: ``uptime`` is printed with them.
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
from benchmarks.machine_load import uptime

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "train_floor"
#: raymt's default search's trial shape (search_spaces/default.yaml, resources:)
WORKERS, CPUS_PER_WORKER, TRIAL_CPUS = 2, 0.95, 0.1
#: how each variant starts Ray, and the environment it adds before starting it
VARIANTS = {"raymt": "raymt", "defaults": "defaults", "raymt-lean": "raymt", "raymt-poll": "raymt", "raymt-hf": "raymt"}
#: Ray Train switches raymt does not set (ray/train/v2/_internal/constants.py, ray/train/v2/api/data_parallel_trainer.py)
LEAN_ENV = {
    "RAY_TRAIN_METRICS_ENABLED": "0",
    "RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING": "0",
}
#: the controller's poll at 0.1 s instead of raymt's 0.5 s (a user's value wins over raymt's)
POLL_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}


def floor_worker(config: dict) -> None:
    """The least a DDP worker does: a model wrapped for DDP, one optimizer step, one report."""
    started = time.time()
    import sys as _sys

    import ray.train
    import ray.train.torch
    import torch

    if config.get("hf_base"):  # what any trial of a Hugging Face seq2seq model loads first
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config["hf_base"])
        model = ray.train.torch.prepare_model(AutoModelForSeq2SeqLM.from_pretrained(config["hf_base"]))
        ids = tokenizer(["a b c"] * 4, return_tensors="pt")["input_ids"]
        forward = lambda: model(input_ids=ids, labels=ids).loss  # noqa: E731
    else:
        model = ray.train.torch.prepare_model(torch.nn.Linear(16, 4))  # DDP: a broadcast of the weights
        forward = lambda: model(torch.randn(8, 16)).square().mean()  # noqa: E731
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    prepared = time.time()
    loss = forward()
    loss.backward()  # DDP: the gradients' all-reduce
    optimizer.step()
    stepped = time.time()
    ray.train.report(
        {
            "worker_started_unix": started,
            "worker_import_s": 0.0,
            "setup_time_s": prepared - started,
            "first_step_unix": stepped,
            "epoch_train_time_s": stepped - prepared,
            "epoch_eval_time_s": 0.0,
            "checkpoint_write_s": 0.0,
            "raymt_imported": "raymt" in _sys.modules,
        }
    )
    if ray.train.get_context().get_world_rank() == 0:
        with open(config["marks"], "a") as f:  # the report has returned: the rest is the run's shutdown
            f.write(json.dumps({"reported_unix": time.time(), "raymt_imported_in_worker": "raymt" in _sys.modules}) + "\n")


def floor_trial(config: dict) -> None:
    """The Tune trial: one TorchTrainer run with raymt's default scaling, reporting to Tune."""
    began = time.time()
    import sys as _sys

    import ray.train
    from ray import tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = tune.get_context().get_trial_id()
    marks = str(Path(config["marks_dir"]) / f"{trial_id}.jsonl")
    with open(marks, "a") as f:
        f.write(json.dumps({"began_unix": began}) + "\n")
    trainer = TorchTrainer(
        floor_worker,
        train_loop_config={"marks": marks, "hf_base": config.get("hf_base")},
        torch_config=TorchConfig(backend="gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=config["workers"], resources_per_worker={"CPU": config["cpus_per_worker"]}),
        run_config=ray.train.RunConfig(name=f"floor-{trial_id}", storage_path=config["storage"], callbacks=[TuneReportCallback()]),
    )
    trainer.fit()
    with open(marks, "a") as f:
        f.write(json.dumps({"fit_returned_unix": time.time(), "raymt_imported_in_trial": "raymt" in _sys.modules}) + "\n")


def start_ray(variant: str) -> None:
    """Ray as raymt's search starts it, or as a user gets it (``benchmarks.peer_ray_tune``'s own
    local Ray: no raymt switches, only the address its processes need on a shared machine)."""
    # Ray's processes inherit the driver's environment at the start
    os.environ.update({"raymt-lean": LEAN_ENV, "raymt-poll": POLL_ENV}.get(variant, {}))
    if VARIANTS[variant] == "raymt":
        from raymt.runtime import init_ray

        init_ray(log=lambda m: None)
    else:
        from benchmarks.peer_ray_tune import start_own_ray

        start_own_ray(num_cpus=os.cpu_count())


def run_floor(out: Path, variant: str, trials: int, hf_base: str | None = None) -> dict:
    """One floor search in this process; its folder is ``out`` (``tune/``, ``marks/``, ``timings.json``)."""
    import ray
    from ray import tune

    out.mkdir(parents=True, exist_ok=True)
    (out / "marks").mkdir(exist_ok=True)
    start_ray(variant)
    config = {
        "hf_base": str(Path(hf_base).resolve()) if hf_base and variant == "raymt-hf" else None,
        "workers": WORKERS,
        "cpus_per_worker": CPUS_PER_WORKER,
        "storage": str((out / "train").resolve()),
        "marks_dir": str((out / "marks").resolve()),
    }
    tuner = tune.Tuner(
        tune.with_resources(floor_trial, {"CPU": TRIAL_CPUS}),
        param_space=config,
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=1),
        run_config=tune.RunConfig(name="tune", storage_path=str(out.resolve()), verbose=0),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    fit_s = time.perf_counter() - t0
    errors = [str(r.error) for r in grid if r.error is not None]
    ray.shutdown()
    (out / "timings.json").write_text(json.dumps({"tune_fit_s": fit_s}))
    if errors:
        raise SystemExit(f"{len(errors)} floor trial(s) failed: {errors[0]}")
    return {"tune_fit_s": fit_s}


def floor_rows(out: Path):
    """``benchmarks.overhead.trial_rows`` of the floor search, plus ``end`` and ``gap`` from the marks."""
    from benchmarks.overhead import trial_rows

    df = trial_rows(out)
    marks = {}
    for path in (out / "marks").glob("*.jsonl"):
        entry = {}
        for line in path.read_text().splitlines():
            entry.update(json.loads(line))
        marks[path.stem] = entry
    df["trial_began"] = [marks.get(t, {}).get("began_unix", math.nan) for t in df["trial_id"]]
    df["fit_returned"] = [marks.get(t, {}).get("fit_returned_unix", math.nan) for t in df["trial_id"]]
    df["end"] = df["fit_returned"] - [marks.get(t, {}).get("reported_unix", math.nan) for t in df["trial_id"]]
    df["gap"] = df["trial_began"].shift(-1) - df["fit_returned"]
    df["raymt_imported"] = [
        bool(marks.get(t, {}).get("raymt_imported_in_trial", True) or marks.get(t, {}).get("raymt_imported_in_worker", True)) for t in df["trial_id"]
    ]
    return df


#: (label, overhead.py columns summed): the terms raymt and the floor are compared on
TERMS = [
    ("start (fit -> worker's first line)", ["start"]),
    ("worker import + setup", ["import", "setup"]),
    ("first step", ["first_step"]),
    ("checkpoint + report", ["ckpt", "report"]),
    ("between trials", ["between"]),
    ("fixed per trial", ["fixed"]),
    ("to first step", ["to_first_step"]),
]


def compare(raymt: dict, floors: dict[str, dict]) -> list[dict]:
    """raymt's mean per term (``benchmarks.overhead``'s JSON), each floor's, and raymt's excess
    over the first floor given (the bare floor with Ray started as raymt starts it) and, when
    given, over the ``raymt-hf`` floor (what raymt's own code adds to a trial of the same model). ``fixed`` is the mean over all
    trials but the last (whose ``between`` is unknown), in both scripts."""

    def term(summary: dict, columns: list[str]) -> float:
        if columns == ["fixed"]:
            return summary["fixed_per_trial_s"]
        if columns == ["to_first_step"]:
            return summary["to_first_step_s"]
        values = [summary["mean_s"].get(c) for c in columns]
        values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        return float(sum(values)) if values else math.nan

    rows = []
    reference = next(iter(floors))
    for label, columns in TERMS:
        row = {"term": label, "raymt": term(raymt, columns)}
        for mode, summary in floors.items():
            row[f"floor ({mode})"] = term(summary, columns)
        row["raymt - floor"] = row["raymt"] - row[f"floor ({reference})"]
        if "raymt-hf" in floors and reference != "raymt-hf":  # raymt's own code: over a trial that loads the same HF model
            row["raymt - floor (raymt-hf)"] = row["raymt"] - row["floor (raymt-hf)"]
        rows.append(row)
    return rows


def measure(out: Path, variant: str, trials: int, hf_base: Path | None = None) -> dict:
    """One floor search in a fresh process (each variant starts its own Ray), then its table."""
    from benchmarks.overhead import COLUMNS, summary

    load = uptime()
    print(f"floor, variant {variant}: {trials} trials ...  [{load}]", flush=True)
    folder = out / variant
    command = [sys.executable, "-m", "benchmarks.train_floor", "--run-one", variant, "--trials", str(trials), "--out", str(out)]
    proc = subprocess.run(command + (["--hf-base", str(hf_base)] if hf_base else []), cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"the floor search ({variant}) failed (exit {proc.returncode})")
    df = floor_rows(folder)
    columns = [c for c in COLUMNS if c not in ("import", "eval", "ckpt")] + ["end", "gap"]
    print(df[["trial_id", *columns]].round(2).to_string(index=False))
    report = {"variant": variant, "uptime_before": load, "uptime_after": uptime(), **summary(df, folder, None)}
    inner = df.iloc[:-1]
    report["mean_s"].update({"end": round(float(df["end"].mean()), 2), "gap": round(float(inner["gap"].mean()), 2) if len(inner) else math.nan})
    report["raymt_in_trials_or_workers"] = bool(df["raymt_imported"].any())
    print(json.dumps(report, indent=1), flush=True)
    (out / f"{variant}.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=None, help="default: raymt defaults (+ raymt-hf with --hf-base), in that order"
    )
    parser.add_argument("--hf-base", type=Path, default=None, help="a saved seq2seq model folder: the raymt-hf variant loads it")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--compare", type=Path, default=None, help="benchmarks.overhead's JSON of raymt's default search")
    parser.add_argument("--tables", action="store_true", help="only print the tables of the floor searches already in --out")
    parser.add_argument("--run-one", choices=list(VARIANTS), default=None, help=argparse.SUPPRESS)  # the child process of measure()
    args = parser.parse_args(argv)
    if args.run_one:
        run_floor(args.out / args.run_one, args.run_one, args.trials, args.hf_base)
        return 0
    variants = args.variants or ["raymt", "defaults", *(["raymt-hf"] if args.hf_base else [])]
    if "raymt-hf" in variants and args.hf_base is None and not args.tables:
        parser.error("the raymt-hf variant loads the model given with --hf-base DIR")
    if args.tables:
        floors = {v: json.loads((args.out / f"{v}.json").read_text()) for v in variants if (args.out / f"{v}.json").exists()}
    else:
        floors = {v: measure(args.out, v, args.trials, args.hf_base) for v in variants}
    if args.compare is not None and floors:
        import pandas as pd

        rows = compare(json.loads(args.compare.read_text()), floors)
        print(f"\nraymt ({args.compare}) against the floor, mean seconds per trial:")
        print(pd.DataFrame(rows).round(2).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
