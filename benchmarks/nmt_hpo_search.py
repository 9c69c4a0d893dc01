"""How fast does each sampler find the BLEU / decode-time Pareto front of real NMT models?

Data: the lookup tables of Zhang & Duh (2020, TACL, "Reproducible and Efficient Benchmarks for
Hyperparameter Optimization of Neural Machine Translation Systems"): for each of six tables,
every Transformer trained on a grid of 6 hyperparameters with its dev BLEU and decode time
(see ../shared/data/nmt-hpo/SOURCE.md). A "trial" looks its configuration up instead of
training, so a whole search costs seconds and the true Pareto front is known.

Run: ``python -m benchmarks.nmt_hpo_search --engine optuna`` (all six tables, 20 seeds, every
sampler; about an hour on one core), ``--smoke`` for CI (< 60 s), ``--help`` for the knobs.
The constants the ``raymt`` rows use on the TED/WMT tables come from
``python -m benchmarks.nmt_hpo_tune`` (tuned on the MATERIAL tables only).

Setup, and the reasons:

- Search space: the six hyperparameters, each ``suggest_categorical`` over the values that
  occur in the table. Part of each grid was never trained; such a proposal is *snapped* to the
  nearest existing configuration (distance: sum over parameters of the difference of positions
  in the sorted value list, each scaled to [0, 1]; ties go to the lower table row). The sampler
  is told the snapped configuration's results for the proposal it made. Every sampler sees
  exactly this space and this snapping.
- Objectives: maximise dev BLEU, minimise dev decode time (``dev_gpu_time``), as in the tables'
  ``.fronts`` files. Decode time is NOT known before a trial runs, so here raymt's sampler models
  both objectives.
- Transfer, leave-one-CORPUS-out: the ``raymt`` rows get a prior (``RelatedTrials``) learned on
  the other tables, whose Pareto-optimal configurations are also among its candidates. A table
  and the table of the reverse direction are one corpus (ja-en and en-ja are the same WMT19
  robustness bitext; their BLEU ranks correlate at 0.91), so the prior for a target never holds
  a table of the target's corpus in either direction (:data:`CORPUS`, :func:`prior_tables`; a
  test checks every target). TED zh-en and ru-en are two corpora: different source languages
  and bitexts (170k vs 180k training pairs in nmtlc.jsonl), one talk collection. The stricter
  ``--holdout collection`` also drops the rest of the target's collection (TED, WMT19 robust,
  MATERIAL) and measures how much the prior owes to a sister corpus. ``raymt-notransfer`` is
  the same sampler without any prior: what ``raymt search`` runs today (it passes no related
  trials).
- No constant tuned on a reported table: the six tables are split in two folds
  (:data:`SPLITS`). raymt's shipped constants were chosen on the TED/WMT tables (git history
  of ``raymt/search``), so the MATERIAL tables (sw-en, so-en) are reported with the shipped
  constants; the TED/WMT tables are reported with constants re-selected on sw-en/so-en alone
  (``benchmarks.nmt_hpo_tune`` -> ``benchmarks/nmt_hpo_constants.json``). Every row says which
  constants it used.
- Quality of a search after n evaluations: hypervolume of the front of what was evaluated, as a
  fraction of the true front's hypervolume. Reference point: (lowest BLEU in the table, highest
  decode time in the table). ``to95``: evaluations until 95% of it.
- Sequential trials (``max_concurrent_trials=1``), so every sampler sees every result before
  its next proposal.
- Engines: ``optuna`` runs the very sampler objects raymt builds in a plain ask/tell loop
  (fast: the full grid). ``tune`` runs them through raymt's real search machinery:
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from benchmarks.nmt_hpo_constants import CONSTANTS_JSON, SHIPPED, SamplerConstants, load_constants, make_raymt_sampler
from raymt.search.sampler.options import SamplerConfig
from raymt.search.sampler.registry import make_sampler
from raymt.search.sampler.transfer import RelatedTrials

DATA_DIR = Path(os.environ.get("RAYMT_NMT_HPO_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nmt-hpo" / "datasets"))
OUT_CSV = Path(__file__).resolve().parent / "out" / "nmt_hpo_search.csv"
PAIRS = ("zh-en", "ru-en", "ja-en", "en-ja", "sw-en", "so-en")
HYPS = ("bpe", "layers", "d_model", "ffn", "heads", "lr")
INT_HYPS = {"bpe", "layers", "d_model", "ffn", "heads"}
OBJECTIVES = {"bleu": "max", "time": "min"}
CHECKPOINTS = (8, 10, 16, 20, 32, 40, 80)
SAMPLERS = ("raymt", "raymt-notransfer", "optuna-tpe", "tpe", "gp", "nsga2", "random")
STOCK = ("optuna-tpe", "tpe", "gp", "nsga2", "random")  # Optuna's own samplers, no prior

# The parallel text each table was trained on: nmtlc.jsonl's dataset_name with the direction
# dropped. A table and its reverse direction share one corpus.
CORPUS = {
    "zh-en": "ted-zh-en",
    "ru-en": "ted-ru-en",
    "ja-en": "robust19-en-ja",
    "en-ja": "robust19-en-ja",
    "sw-en": "material-sw-en",
    "so-en": "material-so-en",
}
COLLECTION = {p: c.split("-", 1)[0] for p, c in CORPUS.items()}  # ted | robust19 | material
HOLDOUTS = {"corpus": CORPUS, "collection": COLLECTION}


@dataclass(frozen=True)
class Split:
    """A fold: constants are chosen on ``tuning`` and the sampler is reported on ``report``."""

    name: str
    tuning: tuple[str, ...]
    report: tuple[str, ...]
    constants: str  # "shipped" or the file benchmarks.nmt_hpo_tune writes
    why: str


SPLITS = {
    "material": Split(
        "material",
        tuning=("zh-en", "ru-en", "ja-en", "en-ja"),
        report=("sw-en", "so-en"),
        constants="shipped",
        why="raymt's shipped constants were chosen on the TED/WMT tables; sw-en/so-en were never used for that",
    ),
    "ted-wmt": Split(
        "ted-wmt",
        tuning=("sw-en", "so-en"),
        report=("zh-en", "ru-en", "ja-en", "en-ja"),
        constants=CONSTANTS_JSON.name,
        why="the shipped constants saw these tables; constants re-selected on sw-en/so-en only (benchmarks.nmt_hpo_tune)",
    ),
}
REPORT_SPLIT = {pair: s for s in SPLITS.values() for pair in s.report}


def split_constants(split: Split) -> SamplerConstants:
    if split.constants == "shipped":
        return SHIPPED
    path = CONSTANTS_JSON.parent / split.constants
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m benchmarks.nmt_hpo_tune --split {split.name}` first")
    return load_constants(path)


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


# --------------------------------------------------------------------------- priors
def prior_tables(target: str, available: Iterable[str], holdout: str = "corpus") -> list[str]:
    """The tables the prior for ``target`` may hold: ``available`` minus every table of the
    target's corpus (``holdout="corpus"``: the target and its reverse direction) or of its
    whole collection (``"collection"``)."""
    group = HOLDOUTS[holdout]
    return [p for p in available if group[p] != group[target]]


def prior_frame(target: str, tables: dict[str, Table], holdout: str = "corpus") -> pd.DataFrame:
    """Every trial the prior for ``target`` learns from: the loaded tables :func:`prior_tables`
    allows, stacked with a ``task`` column (empty when none is left)."""
    names = prior_tables(target, tables, holdout)
    if not names:
        return pd.DataFrame(columns=[*HYPS, *OBJECTIVES, "task"])
    return pd.concat([tables[p].as_related_frame() for p in names], ignore_index=True)


def related_for(target: str, tables: dict[str, Table], holdout: str = "corpus") -> RelatedTrials | None:
    """The prior for ``target`` (see :func:`prior_frame`); None when no table is left."""
    frame = prior_frame(target, tables, holdout)
    return RelatedTrials(frame, OBJECTIVES) if len(frame) else None


# --------------------------------------------------------------------------- samplers
def build_sampler(
    name: str,
    seed: int,
    table: Table,
    related: RelatedTrials | None,
    constants: SamplerConstants = SHIPPED,
) -> optuna.samplers.BaseSampler:
    """``optuna-tpe``: Optuna's TPESampler as ``OptunaSearch`` builds it with no sampler given
    (independent TPE for several objectives); ``tpe``: raymt's ``tpe`` kind (multivariate, grouped);
    ``gp``/``nsga2``/``random``: raymt's kinds; ``raymt``: the default kind with the prior
    ``related``; ``raymt-notransfer``: the default kind without one."""
    space = GridSpace(table.grid)
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "raymt":
        if related is None:
            raise ValueError(f"{table.pair}: no table is left for the prior")
        return make_raymt_sampler(space, OBJECTIVES, seed=seed, related=related, constants=constants)
    if name == "raymt-notransfer":
        return make_raymt_sampler(space, OBJECTIVES, seed=seed, related=None, constants=constants)
    return make_sampler(SamplerConfig(kind=name, seed=seed), objectives=OBJECTIVES, space_fn=space)


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
    keys = ["engine", "split", "pair", "sampler"]
    for (engine, split, pair, sampler), g in raw.groupby(keys, sort=False):
        rec = {"engine": engine, "split": split, "pair": pair, "sampler": sampler, "seeds": g["seed"].nunique()}
        for c in CHECKPOINTS:
            col = f"hv@{c}"
            if col in g and g[col].notna().any():
                rec[col] = float(g[col].median())
        e = g["evals_to_95"].to_numpy(dtype=float)
        rec["to95_median"] = float(np.median(e))
        with np.errstate(invalid="ignore"):  # quantiles between two "never" (inf) are inf
            q = np.nan_to_num(np.quantile(e, [0.25, 0.75]), nan=math.inf, posinf=math.inf)
        rec["to95_q25"], rec["to95_q75"] = float(q[0]), float(q[1])
        rec["reached95"] = f"{int(np.isfinite(e).sum())}/{len(e)}"
        rec["s_per_run"] = float(g["wall_s"].median())
        rows.append(rec)
    return pd.DataFrame(rows)


def _fmt(v: float) -> str:
    return ">max" if not math.isfinite(v) else f"{v:g}"


def format_table(summary: pd.DataFrame) -> str:
    hv = [f"hv@{c}" for c in CHECKPOINTS if f"hv@{c}" in summary]
    cols = ["engine", "pair", "sampler", "seeds", *hv, "to95 median [IQR]", "reached", "s/run"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in summary.iterrows():
        cells = [r["engine"], r["pair"], r["sampler"], str(r["seeds"])]
        cells += [f"{r[c]:.3f}" if c in r and pd.notna(r[c]) else "" for c in hv]
        cells += [f"{_fmt(r['to95_median'])} [{_fmt(r['to95_q25'])}, {_fmt(r['to95_q75'])}]", r["reached95"], f"{r['s_per_run']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_to_stock(raw: pd.DataFrame, challengers: Sequence[str] = ("raymt", "raymt (collection-out)", "raymt-notransfer")) -> pd.DataFrame:
    """Per table: each challenger against the best stock Optuna sampler on that table.

    Best stock = lowest median evaluations-to-95% (ties: highest median hv@16), chosen *after*
    the fact, which favours the stock side. ``p``: two-sided Mann-Whitney U over seeds of
    evaluations-to-95% (a search that never reached 95% counts as n_evals + 1).
    """
    from scipy.stats import mannwhitneyu

    out = []
    for (_engine, split, pair), g in raw[raw["engine"] == "optuna"].groupby(["engine", "split", "pair"], sort=False):
        n_max = int(g["n_evals"].max())
        to95 = {s: np.minimum(gs["evals_to_95"].to_numpy(dtype=float), n_max + 1) for s, gs in g.groupby("sampler")}
        hv16 = {s: float(gs["hv@16"].median()) for s, gs in g.groupby("sampler")}
        stock = [s for s in STOCK if s in to95]
        if not stock:
            continue
        best = min(stock, key=lambda s: (np.median(to95[s]), -hv16[s]))
        for ch in challengers:
            if ch not in to95:
                continue
            p = float(mannwhitneyu(to95[ch], to95[best], alternative="two-sided").pvalue)
            out.append(
                {
                    "split": split,
                    "pair": pair,
                    "sampler": ch,
                    "best_stock": best,
                    "to95": float(np.median(to95[ch])),
                    "to95_stock": float(np.median(to95[best])),
                    "hv@16": hv16[ch],
                    "hv@16_stock": hv16[best],
                    "p": p,
                    "random_to95": float(np.median(to95["random"])) if "random" in to95 else math.nan,
                }
            )
    return pd.DataFrame(out)


def format_comparison(cmp: pd.DataFrame, n_evals: int) -> str:
    def ev(v: float) -> str:
        return f">{n_evals}" if v > n_evals else f"{v:g}"

    cols = ["pair", "sampler", "to95", "best stock (to95)", "p (MWU)", "hv@16 vs stock", "verdict"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in cmp.iterrows():
        faster = r["to95"] < r["to95_stock"]
        verdict = (
            "better"
            if faster and r["p"] < 0.05
            else "worse"
            if (not faster and r["to95"] > r["to95_stock"] and r["p"] < 0.05)
            else "no clear difference"
        )
        lines.append(
            f"| {r['pair']} | {r['sampler']} | {ev(r['to95'])} | {r['best_stock']} ({ev(r['to95_stock'])}) | {r['p']:.3g} "
            f"| {r['hv@16']:.3f} vs {r['hv@16_stock']:.3f} | {verdict} |"
        )
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
    holdout: str = "corpus",
    constants: SamplerConstants | None = None,
    done: set[tuple] = frozenset(),
    checkpoint: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Every (pair, sampler, seed). Each pair runs with the constants of the split that reports
    it unless ``constants`` is given; its prior is every other loaded table ``holdout`` allows.
    Runs whose :func:`run_key` is in ``done`` are skipped; ``checkpoint(records)`` is called
    after each run, so an interrupted benchmark can be resumed."""
    records: list[dict] = []
    for pair in pairs:
        table = tables[pair]
        split = REPORT_SPLIT[pair]
        uses_constants = any(n.startswith("raymt") for n in samplers)
        consts = constants if constants is not None else split_constants(split) if uses_constants else SHIPPED
        related = None
        for name in samplers:
            for seed in seeds:
                rec = {"engine": engine, "split": split.name, "pair": pair, "sampler": name, "seed": seed}
                rec["constants"] = consts.label() if name.startswith("raymt") else ""
                rec["holdout"] = holdout if name == "raymt" else ""  # only the prior depends on it
                if run_key(rec) in done:
                    continue
                if name == "raymt" and related is None:
                    related = related_for(pair, tables, holdout)
                sampler = build_sampler(name, seed, table, related, consts)
                t0 = time.perf_counter()
                if engine == "optuna":
                    rows = run_optuna(table, sampler, n_evals)
                else:
                    rows = run_tune(table, sampler, n_evals, seed, storage_dir)
                wall = time.perf_counter() - t0
                curve = table.hv_fraction_curve(rows)
                rec.update({"n_evals": len(rows), "wall_s": wall})
                rec["prior"] = "+".join(related.tasks) if name == "raymt" else ""
                for c in CHECKPOINTS:
                    rec[f"hv@{c}"] = float(curve[c - 1]) if len(curve) >= c else float("nan")
                rec["evals_to_95"] = evals_to(curve)
                rec["hv_auc32"] = float(curve[:32].mean())
                rec["distinct_configs"] = len(set(rows))
                rec["rows"] = " ".join(map(str, rows))
                records.append(rec)
                log(f"{engine} {pair} {name:16s} seed {seed:2d}: to95={rec['evals_to_95']:g} hv@{min(n_evals, 80)}={curve[-1]:.3f} ({wall:.1f}s)")
                if checkpoint is not None:
                    checkpoint(records)
    return records


