"""How much compute does raymt's multi-objective early stopping save, and what does it cost the front?

Data: the NMTLC learning curves of Zhang & Duh (2024, AMTA; data in
/work/shared/data/nmt-hpo/lc_datasets, see SOURCE.md there): 321 LoRA fine-tuning runs of
BLOOMZ (560m, 1b7, 3b) and XGLM (564M, 1.7B, 2.9B) on fr-en and zh-en, over LoRA rank
{2, 16, 64} x batch {16, 32, 64} x learning rate {2e-5, 1e-4, 2e-4}, each with the dev BLEU at
every checkpoint (``bleu_curve``; 7 to 74 checkpoints, the original runs stopped on their own
convergence test).

Run: ``python -m benchmarks.lc_replay`` (both language pairs, 5 trial orders; a few minutes on
2 cores), ``--smoke`` for CI (< 60 s), ``--help`` for the knobs. Raw numbers go to
benchmarks/out/lc_replay.csv (one row per pair x scheduler x order) and
benchmarks/out/lc_replay_trials.csv (one row per trial); the table is printed last.

Setup, and the reasons:

- Replay through Ray Tune: one Tune trial per recorded run, a function trainable that reports
  the recorded BLEU at each checkpoint (``training_iteration`` = checkpoints consumed), under
  the real schedulers of ``raymt.search.scheduler`` and its ``EarlyStopMarker`` callback: what
  is measured is what a search runs. The groups are the language pairs (all 160-odd runs of a
  pair form one search).
- Storage of a run's adapter, known before training: LoRA on the attention projections peft
  targets by default, i.e. BLOOM's fused ``query_key_value`` (d -> 3d) and XGLM's ``q_proj`` and
  ``v_proj`` (d -> d; peft has no XGLM default, q/v is the usual choice). Both give
  r * (d + 3d) = 2 * r * (d + d) = 4 * d * r parameters per layer, so
  params = 4 * d_model * rank * layers; bytes = params * 4, because peft stores adapter weights
  in float32 (``autocast_adapter_dtype=True`` upcasts them even on a half-precision base);
  MB = 10**6 bytes as in ``raymt.metrics.storage``. Dimensions (SOURCE.md): BLOOMZ 560m
  1024 x 24 layers, 1b7 2048 x 24, 3b 2560 x 30; XGLM 564M 1024 x 24, 1.7B 2048 x 24,
  2.9B 2048 x 48. 0.79 MB (rank 2 on a 560m model) to 101 MB (rank 64 on XGLM 2.9B).
- Objectives: max BLEU, min adapter MB. A trial's BLEU is the best over the checkpoints it
  ran (raymt keeps the best epoch), and the schedulers rank on that same quantity
  (``bleu_best``, the running maximum): BLOOMZ runs start at their zero-shot BLEU, dip, and
  recover, so ranking on the current checkpoint (``--metric bleu``) would stop the 3b runs
  whose zero-shot checkpoint is their best.
- Quality: hypervolume of the Pareto front of the COMPLETED trials (not stopped early) as a
  fraction of the hypervolume of the front when every run completes (no early stopping).
  Storage enters as log10(MB): storage spans two decades, and on a linear axis the whole
  front (0.8, 1.6 and 2.5 MB) sits in the first 2% of the range, so losing the 0.8 MB point
  barely changes a linear hypervolume; the linear one is reported too. Reference point: BLEU 0,
  and storage 10% of the pair's range beyond its largest adapter (on each axis).
- Compute: checkpoints consumed, as a fraction of all checkpoints of the pair's runs.
- Order: ASHA decides asynchronously, so results depend on the order in which trials arrive;
  each seed shuffles the runs. Trials run one at a time by default (``--concurrency 1``): that is
  raymt's setting on a small machine, it makes a replay deterministic for a given seed, and on 2
  cores it was also by far the fastest (a prototype replaying 160 synthetic curves: 6 s at 1
  concurrent trial, 29 s at 4, 45 s at 16, 75 s at 32).
- Schedulers: ``none`` (FIFO), ``asha`` (Tune's ASHA on BLEU alone), ``mo_asha`` with
  ``ranking=pareto`` (non-dominated sorting of (BLEU, exact MB) at each rung) and with
  ``ranking=bands`` (ASHA on BLEU within log-spaced storage bands of 0.5 decade), all with the
  same rungs (``--grace``, ``--rf``; ``max_t`` = the pair's longest curve).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raymt.errors import DataError

DATA_PATH = Path(os.environ.get("RAYMT_NMTLC", "/work/shared/data/nmt-hpo/lc_datasets/nmtlc.jsonl"))
OUT_DIR = Path(__file__).resolve().parent / "out"
BYTES_PER_PARAM = 4  # float32 adapter weights (see the module docstring)
# (base model, d_model, layers) -> name; the records give family, d_model and layers.
MODEL_NAMES = {
    ("bloomz", 1024, 24): "BLOOMZ-560m",
    ("bloomz", 2048, 24): "BLOOMZ-1b7",
    ("bloomz", 2560, 30): "BLOOMZ-3b",
    ("xglm", 1024, 24): "XGLM-564M",
    ("xglm", 2048, 24): "XGLM-1.7B",
    ("xglm", 2048, 48): "XGLM-2.9B",
}
TARGET_SAVED, TARGET_HV_LOSS = 0.40, 0.02
# The smoke run replays one pair: every Tuner costs ~3 s of actor start-up on 2 cores. zh-en is
# the pair where single-metric ASHA loses front points, so the smoke table still shows it.
SMOKE_GROUP = "zh-en"


@dataclass(frozen=True)
class Run:
    """One recorded fine-tuning run: its configuration, exact adapter size and BLEU curve."""

    run_id: str
    group: str
    model: str
    rank: int
    batch_size: int
    lr: float
    storage_mb: float
    curve: tuple[float, ...]

    @property
    def best_bleu(self) -> float:
        return max(self.curve)


@dataclass(frozen=True)
class SchedulerSpec:
    """One scheduler to compare: ``make_scheduler(kind, **params)`` plus a label."""

    label: str
    kind: str
    params: tuple[tuple[str, object], ...] = ()


def lora_params(d_model: int, n_layers: int, rank: int) -> int:
    """LoRA parameters on BLOOM's query_key_value or on q_proj + v_proj: 4 * d * r per layer."""
    return 4 * d_model * rank * n_layers


