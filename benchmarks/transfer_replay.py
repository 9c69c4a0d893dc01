"""Transfer measured on the ground truth: raymt's sampler with a prior from another task's table.

Issue 17 item 4's figure. Two ground-truth tables of the SAME space (``search_spaces/
ground_truth.yaml``'s configurations, same parameter names) on two tasks:

- ``benchmarks/data/ground_truth_real_text.csv``: real text, en->cs on Multi30k, base
  tiny-multilingual (``raymt search search_spaces/ground_truth.yaml``);
- ``benchmarks/data/ground_truth_synthetic.csv``: the synthetic default task, base tiny, medical
  domain (``raymt search search_spaces/ground_truth_synthetic.yaml``).

Each is the target in turn, the other the source: raymt's default sampler is replayed on the
target (``benchmarks.sampler_replay``'s lookup objective, hypervolume and evaluations-to-95%),
once without a prior and once with the source's trials as its related task, 20 seeds each. Both
are replayed on the configurations the two tables share (:func:`shared`: all 30 of the shipped
tables; a table without the q_proj+v_proj LoRAs, as the synthetic one was before they were run,
leaves them out of both) and each configuration counts as the mean over its seeds:

    python -m benchmarks.transfer_replay [--seeds 20] [--evals 32] [--real-text CSV] [--synthetic CSV]

- The source goes through the reader of ``search.transfer_from`` (``read_related``: parameters
  matched to the space by name and kind, a mismatch an error), as a trials table
  (``search.sampler.raymt.related_trials``): the ground-truth CSV's configuration columns, its
  ``val_bleu`` as ``bleu`` (the search's objective) and ``storage_mb``. The whole shared source
  grid is the prior: the best case for transfer, a user's earlier search is usually smaller.
- ``grid`` (the configurations in a seeded random order, each once) is the no-model reference.
- Nothing is tuned here: raymt's sampler with its shipped options, the prior as a user gets it.
- p: two-sided Mann-Whitney U over seeds of evaluations-to-95% (never = evaluations + 1),
  transfer vs no transfer.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: tiny GP matrices, a shared machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.sampler_replay import (
    KEY_PARAMS,
    TARGETS,
    GroundTruth,
    _key,
    grid_space,
    per_configuration,
    read_table,
    run,
    summary_table,
    with_targets,
)
from raymt.search.space import CompiledSpace

ROOT = Path(__file__).resolve().parents[1]
TABLES = {
    "real-text en-cs": ROOT / "benchmarks" / "data" / "ground_truth_real_text.csv",
    "synthetic": ROOT / "benchmarks" / "data" / "ground_truth_synthetic.csv",
}
OUT_CSV = ROOT / "benchmarks" / "out" / "transfer_replay.csv"
TRANSFER = "raymt+transfer"


def as_trials_table(table: pd.DataFrame, path: Path) -> Path:
    """The ground-truth table as an earlier search's trials table, one trial per configuration:
    its configuration, ``bleu`` (the validation BLEU the search optimised; the mean over seeds),
    ``storage_mb`` and ``status``."""
    table = per_configuration(table)
    out = table[[*KEY_PARAMS, "storage_mb", "status"]].assign(bleu=table["val_bleu"])
    out.to_csv(path, index=False)
    return path


def shared(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], CompiledSpace]:
    """Each table restricted to the configurations every table has, and the grid of those (the
    ground-truth space with the LoRA target sets they share)."""
    tables = {name: with_targets(t) for name, t in tables.items()}
    keys = [{_key(r) for r in t.to_dict("records")} for t in tables.values()]
    common = set.intersection(*keys)
    out = {name: t[[_key(r) in common for r in t.to_dict("records")]].reset_index(drop=True) for name, t in tables.items()}
    targets = {v for t in out.values() for v in t[TARGETS] if isinstance(v, str)}
    return out, grid_space(targets=sorted(targets))


def rank_agreement(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, float]:
    """(shared completed configurations, Spearman correlation of their validation BLEU)."""
    from scipy.stats import spearmanr

    ta, tb = GroundTruth(a), GroundTruth(b)
    shared = sorted(set(ta.rows) & set(tb.rows), key=repr)
    if len(shared) < 3:
        return len(shared), math.nan
    return len(shared), float(spearmanr([ta.rows[k]["val_bleu"] for k in shared], [tb.rows[k]["val_bleu"] for k in shared]).statistic)


def transfer_p(raw: pd.DataFrame, n_evals: int) -> float:
    """Two-sided Mann-Whitney U of evaluations-to-95% (never = n_evals + 1), transfer vs none."""
    from scipy.stats import mannwhitneyu

    def to95(label: str) -> np.ndarray:
        return np.minimum(raw.loc[raw["sampler"] == label, "evals_to_95"].to_numpy(float), n_evals + 1)

    return float(mannwhitneyu(to95(TRANSFER), to95("raymt"), alternative="two-sided").pvalue)


def replay_direction(
    target: str, source: str, tables: dict[str, pd.DataFrame], seeds: int, n_evals: int, log=print, space: CompiledSpace | None = None
) -> pd.DataFrame:
    """raymt without and with the source's prior, and grid, on the target: one row per seed."""
    with tempfile.TemporaryDirectory(prefix="raymt_transfer_") as tmp:
        prior = as_trials_table(tables[source], Path(tmp) / "trials.csv")
        raw = run(tables[target], ["raymt", "grid"], seeds, n_evals, log=log, pair=target, related={TRANSFER: ("raymt", prior)}, space=space)
    return raw.assign(source=source)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--evals", type=int, default=32)
    ap.add_argument("--out", type=Path, default=OUT_CSV)
    for name, path in TABLES.items():
        ap.add_argument(f"--{name.split()[0]}", type=Path, default=path, help=f"the {name} table (default {path.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    paths = {name: getattr(args, name.split()[0].replace("-", "_")) for name in TABLES}
    tables, space = shared({name: read_table(path) for name, path in paths.items()})
    n, rho = rank_agreement(*tables.values())
    print(f"{n} configurations in both tables (replayed on those; mean over seeds); Spearman correlation of their validation BLEU: {rho:.2f}")
    raws = []
    for target, source in (list(TABLES), list(reversed(TABLES))):
        t0 = time.perf_counter()
        raw = replay_direction(target, source, tables, args.seeds, args.evals, space=space)
        raws.append(raw)
        print(f"\ntarget {target}, prior from {source} ({time.perf_counter() - t0:.0f} s):")
        print(summary_table(raw, args.evals))
        print(f"transfer vs none, evaluations to 95%: p = {transfer_p(raw, args.evals):.3g} (two-sided Mann-Whitney U)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(raws, ignore_index=True).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
