"""How much the double selection on the validation split inflates the front's BLEU (issue 20).

Each trial's ``bleu`` is the best of its epochs on the validation split, and the front is chosen
on that split too; ``test_bleu`` scores the same kept model once on the held-out test split
(raymt.results.test_scores). This prints, per front member, validation vs test BLEU, the gap,
and which choices (best trial, knee) change on test.

    python -m benchmarks.held_out_gap                     # runs the default search first (a fresh folder)
    python -m benchmarks.held_out_gap --results DIR ...   # existing results folders (front scored if not yet)

The default search runs as a user runs it (``python -m raymt.cli search``, search_spaces/default.yaml
with only the name and results folder changed) under benchmarks/out/held_out_gap/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "held_out_gap"


def run_default_search(out: Path) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    name = time.strftime("default-%Y%m%d-%H%M%S")
    raw["name"], raw["storage_path"] = name, str(out)
    out.mkdir(parents=True, exist_ok=True)
    space = out / f"{name}.yaml"
    space.write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "raymt.cli", "search", str(space)], cwd=ROOT, capture_output=True, text=True)
    (out / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"the default search failed (exit {proc.returncode}); log: {out / (name + '.log')}")
    return out / name


def front_gap(results_dir: Path, log=print) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The validation front of a results folder with its test scores (scored now if missing),
    the whole trials table and the objectives."""
    from raymt.analysis.pareto import pareto_mask
    from raymt.analysis.results import load
    from raymt.config.load import read_yaml
    from raymt.results.files import CONFIG_COPY
    from raymt.results.test_scores import score_front_on_test

    objectives = (read_yaml(results_dir / CONFIG_COPY).get("search") or {}).get("objectives") or {"bleu": "max", "storage_mb": "min"}
    trials = score_front_on_test(results_dir, load(results_dir), objectives, log=log)
    front = trials.loc[pareto_mask(trials, objectives).to_numpy()].copy()
    front["gap"] = front["bleu"] - front["test_bleu"]
    cols = [c for c in ("trial_id", "method", "storage_mb", "bleu", "test_bleu", "test_bleu_ci95", "gap") if c in front]
    return front[cols].sort_values("storage_mb").reset_index(drop=True), trials, objectives


def main(argv=None) -> int:
    from raymt.analysis.held_out import choice_changes

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", nargs="+", type=Path, default=None, help="results folders (default: run the default search)")
    args = parser.parse_args(argv)
    folders = args.results or [run_default_search(OUT)]
    for folder in folders:
        table, trials, objectives = front_gap(folder, log=lambda m: None)
        print(f"## {folder}\n")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        gap = table["gap"].dropna()
        if len(gap):
            print(f"\nvalidation - test BLEU over {len(gap)} front members: mean {gap.mean():+.2f}, min {gap.min():+.2f}, max {gap.max():+.2f}")
        for line in choice_changes(trials, objectives):
            print(f"- {line}")
        print()
    print(f"machine load (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