def adapter_mb(d_model: int, n_layers: int, rank: int, bytes_per_param: int = BYTES_PER_PARAM) -> float:
    return lora_params(d_model, n_layers, rank) * bytes_per_param / 1e6


def load_runs(path: Path = DATA_PATH) -> list[Run]:
    """The fine-tuned (LoRA) records of nmtlc.jsonl, with their adapter size."""
    if not path.is_file():
        raise DataError(
            "the NMTLC learning-curve file is missing",
            where=str(path),
            fix="set RAYMT_NMTLC to the path of nmtlc.jsonl (see /work/shared/data/nmt-hpo/SOURCE.md)",
        )
    runs = []
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            rec = json.loads(line)
            if rec.get("task") != "finetune":
                continue
            h = rec["hyperparams"]
            key = (rec["basemodel"], int(h["model_size"]), int(h["num_layers"]))
            if key not in MODEL_NAMES:
                raise DataError(f"unknown base model {key}", where=f"{path}:{line_no}", fix="add it to MODEL_NAMES")
            curve = tuple(float(b) for b in rec["bleu_curve"])
            if not curve:
                raise DataError("empty bleu_curve", where=f"{path}:{line_no}", fix="drop the record")
            runs.append(
                Run(
                    run_id=f"{rec['dataset_name']}-{line_no}",
                    group=rec["dataset_name"],
                    model=MODEL_NAMES[key],
                    rank=int(h["r"]),
                    batch_size=int(h["batch_size"]),
                    lr=float(h["initial_lr"]),
                    storage_mb=adapter_mb(key[1], key[2], int(h["r"])),
                    curve=curve,
                )
            )
    if not runs:
        raise DataError("no fine-tuned records", where=str(path), fix="check that it is nmtlc.jsonl")
    return runs


