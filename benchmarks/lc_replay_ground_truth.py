"""Early stopping replayed on raymt's own space: ASHA vs mo_asha vs none on the ground-truth curves.

Issue 17 item 2 (schedulers). ``benchmarks/data/ground_truth_real_text.csv`` (made by
``benchmarks.ground_truth``) holds, for every configuration of ``search_spaces/ground_truth.yaml``
(full fine-tuning, LoRA with two target sets, bottleneck adapters on the real-text en->cs task)
and every seed it was trained with, the validation BLEU after each of its 3 epochs and the exact
storage of its artefact. Each configuration becomes one recorded run of ``benchmarks.lc_replay``
(its curve: the mean over its seeds of each epoch's BLEU, or one seed's curve with
``--table-seed``), and the replay, the measures and the table are lc_replay's own:

    python -m benchmarks.lc_replay_ground_truth [--table CSV] [--seeds 20] [--table-seed N]

- Schedulers: raymt's (``raymt.search.scheduler``), with the settings a user gets: the rungs of
  the shipped default search (``search_spaces/default.yaml``'s ``scheduler:``: grace_period 1
  epoch, reduction_factor 2, read from the file) for Tune's single-metric ASHA and for mo_asha
  with its default Pareto ranking and with storage bands; ``max_t`` = the 3 epochs. Nothing is
  chosen on this table.
- Metric: the trial's best validation BLEU so far (``bleu_best``), which is what a raymt trial
  reports as ``bleu`` (its best epoch), and its BLEU when it ends; storage is the table's
  ``storage_mb``, known before training.
- Replay: :func:`benchmarks.lc_replay.replay_in_process`: the same scheduler objects, driven as
  Tune drives them with one trial at a time (``max_concurrent_trials: 1``, the shipped setting on
  a small machine), without starting Ray. On the NMTLC curves it gives lc_replay's Tune-run table
  digit for digit (BENCHMARKS.md). 20 arrival orders (``random.Random(seed).shuffle``, seeds
  0-19); ``none`` is order-free and runs once.
- Measures (lc_replay's ``summarise``): saved = epochs not run / all epochs; HV kept = hypervolume
  of the front of the trials that ran to the end, as a fraction of the front when every trial
  runs all its epochs, on (BLEU, log10 MB) with reference (BLEU 0, largest storage + 10% of the
  log range); front kept = members of the no-stopping front that still ran to the end.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.lc_replay import OUT_DIR, Run, front_ids, format_table, replay_in_process, scheduler_specs, summarise
from benchmarks.sampler_replay import TARGETS, per_configuration, read_table

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "benchmarks" / "data" / "ground_truth_real_text.csv"
DEFAULT_SPACE = ROOT / "search_spaces" / "default.yaml"
KINDS = ("none", "asha", "mo_asha", "mo_asha_bands")


def runs_from_table(table: pd.DataFrame, group: str = "en-cs", seed: int | None = None) -> list[Run]:
    """One recorded run per completed configuration: its per-epoch validation BLEU (the mean over
    its seeds; ``seed``: that seed's curve only) and exact MB."""
    epochs = sorted((c for c in table.columns if c.startswith("val_bleu_epoch")), key=lambda c: int(c.removeprefix("val_bleu_epoch")))
    if not epochs:
        raise ValueError("the table has no val_bleu_epoch<k> columns (make it with `python -m benchmarks.ground_truth`)")
    if seed is not None:
        table = table[table["seed"] == seed]
        if not len(table):
            raise ValueError(f"the table has no rows of seed {seed}")
    runs = []
    for row in per_configuration(table).query("status == 'completed'").to_dict("records"):
        curve = tuple(float(row[c]) for c in epochs if not math.isnan(float(row[c])))
        size = next((row[p] for p in ("lora.r", "adapter.size") if p in row and not pd.isna(row[p])), 0)
        runs.append(
            Run(
                run_id=str(row["trial_id"]),
                group=group,
                model=str(row["method"]) if row["method"] != "lora" else f"lora {row[TARGETS]}",
                rank=int(size),
                batch_size=0,
                lr=float(row["train.lr"]),
                storage_mb=float(row["storage_mb"]),
                curve=curve,
            )
        )
    return runs


def shipped_rungs(path: Path = DEFAULT_SPACE) -> tuple[float, float]:
    """(grace_period, reduction_factor) of the shipped default search's scheduler."""
    from raymt.search.scheduler.options import parse_scheduler_config

    cfg = parse_scheduler_config(yaml.safe_load(path.read_text())["search"]["scheduler"], where=f"{path.name}: search.scheduler")
    return float(cfg.grace_period), float(cfg.reduction_factor)


def run(runs: Sequence[Run], seeds: int, kinds: Sequence[str] = KINDS, rungs: tuple[float, float] | None = None) -> pd.DataFrame:
    """One summary row per scheduler and arrival order (lc_replay's columns)."""
    grace, rf = rungs or shipped_rungs()
    rows, baseline_front = [], set()
    for spec in scheduler_specs(["none", *(k for k in kinds if k != "none")], [grace], [rf], "bleu_best"):
        for seed in range(seeds) if spec.kind != "none" else [0]:
            trials = replay_in_process(runs, spec, seed=seed)
            if spec.kind == "none":
                baseline_front = front_ids(trials)
            rows.append(
                dict(
                    group=runs[0].group,
                    scheduler=spec.label,
                    kind=spec.kind,
                    **dict(spec.params),
                    seed=seed,
                    **summarise(trials, runs, baseline_front),
                )
            )
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--seeds", type=int, default=20, help="arrival orders (default 20)")
    ap.add_argument("--table-seed", type=int, default=None, help="replay this seed's curves only (default: the mean over seeds)")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "lc_replay_ground_truth.csv")
    args = ap.parse_args(argv)
    runs = runs_from_table(read_table(args.table), seed=args.table_seed)
    grace, rf = shipped_rungs()
    t0 = time.perf_counter()
    df = run(runs, args.seeds, rungs=(grace, rf))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    epochs = {len(r.curve) for r in runs}
    curves = "the mean over seeds" if args.table_seed is None else f"seed {args.table_seed}"
    print(
        f"{args.table.name} ({curves}): {len(runs)} runs of {sorted(epochs)} epochs; grace_period {grace:g}, reduction_factor {rf:g}; {time.perf_counter() - t0:.1f} s\n"
    )
    print(format_table(df))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
