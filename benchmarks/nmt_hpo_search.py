"""How fast does each sampler find the BLEU / decode-time Pareto front of real NMT models?

Data: the lookup tables of Zhang & Duh (2020, TACL, "Reproducible and Efficient Benchmarks for
Hyperparameter Optimization of Neural Machine Translation Systems"): for each language pair,
every Transformer trained on a grid of 6 hyperparameters with its dev BLEU and decode time
(see /work/shared/data/nmt-hpo/SOURCE.md). A "trial" looks its configuration up instead of
training, so a whole search costs seconds and the true Pareto front is known.

Run: ``python -m benchmarks.nmt_hpo_search`` (full grid, plain Optuna loop, plus the Ray Tune
path on a subset), ``--smoke`` for CI (< 60 s), ``--help`` for the knobs.

Setup, and the reasons:

- Search space: the six hyperparameters, each ``suggest_categorical`` over the values that
  occur in the pair's table. About half of the 216 grid combinations were never trained; such a
  proposal is *snapped* to the nearest existing configuration (distance: sum over parameters of
  the difference of positions in the sorted value list, each scaled to [0, 1]; ties go to the
  lower table row). The sampler is told the snapped configuration's results for the proposal it
  made. Every sampler sees exactly this space and this snapping.
- Objectives: maximise dev BLEU, minimise dev decode time (``dev_gpu_time``), as in the tables'
  ``.fronts`` files. Decode time is NOT known before a trial runs, so here raymt's sampler models
  both objectives; what it knows in advance comes only from the OTHER pairs (leave-one-out): a
  prior for BLEU and for decode time learned on the other three pairs' tables, whose
  Pareto-optimal configurations are also among its candidates. The target pair's own table is
  never shown to it.
- Quality of a search after n evaluations: hypervolume of the front of what was evaluated, as a
  fraction of the true front's hypervolume. Reference point: (lowest BLEU in the pair's table,
  highest decode time in the pair's table).
- Sequential trials (``max_concurrent_trials=1``), so every sampler sees every result before
  its next proposal.
- Engines: ``optuna`` runs the very sampler objects ``make_sampler`` builds in a plain
  ask/tell loop (fast: the full grid). ``tune`` runs them through raymt's real search machinery:
  ``make_searcher`` + ``make_tuner`` (Ray Tune ``Tuner`` + ``OptunaSearch``, FIFO scheduler) with
  a function trainable doing the lookup. Both are reported, labelled.
"""

from __future__ import annotations

import os

# Before torch is imported (by the samplers): one BLAS/OpenMP thread. The GP samplers work on
# tiny matrices and, on a shared machine, thread pools fighting over cores made them ~100x
# slower (Optuna's GPSampler docs give the same advice).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from raymt.search.sampler.options import SamplerConfig
from raymt.search.sampler.registry import make_sampler
from raymt.search.sampler.transfer import RelatedTrials

DATA_DIR = Path(os.environ.get("RAYMT_NMT_HPO_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nmt-hpo" / "datasets"))
OUT_CSV = Path(__file__).resolve().parent / "out" / "nmt_hpo_search.csv"
PAIRS = ("zh-en", "ru-en", "ja-en", "en-ja")
HYPS = ("bpe", "layers", "d_model", "ffn", "heads", "lr")
INT_HYPS = {"bpe", "layers", "d_model", "ffn", "heads"}
OBJECTIVES = {"bleu": "max", "time": "min"}
CHECKPOINTS = (10, 20, 40, 80)
SAMPLERS = ("raymt", "random", "optuna-tpe", "gp")
EXTRA_SAMPLERS = ("tpe", "nsga2")