def smoke_subset(runs: Sequence[Run], per_group: int) -> list[Run]:
    """A small, deterministic, spread-out subset: every k-th run of each group (file order)."""
    out: list[Run] = []
    for group in sorted({r.group for r in runs}):
        members = [r for r in runs if r.group == group]
        step = max(1, len(members) // per_group)
        out.extend(members[::step][:per_group])
    return out


# -- objectives -------------------------------------------------------------------------


def references(runs: Sequence[Run]) -> dict[str, list[float]]:
    """Hypervolume reference points of a group, fixed before any replay (same for every scheduler)."""
    mbs = np.array([r.storage_mb for r in runs])
    lo, hi = np.log10(mbs.min()), np.log10(mbs.max())
    return {
        "log": [0.0, hi + 0.1 * (hi - lo or 1.0)],
        "linear": [0.0, mbs.max() + 0.1 * (mbs.max() - mbs.min() or 1.0)],
    }


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: Sequence[float], *, log_cost: bool) -> float:
    """Hypervolume of (max BLEU, min storage) points; storage as log10(MB) when ``log_cost``."""
    from raymt.analysis.pareto import hypervolume

    if len(points) == 0:
        return 0.0
    arr = np.array(points, dtype=float)
    if log_cost:
        arr[:, 1] = np.log10(arr[:, 1])
    return float(hypervolume(arr, {"bleu": "max", "storage": "min"}, list(reference)))


def front_ids(rows: pd.DataFrame) -> set[str]:
    """Run ids on the Pareto front of (max bleu, min storage_mb) among ``rows`` (all of them compete)."""
    from raymt.analysis.pareto import pareto_mask

    mask = pareto_mask(rows, {"bleu": "max", "storage_mb": "min"}, statuses=None).to_numpy()
    return set(rows["run_id"].to_numpy()[mask])


# -- replay through Ray Tune ------------------------------------------------------------


def reports(curve: Sequence[float], storage_mb: float):
    """The results one recorded run reports, checkpoint by checkpoint (``training_iteration`` is
    added by Tune, or by :func:`replay_in_process`)."""
    best = -math.inf
    for bleu in curve:
        best = max(best, bleu)
        yield {"bleu": bleu, "bleu_best": best, "storage_mb": storage_mb}


def replay_trainable(config: dict, table: dict[str, tuple[tuple[float, ...], float]]) -> None:
    """A Tune function trainable that re-reports one recorded run, checkpoint by checkpoint."""
    from ray import tune

    for result in reports(*table[config["run_id"]]):
        tune.report(result)


def shuffled(runs: Sequence[Run], seed: int) -> list[Run]:
    """The arrival order of one replay: ``runs`` shuffled by ``seed``."""
    order = list(runs)
    random.Random(seed).shuffle(order)
    return order


def build_scheduler(spec: SchedulerSpec, runs: Sequence[Run]):
    """raymt's scheduler for ``spec``, ``max_t`` = the longest curve unless the spec sets it."""
    from raymt.search.scheduler.build import make_scheduler

    params = dict(spec.params)
    if spec.kind != "none":
        params.setdefault("max_t", max(len(r.curve) for r in runs))
    return make_scheduler(spec.kind, **params)


def trial_row(run: Run, checkpoints: int, bleu: float, early_stopped: bool, rung: float = math.nan, error: str = "") -> dict:
    """One replayed trial: what it ran and the BLEU it ended with (best over its checkpoints)."""
    return dict(
        run_id=run.run_id,
        model=run.model,
        rank=run.rank,
        batch_size=run.batch_size,
        lr=run.lr,
        storage_mb=run.storage_mb,
        checkpoints=checkpoints,
        checkpoints_full=len(run.curve),
        bleu=bleu,
        bleu_full=run.best_bleu,
        early_stopped=early_stopped,
        early_stop_rung=rung,
        error=error,
    )


