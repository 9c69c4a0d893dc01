"""Samplers replayed on raymt's own space: the ground-truth table as a lookup objective.

Issue 17 items 2 and 5. ``benchmarks/data/ground_truth_real_text.csv`` (``benchmarks.ground_truth``)
holds every configuration of the discretised space of ``search_spaces/ground_truth.yaml``,
trained by raymt, with one row per seed. A "trial" here looks its configuration up, so a search costs seconds and the
true Pareto front is known, as ``benchmarks.nmt_hpo_search`` does for the Zhang & Duh tables
(its hypervolume, evaluations-to-95% and comparison code are reused).

    python -m benchmarks.sampler_replay [--table CSV] [--seeds 20] [--evals 32] [--table-seed N]

Setup, and the reasons:

- Space: the very define-by-run space the grid search trained (the YAML's ``search.space``,
  each parameter a categorical over the grid's values, conditional as in a real search), so every
  proposal is a row of the table: no snapping.
- Objectives: maximise validation BLEU (``val_bleu``, the trial's result; a configuration
  trained with several seeds counts as the mean over its completed seeds: :func:`per_configuration`),
  minimise ``storage_mb``. As in a real ``raymt search``, raymt's sampler is told storage before the trial
  (a known objective, here read from the table; the search computes it from the configuration),
  the stock samplers are not (they cannot use it).
- Hypervolume on (BLEU, log10 storage): storage spans three orders of magnitude (a LoRA of rank 2
  to the full model), and on a linear axis the full model, at the reference point's storage,
  would add nothing however good its BLEU. Reference point: (lowest BLEU in the table, largest
  log10 storage + 10% of the log range). ``to95``: evaluations until 95% of the true front's
  hypervolume; hv@n: the fraction after n evaluations. A repeated configuration costs an
  evaluation (in a real search it is a trial).
- Samplers with raymt's shipped options (what a user gets from ``search.sampler.kind``):
  ``raymt`` (default kind; its constants were chosen on the Zhang & Duh tables, never on this
  table), ``tpe`` (raymt's kind: multivariate, grouped), ``optuna-tpe`` (Optuna's TPESampler
  defaults, as OptunaSearch builds it), ``gp`` (Optuna's GPSampler), ``nsga2``, ``random``, and
  ``grid`` (raymt's grid kind: the configurations in a seeded random order, each once: random
  search without repeats, the fair baseline on a space this small, where ``random`` draws with
  replacement). Nothing is tuned on this table.
- Sequential (one trial at a time: every sampler sees every result before proposing).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: tiny GP matrices, a shared machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import yaml

from benchmarks.nmt_hpo_search import compare_to_stock, evals_to, format_comparison, hypervolume
from raymt.search.config import SearchConfig
from raymt.search.sampler.options import SamplerConfig
from raymt.search.sampler.registry import make_sampler
from raymt.search.sampler.sources import space_params
from raymt.search.space import CompiledSpace, _label

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "benchmarks" / "data" / "ground_truth_real_text.csv"
SPACE_YAML = ROOT / "search_spaces" / "ground_truth.yaml"
OUT_CSV = ROOT / "benchmarks" / "out" / "sampler_replay.csv"
OBJECTIVES = {"bleu": "max", "storage_mb": "min"}
SAMPLERS = ("raymt", "tpe", "optuna-tpe", "gp", "nsga2", "random", "grid")
STOCK = ("optuna-tpe", "tpe", "gp", "nsga2", "random")
CHECKPOINTS = (8, 16, 32)
KEY_PARAMS = ("method", "train.lr", "lora.r", "lora.target_modules", "adapter.size")
TARGETS = "lora.target_modules"
#: the target set of a table made before the space searched it (ground_truth.yaml fixed it then)
TARGETS_BEFORE = "all-linear"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _key(params: dict) -> tuple:
    out = []
    for p in KEY_PARAMS:
        v = params.get(p)
        out.append(None if v is None or (isinstance(v, float) and math.isnan(v)) else (v if isinstance(v, str) else round(float(v), 12)))
    return tuple(out)


def read_table(path: Path) -> pd.DataFrame:
    return with_targets(pd.read_csv(path))


def with_targets(table: pd.DataFrame) -> pd.DataFrame:
    """A table made before the space searched the LoRA target set (no ``lora.target_modules``
    column) gets the value the space fixed then on its LoRA rows."""
    if TARGETS in table.columns:
        return table
    at = table.columns.get_loc("lora.r") + 1 if "lora.r" in table.columns else len(table.columns)
    return table.assign(**{TARGETS: np.where(table["method"] == "lora", TARGETS_BEFORE, None)})[[*table.columns[:at], TARGETS, *table.columns[at:]]]


def per_configuration(table: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: the mean over its completed seeds of every BLEU / chrF / time
    column (``seeds`` = how many; ``val_bleu_sd`` = their standard deviation, NaN for one seed), its
    storage; ``status`` completed when any seed completed (else that of its first row);
    ``trial_id`` the seeds' trial ids joined by ``+``."""
    table = with_targets(table)
    table = table.assign(_key=[_key(r) for r in table.to_dict("records")])
    rows = []
    for _, g in table.groupby("_key", sort=False, dropna=False):
        done = g[g["status"] == "completed"]
        row = dict((done if len(done) else g).iloc[0])
        if len(done):
            for col in done.columns:
                if col.startswith(("val_bleu", "test_bleu", "test_chrf")) or col.endswith("_time_s"):
                    row[col] = float(pd.to_numeric(done[col], errors="coerce").mean())
            if "val_bleu" in done.columns:
                row["val_bleu_sd"] = float(done["val_bleu"].std()) if len(done) > 1 else math.nan
        row["seeds"] = len(done)
        if "trial_id" in g.columns:
            row["trial_id"] = "+".join((done if len(done) else g)["trial_id"].astype(str))
        rows.append(row)
    return pd.DataFrame(rows).drop(columns=["_key", "seed", "best_epoch"], errors="ignore")