# --------------------------------------------------------------------------- the tables
@dataclass
class Table:
    """One pair's lookup table: configurations, results, true front, reference point."""

    pair: str
    configs: pd.DataFrame  # HYPS columns, typed
    bleu: np.ndarray
    time: np.ndarray
    front: np.ndarray  # bool, from the .fronts file

    def __post_init__(self) -> None:
        self.grid = {h: sorted(self.configs[h].unique().tolist()) for h in HYPS}
        self._pos = np.stack(
            [self.configs[h].map({v: i / max(1, len(self.grid[h]) - 1) for i, v in enumerate(self.grid[h])}).to_numpy() for h in HYPS],
            axis=1,
        )
        self._index = {tuple(r): i for i, r in enumerate(self.configs[list(HYPS)].itertuples(index=False, name=None))}
        self.ref = (float(self.bleu.min()), float(self.time.max()))
        self.true_hv = hypervolume(self.bleu[self.front], self.time[self.front], self.ref)

    def snap(self, params: dict) -> int:
        """Row of the configuration ``params`` names, or of its nearest existing neighbour."""
        key = tuple(params[h] for h in HYPS)
        row = self._index.get(key)
        if row is not None:
            return row
        q = np.array([self.grid[h].index(params[h]) / max(1, len(self.grid[h]) - 1) for h in HYPS])
        return int(np.argmin(np.abs(self._pos - q).sum(1)))  # argmin: ties -> lowest row

    def hv_fraction_curve(self, rows: Sequence[int]) -> np.ndarray:
        """Hypervolume fraction of the evaluated set after each evaluation."""
        out = np.zeros(len(rows))
        for n in range(1, len(rows) + 1):
            r = np.asarray(rows[:n])
            out[n - 1] = hypervolume(self.bleu[r], self.time[r], self.ref) / self.true_hv
        return out

    def as_related_frame(self) -> pd.DataFrame:
        return self.configs.assign(bleu=self.bleu, time=self.time, task=self.pair)


def load_table(pair: str, data_dir: Path = DATA_DIR) -> Table:
    def read(ext: str) -> np.ndarray:
        return np.loadtxt(data_dir / f"{pair}.{ext}", ndmin=2)

    hyps, evals = read("hyps"), read("evals")
    front = read("fronts")[:, 0].astype(bool)
    configs = pd.DataFrame(hyps, columns=list(HYPS))
    for h in INT_HYPS:
        configs[h] = configs[h].round().astype(int)
    return Table(pair, configs, evals[:, 0], evals[:, 1], front)


def hypervolume(bleu: np.ndarray, time_: np.ndarray, ref: tuple[float, float]) -> float:
    """2-D hypervolume of (max BLEU, min time) points against ``ref = (bleu, time)``."""
    ok = (bleu > ref[0]) & (time_ < ref[1])
    order = np.argsort(time_[ok], kind="stable")
    t, b = time_[ok][order], bleu[ok][order]
    area, best = 0.0, ref[0]
    edges = np.append(t[1:], ref[1])
    for i in range(len(t)):
        best = max(best, b[i])
        area += (edges[i] - t[i]) * (best - ref[0])
    return area


class GridSpace:
    """The define-by-run space: each hyperparameter a categorical over the table's values.

    A class (not a closure) so the searcher checkpoint pickles it by reference.
    """

    def __init__(self, grid: dict[str, list]):
        self.grid = {h: [int(v) if h in INT_HYPS else float(v) for v in grid[h]] for h in HYPS}

    def __call__(self, trial) -> None:
        for h in HYPS:
            trial.suggest_categorical(h, self.grid[h])


# --------------------------------------------------------------------------- samplers
def build_sampler(name: str, seed: int, table: Table, related: RelatedTrials | None) -> optuna.samplers.BaseSampler:
    space = GridSpace(table.grid)
    if name == "optuna-tpe":  # what OptunaSearch uses when no sampler is given
        return optuna.samplers.TPESampler(seed=seed)
    if name == "raymt":
        return make_sampler(SamplerConfig(kind="raymt", seed=seed), objectives=OBJECTIVES, space_fn=space, related=related)
    return make_sampler(SamplerConfig(kind=name, seed=seed), objectives=OBJECTIVES, space_fn=space)