def replay_in_process(runs: Sequence[Run], spec: SchedulerSpec, *, seed: int) -> pd.DataFrame:
    """:func:`replay` at ``concurrency=1`` without starting Ray; one row per trial.

    The same raymt scheduler object is driven the way Tune's controller drives it when trials run
    one at a time: ``on_trial_add``, then ``on_trial_result`` after each checkpoint until it
    answers STOP or the curve ends, then ``on_trial_complete`` with the last result (Tune's
    ``stop_trial`` of a running trial). With one trial at a time every decision sees exactly the
    trials before it in the shuffled order, so the decisions are those of the Tune replay; this
    costs milliseconds instead of a Tuner per order (for tests, and for replays on a busy machine).
    """
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    scheduler = build_scheduler(spec, runs)
    rows = []
    for i, run in enumerate(shuffled(runs, seed)):
        trial = SimpleNamespace(trial_id=f"{i:05d}_{run.run_id}", config={"run_id": run.run_id})
        scheduler.on_trial_add(None, trial)
        last: dict = {}
        for t, result in enumerate(reports(run.curve, run.storage_mb), 1):
            last = {**result, "training_iteration": t}
            if scheduler.on_trial_result(None, trial, last) == TrialScheduler.STOP:
                break
        scheduler.on_trial_complete(None, trial, last)
        stop = scheduler.stopped_trials.get(trial.trial_id)
        rows.append(trial_row(run, last["training_iteration"], last["bleu_best"], stop is not None, stop.rung if stop else math.nan))
    return pd.DataFrame(rows)


def replay(
    runs: Sequence[Run],
    spec: SchedulerSpec,
    *,
    seed: int,
    storage_dir: Path,
    concurrency: int,
    cpu_per_trial: float,
) -> tuple[pd.DataFrame, float]:
    """Run one search over ``runs`` (shuffled by ``seed``) under ``spec``; one row per trial."""
    from ray import tune

    from raymt.search.scheduler.record import EarlyStopMarker

    order = shuffled(runs, seed)
    scheduler = build_scheduler(spec, runs)
    table = {r.run_id: (r.curve, r.storage_mb) for r in runs}
    trainable = tune.with_resources(tune.with_parameters(replay_trainable, table=table), {"cpu": cpu_per_trial})
    tuner = tune.Tuner(
        trainable,
        # grid_search keeps the list order, so trials are created in the shuffled order
        param_space={"run_id": tune.grid_search([r.run_id for r in order])},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"{spec.label}-{seed}",
            storage_path=str(storage_dir),
            verbose=0,
            callbacks=[EarlyStopMarker(scheduler)],
        ),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    by_id = {r.run_id: r for r in runs}
    stopped = scheduler.stopped_trials
    rows = []
    for result in grid:
        run = by_id[result.config["run_id"]]
        m = result.metrics or {}
        marked = bool(m.get("early_stopped", False))
        trial_id = m.get("trial_id")
        if marked != (trial_id in stopped):  # the callback's flag and the scheduler's record must agree
            raise RuntimeError(f"trial {trial_id}: early_stopped={marked} but the scheduler's record says {trial_id in stopped}")
        rows.append(
            trial_row(
                run,
                int(m.get("training_iteration", 0)),
                float(m["bleu_best"]) if "bleu_best" in m else math.nan,
                marked,
                m.get("early_stop_rung", math.nan),
                repr(result.error) if result.error else "",
            )
        )
    df = pd.DataFrame(rows)
    if (df["error"] != "").any():
        raise RuntimeError(f"{spec.label} seed {seed}: trials failed: {df.loc[df.error != '', 'error'].iloc[0]}")
    return df, wall


def summarise(trials: pd.DataFrame, runs: Sequence[Run], baseline_front: set[str]) -> dict[str, float]:
    refs = references(runs)
    completed = trials[~trials["early_stopped"]]
    pts = list(zip(completed["bleu"], completed["storage_mb"]))
    full_pts = [(r.best_bleu, r.storage_mb) for r in runs]
    hv_log = hypervolume_2d(pts, refs["log"], log_cost=True)
    hv_log_full = hypervolume_2d(full_pts, refs["log"], log_cost=True)
    hv_lin = hypervolume_2d(pts, refs["linear"], log_cost=False)
    hv_lin_full = hypervolume_2d(full_pts, refs["linear"], log_cost=False)
    spent, full = int(trials["checkpoints"].sum()), sum(len(r.curve) for r in runs)
    return dict(
        trials=len(trials),
        early_stopped=int(trials["early_stopped"].sum()),
        checkpoints=spent,
        checkpoints_full=full,
        compute_saved=1 - spent / full,
        hv_log=hv_log,
        hv_log_full=hv_log_full,
        hv_log_frac=hv_log / hv_log_full,
        hv_linear=hv_lin,
        hv_linear_full=hv_lin_full,
        hv_linear_frac=hv_lin / hv_lin_full,
        front_points=len(baseline_front),
        front_points_kept=len(baseline_front & set(completed["run_id"])),
    )