class GroundTruth:
    """The table as a lookup objective (the mean over seeds), with its true front's hypervolume."""

    def __init__(self, table: pd.DataFrame):
        table = per_configuration(table)
        done = table[table["status"] == "completed"]
        self.rows = {_key(r): r for r in done.to_dict("records")}
        self.failed = {_key(r) for r in table[table["status"] != "completed"].to_dict("records")}
        bleu = done["val_bleu"].to_numpy(float)
        logs = np.log10(done["storage_mb"].to_numpy(float))
        span = logs.max() - logs.min()
        self.ref = (float(bleu.min()), float(logs.max() + 0.1 * span))
        self.true_hv = hypervolume(bleu, logs, self.ref)

    def lookup(self, params: dict) -> dict | None:
        key = _key(params)
        if key in self.failed:
            return None
        if key not in self.rows:
            raise KeyError(f"configuration {params} is not in the ground-truth table")
        return self.rows[key]

    def storage(self, params: dict) -> float:
        row = self.lookup(params)
        return float(row["storage_mb"]) if row is not None else math.nan

    def hv_curve(self, results: list[tuple[float, float] | None]) -> np.ndarray:
        out, pts = [], []
        for r in results:
            if r is not None:
                pts.append(r)
            if pts:
                b, s = np.array(pts).T
                out.append(hypervolume(b, np.log10(s), self.ref) / self.true_hv)
            else:
                out.append(0.0)
        return np.array(out)


def grid_space(path: Path = SPACE_YAML, targets: Sequence[str] | None = None) -> CompiledSpace:
    """The grid's conditional space; ``targets``: only the LoRA target sets with these labels
    (the configurations two tables share, when one of them lacks a target set)."""
    raw = yaml.safe_load(path.read_text())["search"]
    if targets is not None:
        choices = raw["space"]["methods"]["lora"]["target_modules"]["choices"]
        raw["sampler"]["grid"]["values"][TARGETS] = [c for c in choices if _label(c) in targets]
    search = SearchConfig.model_validate(raw)
    return CompiledSpace(search.space, {}, grid=search.grid_values)