def run_key(rec: dict) -> tuple:
    """What identifies one search of the benchmark (the seed included)."""
    return tuple(str(rec[k]) for k in ("engine", "split", "pair", "sampler", "seed", "constants", "holdout"))


def read_raw(paths: Sequence[Path]) -> pd.DataFrame:
    raw = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    raw[["constants", "prior", "holdout"]] = raw[["constants", "prior", "holdout"]].fillna("")
    raw["seed"] = raw["seed"].astype(int)
    return raw.drop_duplicates(["engine", "split", "pair", "sampler", "seed", "constants", "holdout"], keep="last")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--engine", choices=["both", "optuna", "tune"], default="both", help="both (default): full grid with optuna + a subset through Tune"
    )
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=PAIRS, help="target tables (each reported with its split's constants)")
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    ap.add_argument(
        "--seeds", type=int, default=20, help="seeds 0..N-1 per (pair, sampler) on the optuna engine (with --from-csv: only these seeds are merged)"
    )
    ap.add_argument("--evals", type=int, default=80)
    ap.add_argument(
        "--holdout",
        choices=sorted(HOLDOUTS),
        default="corpus",
        help="what the prior leaves out: the target's corpus (both directions; default) or its whole collection",
    )
    ap.add_argument(
        "--constants", default=None, help="'shipped' or a file from benchmarks.nmt_hpo_tune, for every pair (default: each pair's split decides)"
    )
    ap.add_argument("--tune-pairs", nargs="+", default=["zh-en"], choices=PAIRS, help="pairs run through Tune when --engine both")
    ap.add_argument("--tune-seeds", type=int, default=5, help="seeds per (pair, sampler) through Tune")
    ap.add_argument("--smoke", action="store_true", help="CI: zh-en, 2 seeds, 20 evals, optuna engine + 1 short Tune run (< 60 s)")
    ap.add_argument("--out", type=Path, default=OUT_CSV)
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --out and run only the missing ones")
    ap.add_argument(
        "--from-csv",
        nargs="+",
        type=Path,
        default=None,
        metavar="CSV",
        help="run nothing: merge raw CSVs of earlier runs (e.g. one per pair or sampler) into --out and print the tables",
    )
    args = ap.parse_args(argv)
    if args.from_csv:
        raw = read_raw(args.from_csv)
        report(raw[raw["seed"] < args.seeds], args.out)
        return 0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    tables = {p: load_table(p) for p in PAIRS}
    constants = None
    if args.constants is not None:
        constants = SHIPPED if args.constants == "shipped" else load_constants(Path(args.constants))
    previous = read_raw([args.out]) if args.resume and args.out.is_file() else pd.DataFrame()
    done = {run_key(r) for r in previous.to_dict("records")}

    def checkpoint(current: list[dict]) -> None:  # earlier engines' records + this one's so far
        write_csv(pd.concat([previous, pd.DataFrame(records + current)], ignore_index=True), args.out)

    grid = dict(tables=tables, log=log, holdout=args.holdout, constants=constants, done=done, checkpoint=checkpoint)
    records: list[dict] = []
    if args.smoke:
        records += run_grid("optuna", ["zh-en"], ["raymt", "random"], range(2), 20, **grid)
        plan_tune = (["zh-en"], ["raymt"], range(1), 10)
    else:
        if args.engine in ("both", "optuna"):
            records += run_grid("optuna", args.pairs, args.samplers, range(args.seeds), args.evals, **grid)
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
                records += run_grid("tune", *plan_tune, storage_dir=Path(tmp), **grid)
        finally:
            ray.shutdown()

    report(pd.concat([previous, pd.DataFrame(records)], ignore_index=True), args.out)
    return 0


def report(raw: pd.DataFrame, out: Path) -> None:
    """Write the raw runs and print one table per split, then raymt vs the best stock sampler."""
    write_csv(raw, out)
    print(f"raw results: {out}")
    raw = raw.assign(sampler=np.where(raw["holdout"] == "collection", raw["sampler"] + " (collection-out)", raw["sampler"]))
    for split in SPLITS.values():
        part = raw[raw["split"] == split.name]
        if len(part):
            consts = sorted(set(part["constants"]) - {""})
            print(
                f"\nsplit {split.name}: report on {', '.join(split.report)}; tuned on {', '.join(split.tuning)}; "
                f"raymt constants: {', '.join(consts) or '-'} ({split.why})"
            )
            print(format_table(summarise(part)))
    cmp = compare_to_stock(raw)
    if len(cmp):
        print("\nraymt's sampler vs the best stock Optuna sampler of each table (evaluations to 95%, median over seeds):")
        print(format_comparison(cmp, int(raw["n_evals"].max())))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    from raymt.io import atomic_to_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_to_csv(df, path, index=False)


if __name__ == "__main__":
    sys.exit(main())