def format_table(df: pd.DataFrame) -> str:
    """Mean over orders (worst order in brackets), per pair and pooled over pairs."""
    lines = [f"{'group':<7} {'scheduler':<16} {'seeds':>5} {'saved':>6} {'HV(log) kept':>17} {'HV(lin) kept':>17} {'front kept':>10} {'target':>6}"]
    pooled = (
        df.groupby(["scheduler", "seed"], sort=False)
        .agg(
            checkpoints=("checkpoints", "sum"),
            checkpoints_full=("checkpoints_full", "sum"),
            hv_log_frac=("hv_log_frac", "mean"),
            hv_linear_frac=("hv_linear_frac", "mean"),
            front_points=("front_points", "sum"),
            front_points_kept=("front_points_kept", "sum"),
        )
        .reset_index()
    )
    pooled["compute_saved"] = 1 - pooled["checkpoints"] / pooled["checkpoints_full"]
    pooled["group"] = "all"
    sections = list(df.groupby("group", sort=True))
    if len(sections) > 1:
        sections.append(("all", pooled))
    for group, frame in sections:
        for label, g in frame.groupby("scheduler", sort=False):
            saved = g["compute_saved"].mean()
            hv, hv_min = g["hv_log_frac"].mean(), g["hv_log_frac"].min()
            lin, lin_min = g["hv_linear_frac"].mean(), g["hv_linear_frac"].min()
            kept = f"{g['front_points_kept'].mean():.1f}/{g['front_points'].iloc[0]}"
            ok = "yes" if saved >= TARGET_SAVED and 1 - hv <= TARGET_HV_LOSS else "no"
            if label.startswith("none"):
                ok = "-"
            lines.append(
                f"{group:<7} {label:<16} {len(g):>5} {saved:>6.1%} {hv:>8.2%} [{hv_min:>6.2%}] {lin:>8.2%} [{lin_min:>6.2%}] {kept:>10} {ok:>6}"
            )
    lines.append(
        f"saved = checkpoints not run; HV kept = hypervolume of the completed trials' front / no-stopping "
        f"front (mean [worst order]); target: saved >= {TARGET_SAVED:.0%} with <= {TARGET_HV_LOSS:.0%} "
        f"HV(log) lost on the mean."
    )
    return "\n".join(lines)