def build(name: str, seed: int, space: CompiledSpace, truth: GroundTruth, related: Path | None = None) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` with raymt's shipped options; ``related`` (raymt only): a trials table
    of an earlier search, read and checked against the space as ``search.sampler.raymt.related_trials``
    (the reader of ``search.transfer_from``) is."""
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    known = {"storage_mb": truth.storage} if name == "raymt" else {}
    if related is None:
        return make_sampler(SamplerConfig(kind=name, seed=seed), objectives=OBJECTIVES, space_fn=space.define_by_run, known_objectives=known)
    if name != "raymt":
        raise ValueError(f"only raymt's sampler takes related trials, not {name!r}")
    return make_sampler(
        SamplerConfig(kind="raymt", seed=seed, raymt={"related_trials": [related]}),
        objectives=OBJECTIVES,
        space_fn=space.define_by_run,
        known_objectives=known,
        param_names=space.flat_columns(),
        space_params=space_params(space),
    )


def replay(
    name: str, seed: int, space: CompiledSpace, truth: GroundTruth, n_evals: int, related: Path | None = None
) -> list[tuple[float, float] | None]:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=build(name, seed, space, truth, related))
    results: list[tuple[float, float] | None] = []
    for _ in range(n_evals):
        trial = study.ask()
        space.define_by_run(trial)
        row = truth.lookup(trial.params)
        if row is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            results.append(None)
            continue
        values = (float(row["val_bleu"]), float(row["storage_mb"]))
        study.tell(trial, list(values))
        results.append(values)
    return results


def run(
    table: pd.DataFrame,
    samplers,
    seeds: int,
    n_evals: int,
    log=print,
    *,
    pair: str = "en-cs",
    related: dict[str, tuple[str, Path]] | None = None,
    space: CompiledSpace | None = None,
) -> pd.DataFrame:
    """One row per sampler and seed; ``related`` adds variants ``{label: (sampler, trials table)}``
    (e.g. raymt's sampler with a transfer source), recorded under their label. ``space``: the
    grid replayed (default ``search_spaces/ground_truth.yaml``'s)."""
    truth, space = GroundTruth(table), space or grid_space()
    recs = []
    variants = [(name, name, None) for name in samplers] + [(label, name, path) for label, (name, path) in (related or {}).items()]
    for label, name, source in variants:
        t0 = time.perf_counter()
        for seed in range(seeds):
            t = time.perf_counter()
            curve = truth.hv_curve(replay(name, seed, space, truth, n_evals, source))
            rec = {"engine": "optuna", "split": "ground-truth", "pair": pair, "sampler": label, "seed": seed, "n_evals": n_evals}
            rec.update({f"hv@{c}": float(curve[c - 1]) for c in CHECKPOINTS if c <= n_evals})
            rec["evals_to_95"] = evals_to(curve)
            rec["wall_s"] = time.perf_counter() - t
            recs.append(rec)
        log(f"{label}: {seeds} seeds in {time.perf_counter() - t0:.0f} s")
    return pd.DataFrame(recs)


def summary_table(raw: pd.DataFrame, n_evals: int) -> str:
    hv = [f"hv@{c}" for c in CHECKPOINTS if f"hv@{c}" in raw]
    cols = ["sampler", "seeds", *(f"{c} median" for c in hv), "to95 median [IQR]", "reached 95%"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, g in raw.groupby("sampler", sort=False):
        e = np.minimum(g["evals_to_95"].to_numpy(float), n_evals + 1)
        q = np.quantile(e, [0.25, 0.5, 0.75])

        def ev(v: float) -> str:
            return f">{n_evals}" if v > n_evals else f"{v:g}"

        cells = [name, str(len(g)), *(f"{g[c].median():.3f}" for c in hv)]
        cells += [f"{ev(q[1])} [{ev(q[0])}, {ev(q[2])}]", f"{int(np.isfinite(g['evals_to_95']).sum())}/{len(g)}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--evals", type=int, default=32)
    ap.add_argument("--table-seed", type=int, default=None, help="replay on this seed's rows only (default: every configuration's mean over seeds)")
    ap.add_argument("--out", type=Path, default=OUT_CSV)
    args = ap.parse_args(argv)
    table = read_table(args.table)
    if args.table_seed is not None:
        table = table[table["seed"] == args.table_seed]
    truth = GroundTruth(table)
    seeds = sorted(int(s) for s in table["seed"].dropna().unique()) if "seed" in table else [0]
    print(
        f"{args.table.name}: {len(truth.rows)} completed configurations (seeds {seeds}; objective: the mean over seeds), "
        f"{len(truth.failed)} failed; true front hv {truth.true_hv:.3f}"
    )
    raw = run(table, args.samplers, args.seeds, args.evals)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw.to_csv(args.out, index=False)
    print(summary_table(raw, args.evals))
    cmp = compare_to_stock(raw, challengers=("raymt",))
    if len(cmp):
        print()
        print(format_comparison(cmp, args.evals))
        r = cmp.iloc[0]
        print(f"\nrandom's median to95: {r['random_to95']:g}; a third of it: {r['random_to95'] / 3:.1f}; raymt: {r['to95']:g}")


if __name__ == "__main__":
    main()