def related_for(pair: str, tables: dict[str, Table]) -> RelatedTrials:
    """Leave-one-out: every benchmark pair except ``pair``."""
    frames = [t.as_related_frame() for p, t in tables.items() if p != pair]
    return RelatedTrials(pd.concat(frames, ignore_index=True), OBJECTIVES)


# --------------------------------------------------------------------------- engines
def run_optuna(table: Table, sampler: optuna.samplers.BaseSampler, n_evals: int) -> list[int]:
    """The sampler in a plain ask/tell loop; returns evaluated table rows in order."""
    space = GridSpace(table.grid)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    rows = []
    for _ in range(n_evals):
        trial = study.ask()
        space(trial)
        row = table.snap(trial.params)
        rows.append(row)
        study.tell(trial, [float(table.bleu[row]), float(table.time[row])])
    return rows


def run_tune(table: Table, sampler: optuna.samplers.BaseSampler, n_evals: int, seed: int, storage_dir: Path) -> list[int]:
    """The sampler through raymt's search path (Tuner + OptunaSearch), sequential trials."""
    from ray import tune

    from raymt.search.tuner import make_searcher, make_tuner

    def trainable(config: dict) -> None:
        row = table.snap(config)
        tune.report({"bleu": float(table.bleu[row]), "time": float(table.time[row]), "row": row})

    searcher = make_searcher(GridSpace(table.grid), OBJECTIVES, sampler, seed=seed)
    tuner = make_tuner(
        trainable,
        searcher=searcher,
        num_samples=n_evals,
        max_concurrent_trials=1,
        storage_path=storage_dir,
        name=f"{table.pair}-{seed}-{time.monotonic_ns()}",
        resources={"cpu": 0.01},
        reuse_actors=True,
        verbose=0,
    )
    df = tuner.fit().get_dataframe()
    # trials ran one at a time: the order of their (only) report is the evaluation order
    # (Ray 2.60 trial ids are random hex, with no sequence number to sort on)
    df = df.sort_values(["timestamp", "time_total_s"], kind="mergesort")
    return [int(r) for r in df["row"]]