def scheduler_specs(kinds: Sequence[str], graces: Sequence[float], rfs: Sequence[float], metric: str) -> list[SchedulerSpec]:
    specs = [SchedulerSpec("none", "none")] if "none" in kinds else []
    for g, rf in itertools.product(graces, rfs):
        suffix = f" g{g:g} rf{rf:g}" if len(graces) * len(rfs) > 1 else ""
        common = (("metric", metric), ("mode", "max"), ("grace_period", g), ("reduction_factor", rf))
        if "asha" in kinds:
            specs.append(SchedulerSpec("asha" + suffix, "asha", common))
        if "mo_asha" in kinds:
            specs.append(SchedulerSpec("mo_asha" + suffix, "mo_asha", common + (("ranking", "pareto"),)))
        if "mo_asha_bands" in kinds:
            specs.append(SchedulerSpec("mo_asha_bands" + suffix, "mo_asha", common + (("ranking", "bands"),)))
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny run for CI (< 60 s): 24 runs of zh-en (unless --groups), 1 order")
    ap.add_argument("--seeds", type=int, default=5, help="number of random trial orders (default 5)")
    ap.add_argument("--groups", nargs="+", default=None, help="language pairs to replay (default: all)")
    ap.add_argument(
        "--schedulers", nargs="+", default=["none", "asha", "mo_asha", "mo_asha_bands"], choices=["none", "asha", "mo_asha", "mo_asha_bands"]
    )
    ap.add_argument("--grace", type=float, nargs="+", default=[3.0], help="grace_period(s) in checkpoints (default 3)")
    ap.add_argument("--rf", type=float, nargs="+", default=[3.0], help="reduction factor(s) (default 3)")
    ap.add_argument(
        "--metric",
        default="bleu_best",
        choices=["bleu_best", "bleu"],
        help="what the rungs compare: best BLEU so far (default) or the current checkpoint's",
    )
    ap.add_argument("--concurrency", type=int, default=1, help="max_concurrent_trials (default 1: sequential)")
    ap.add_argument("--cpu-per-trial", type=float, default=0.1, help="CPU reserved per replayed trial")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "lc_replay.csv", help="raw per-run numbers (CSV)")
    args = ap.parse_args(argv)
    if "none" not in args.schedulers:
        args.schedulers = ["none", *args.schedulers]  # the baseline every fraction is relative to

    runs = load_runs()
    if args.smoke and not args.groups:
        args.groups = [SMOKE_GROUP]
    if args.groups:
        unknown = set(args.groups) - {r.group for r in runs}
        if unknown:
            ap.error(f"unknown group(s) {sorted(unknown)}; have {sorted({r.group for r in runs})}")
        runs = [r for r in runs if r.group in args.groups]
    seeds = list(range(1 if args.smoke else args.seeds))
    if args.smoke:
        runs = smoke_subset(runs, per_group=24)
    specs = scheduler_specs(args.schedulers, args.grace, args.rf, args.metric)

    # Tune's default CSV/JSON/TensorBoard loggers write several files per trial; this replay
    # keeps every number in memory, and the loggers doubled its run time. The new console
    # output prints a box per Tuner even at verbose=0. Both are read when a Tuner runs, so they
    # are set here, not at import (importing this module must not change other Tune runs).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    storage_dir = Path(tempfile.mkdtemp(prefix="raymt_lc_replay_"))
    started = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
    summary_rows, trial_frames = [], []
    try:
        for group in sorted({r.group for r in runs}):
            members = [r for r in runs if r.group == group]
            baseline_front: set[str] = set()
            for spec in specs:
                for seed in seeds if spec.kind != "none" else seeds[:1]:  # no stopping: order-free
                    trials, wall = replay(
                        members, spec, seed=seed, storage_dir=storage_dir, concurrency=args.concurrency, cpu_per_trial=args.cpu_per_trial
                    )
                    if spec.kind == "none":
                        if trials["early_stopped"].any() or (trials["checkpoints"] != trials["checkpoints_full"]).any():
                            raise RuntimeError("the no-stopping replay did not run every checkpoint")
                        baseline_front = front_ids(trials)
                    row = dict(
                        group=group,
                        scheduler=spec.label,
                        kind=spec.kind,
                        **dict(spec.params),
                        seed=seed,
                        concurrency=args.concurrency,
                        wall_s=wall,
                        **summarise(trials, members, baseline_front),
                    )
                    summary_rows.append(row)
                    trial_frames.append(trials.assign(group=group, scheduler=spec.label, seed=seed))
                    print(
                        f"{group} {spec.label:<16} seed {seed}: saved {row['compute_saved']:.1%}, "
                        f"HV(log) kept {row['hv_log_frac']:.2%}, {row['early_stopped']} stopped, {wall:.1f} s",
                        flush=True,
                    )
    finally:
        ray.shutdown()
        shutil.rmtree(storage_dir, ignore_errors=True)

    from raymt.io import atomic_to_csv

    df = pd.DataFrame(summary_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_to_csv(df, args.out, index=False)
    trials_path = args.out.with_name(args.out.stem + "_trials.csv")
    atomic_to_csv(pd.concat(trial_frames, ignore_index=True), trials_path, index=False)
    print(f"\nwrote {args.out} and {trials_path.name}; {len(runs)} runs, {len(seeds)} order(s), {time.perf_counter() - started:.0f} s in all\n")
    print(format_table(df))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
