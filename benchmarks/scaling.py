"""The scaling curve: trials per hour and fixed cost per trial as a trial's own work grows.

    python -m benchmarks.scaling [--factors 1 4 16] [--trials 3] [--out DIR] [--cache DIR] [--epochs N]

`raymt search` on `search_spaces/default.yaml` (2 DDP workers x 0.95 CPU, 3 epochs, greedy BLEU
on 200 validation pairs) in a fresh process per size, with the training set multiplied by each
factor (2,000 pairs x1, x4, x16) and nothing else changed but: no early stopping (every trial
runs its 3 epochs: the work per trial is the factor's) and ``--trials`` trials (3 = the space's
``points_to_evaluate``: full, LoRA r8 all-linear, adapter 32, the same at every size). The tiny
base is built once and shared.

Per size, from Tune's ``fit()`` time (the search itself: data preparation and Ray start are
left out, they are printed apart): the share spent training, the share training + evaluating
(the trials' own ``train_time_s`` / ``eval_time_s``), the fixed cost per trial (everything
else in ``fit()`` divided by the trials: process starts, imports, model loading, checkpoints,
reports) and trials per hour. The fixed cost should stay flat while the training share rises
toward 1. Plot: ``benchmarks/out/scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def measure(factor: int, trials: int, out: Path, cache: Path | None, epochs: int | None = None) -> dict:
    from benchmarks.search_default import run_one

    def edit(raw: dict) -> None:
        raw["data"]["train_size"] = raw["data"]["train_size"] * factor
        raw["search"]["num_samples"] = trials
        raw["search"]["scheduler"] = {"kind": "none"}
        if epochs is not None:
            raw["train"]["epochs"] = epochs

    load = os.getloadavg()
    run = run_one("none", out, cache, name=f"scaling-x{factor}", edit=edit)
    df = run["trials"]
    timings = json.loads((run["dir"] / "timings.json").read_text())
    fit = timings["tune_fit_s"]
    train, evals = float(df["train_time_s"].fillna(0).sum()), float(df["eval_time_s"].fillna(0).sum())
    return {
        "factor": factor,
        "train_pairs": int(2000 * factor),
        "epochs": int(df["epochs_done"].max()),
        "trials": len(df),
        "search_fit_s": round(fit, 1),
        "data_prep_s": round(timings["prepare_s"], 1),
        "train_s_per_trial": round(train / len(df), 1),
        "eval_s_per_trial": round(evals / len(df), 1),
        "fixed_cost_s_per_trial": round((fit - train - evals) / len(df), 1),
        "share_training": round(train / fit, 3),
        "share_training_evaluation": round((train + evals) / fit, 3),
        "trials_per_hour": round(3600 * len(df) / fit, 1),
        "best_bleu": df.groupby("method")["bleu"].max().round(2).to_dict(),
        "load_before": load,
        "load_after": os.getloadavg(),
    }


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(table["train_pairs"], table["share_training"], "o-", label="training")
    left.plot(table["train_pairs"], table["share_training_evaluation"], "s--", label="training + evaluation")
    left.set(xscale="log", ylim=(0, 1), xlabel="training pairs", ylabel="share of the search's wall time")
    left.axhline(1.0, color="grey", lw=0.5)
    left.legend()
    right.plot(table["train_pairs"], table["fixed_cost_s_per_trial"], "o-", color="C3", label="fixed cost per trial (s)")
    right.set(xscale="log", xlabel="training pairs", ylabel="fixed cost per trial (s)", ylim=(0, 1.3 * table["fixed_cost_s_per_trial"].max()))
    twin = right.twinx()
    twin.plot(table["train_pairs"], table["trials_per_hour"], "^:", color="C2", label="trials per hour")
    twin.set_ylabel("trials per hour")
    right.legend(handles=right.get_lines() + twin.get_lines(), loc="upper right")
    for ax in (left, right):
        ax.set_xticks(table["train_pairs"], [f"{n:,}" for n in table["train_pairs"]])
        ax.minorticks_off()
    fig.suptitle("raymt default task on 2 cores: work per trial " + ", ".join(f"x{f}" for f in table["factor"]))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT / "scaling")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the space's 3; fewer only to check the script runs)")
    parser.add_argument("--cache", type=Path, default=None, help="a .cache folder of an earlier run (skips building the tiny base)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from benchmarks.search_default import link_cache

    link_cache(args.out, args.cache)
    # sizes may be run one call at a time (--factors 16 later): earlier sizes' rows in --out are kept
    saved = args.out / "scaling.json"
    rows = {row["factor"]: row for row in (json.loads(saved.read_text()) if saved.exists() else [])}
    cache = (args.out / ".cache").resolve() if (args.out / ".cache").exists() else None
    for factor in args.factors:
        print(f"default search, training set x{factor} ...", flush=True)
        rows[factor] = measure(factor, args.trials, args.out, cache, args.epochs)
        cache = cache or (args.out / ".cache").resolve()
        saved.write_text(json.dumps(sorted(rows.values(), key=lambda r: r["factor"]), indent=1))  # survives a later size's failure
    table = pd.DataFrame(sorted(rows.values(), key=lambda r: r["factor"]))
    OUT.mkdir(exist_ok=True)
    plot(table, OUT / "scaling.png")
    cols = ["train_pairs", "trials", "search_fit_s", "train_s_per_trial", "eval_s_per_trial", "fixed_cost_s_per_trial"]
    cols += ["share_training", "share_training_evaluation", "trials_per_hour"]
    print("\n" + table[cols].to_markdown(index=False))
    print(f"\nplot: {OUT / 'scaling.png'}; rows: {args.out / 'scaling.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