# --------------------------------------------------------------------------- reporting
def evals_to(curve: np.ndarray, level: float = 0.95) -> float:
    hit = np.flatnonzero(curve >= level - 1e-12)
    return float(hit[0] + 1) if len(hit) else math.inf


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Median (and IQR) over seeds of each checkpoint and of evaluations-to-95%."""
    rows = []
    for (engine, pair, sampler), g in raw.groupby(["engine", "pair", "sampler"], sort=False):
        rec = {"engine": engine, "pair": pair, "sampler": sampler, "seeds": g["seed"].nunique()}
        for c in CHECKPOINTS:
            col = f"hv@{c}"
            if col in g and g[col].notna().any():
                rec[col] = float(g[col].median())
        e = g["evals_to_95"].to_numpy()
        rec["to95_median"] = float(np.median(e))
        rec["to95_q25"], rec["to95_q75"] = (float(x) for x in np.quantile(e, [0.25, 0.75]))
        rec["reached95"] = f"{int(np.isfinite(e).sum())}/{len(e)}"
        rec["s_per_run"] = float(g["wall_s"].median())
        rows.append(rec)
    return pd.DataFrame(rows)


def format_table(summary: pd.DataFrame) -> str:
    def fmt(v: float) -> str:
        return ">max" if not math.isfinite(v) else f"{v:g}"

    cols = ["engine", "pair", "sampler", "seeds"] + [f"hv@{c}" for c in CHECKPOINTS if f"hv@{c}" in summary] + ["to95 median [IQR]", "reached", "s/run"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in summary.iterrows():
        cells = [r["engine"], r["pair"], r["sampler"], str(r["seeds"])]
        cells += [f"{r[f'hv@{c}']:.3f}" if f"hv@{c}" in r and pd.notna(r[f"hv@{c}"]) else "" for c in CHECKPOINTS if f"hv@{c}" in summary]
        cells += [f"{fmt(r['to95_median'])} [{fmt(r['to95_q25'])}, {fmt(r['to95_q75'])}]", r["reached95"], f"{r['s_per_run']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_grid(
    engine: str,
    pairs: Sequence[str],
    samplers: Sequence[str],
    seeds: Sequence[int],
    n_evals: int,
    tables: dict[str, Table],
    log: Callable[[str], None],
    storage_dir: Path | None = None,
) -> list[dict]:
    records = []
    for pair in pairs:
        table = tables[pair]
        related = related_for(pair, tables)
        for name in samplers:
            for seed in seeds:
                sampler = build_sampler(name, seed, table, related)
                t0 = time.perf_counter()
                if engine == "optuna":
                    rows = run_optuna(table, sampler, n_evals)
                else:
                    rows = run_tune(table, sampler, n_evals, seed, storage_dir)
                wall = time.perf_counter() - t0
                curve = table.hv_fraction_curve(rows)
                rec = {"engine": engine, "pair": pair, "sampler": name, "seed": seed, "n_evals": len(rows), "wall_s": wall}
                for c in CHECKPOINTS:
                    rec[f"hv@{c}"] = float(curve[c - 1]) if len(curve) >= c else float("nan")
                rec["evals_to_95"] = evals_to(curve)
                rec["distinct_configs"] = len(set(rows))
                rec["rows"] = " ".join(map(str, rows))
                records.append(rec)
                log(f"{engine} {pair} {name:10s} seed {seed:2d}: to95={rec['evals_to_95']:g} hv@{min(n_evals, 80)}={curve[-1]:.3f} ({wall:.1f}s)")
    return records


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["both", "optuna", "tune"], default="both", help="both (default): full grid with optuna + a subset through Tune")
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=PAIRS)
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS + EXTRA_SAMPLERS)
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per (pair, sampler) on the optuna engine")
    ap.add_argument("--evals", type=int, default=80)
    ap.add_argument("--tune-pairs", nargs="+", default=["zh-en"], choices=PAIRS, help="pairs run through Tune when --engine both")
    ap.add_argument("--tune-seeds", type=int, default=5, help="seeds per (pair, sampler) through Tune")
    ap.add_argument("--smoke", action="store_true", help="CI: zh-en, 2 seeds, 20 evals, optuna engine + 1 short Tune run (< 60 s)")
    ap.add_argument("--out", type=Path, default=OUT_CSV)
    args = ap.parse_args(argv)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    tables = {p: load_table(p) for p in PAIRS}
    records: list[dict] = []
    if args.smoke:
        records += run_grid("optuna", ["zh-en"], ["raymt", "random"], range(2), 20, tables, log)
        plan_tune = (["zh-en"], ["raymt"], range(1), 10)
    else:
        if args.engine in ("both", "optuna"):
            records += run_grid("optuna", args.pairs, args.samplers, range(args.seeds), args.evals, tables, log)
        plan_tune = None
        if args.engine == "tune":
            plan_tune = (args.pairs, args.samplers, range(args.seeds), args.evals)
        elif args.engine == "both":
            plan_tune = (args.tune_pairs, args.samplers, range(args.tune_seeds), args.evals)
    if plan_tune is not None:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            with tempfile.TemporaryDirectory(prefix="raymt-nmt-hpo-") as tmp:
                records += run_grid("tune", *plan_tune, tables, log, storage_dir=Path(tmp))
        finally:
            ray.shutdown()

    raw = pd.DataFrame(records)
    _write_csv(raw, args.out)
    print(f"raw results: {args.out}")
    print(format_table(summarise(raw)))
    return 0


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from raymt.io import atomic_to_csv
    except ImportError:  # raymt.io is written by another engineer; same effect by hand
        tmp = path.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    else:
        atomic_to_csv(df, path)


if __name__ == "__main__":
    sys.exit(main())
