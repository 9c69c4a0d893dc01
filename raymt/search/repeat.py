"""``search.repeat_front: K``: the validation front trained again with K more seeds, on Ray.

Why: two seeds of one configuration can differ by as much as two methods do on a small task, so
the front's order may be luck; the report needs each member's spread over seeds
(:mod:`raymt.analysis.seed_variance`). After the search and its test scoring, each completed
front member runs K more times, ``train.seed`` + 1 ... + K, everything else as the member
(its sampled parameters go through the same :class:`CompiledSpace` to a trial config). The runs
are real trials: one more ``Tuner.fit`` over the fixed configurations (a ``tune.grid_search``,
no searcher, no early stopping: a repeat runs all its epochs as the member did), the same
function trainable and Ray Train run, the search's concurrency and resources. Their Train runs
go under ``trials/`` beside the search's, Tune's state under ``tune_repeats/``;
:mod:`raymt.results.repeats` records and scores what they produced.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
from ray import tune

from raymt.object_store import join
from raymt.results.collect import trial_checkpoint, trial_id_from_path
from raymt.results.failures import failure_reason
from raymt.runtime import train_log_level, tune_output
from raymt.results.files import REPEATS_TUNE_DIR, TRIALS_DIR
from raymt.results.repeats import RepeatJob, RepeatRun, load_repeats, record_repeats, refresh_seed_columns, repeats_to_run
from raymt.search.config import SearchConfig
from raymt.search.space import CompiledSpace
from raymt.search.trainable import FreeFailedTrials, make_trainable
from raymt.search.trial_lines import TrialLines
from raymt.search.tuner import fit, make_tuner
from raymt.train.preflight import trial_concurrency


def member_seed(compiled: CompiledSpace, params: dict) -> int:
    """The ``train.seed`` a member was trained with (the config's, or the space's when searched)."""
    return int((compiled.to_raw_config(params).get("train") or {}).get("seed", 0))


def repeat_front(
    cfg,
    search: SearchConfig,
    compiled: CompiledSpace,
    prepared,
    results_dir: Path,
    trials: pd.DataFrame,
    *,
    exp_uri: str | None = None,
    limits=None,
    verbose: bool = False,
    log=print,
) -> pd.DataFrame:
    """Run the front's missing repeats, record them (``repeats.csv``, the trials table's seed
    columns, ``timings.json``) and return the updated trials table. A repeat Ctrl-C cut short
    is recorded ``interrupted`` (:func:`interrupted_repeats`); ``--resume`` runs it again."""
    k = search.repeat_front
    by_id = trials.set_index(trials["trial_id"].astype(str), drop=False)
    params = {t: compiled.row_params(by_id.loc[t]) for t in by_id.index}
    seeds = {t: member_seed(compiled, p) for t, p in params.items()}
    jobs = repeats_to_run(trials, search.objectives, k, seeds, load_repeats(results_dir))
    if not jobs:  # all done (a resumed search): the table gets their columns back
        return refresh_seed_columns(results_dir, trials, search.objectives)
    members = sorted({j.trial_id for j in jobs})
    log(f"repeating {len(members)} front member(s) with {k} more seed(s) each: {len(jobs)} run(s) (search.repeat_front)")
    trials_storage = join(exp_uri, TRIALS_DIR) if exp_uri else str(results_dir / TRIALS_DIR)
    trainable = make_trainable(
        compiled=compiled, prepared=prepared, trials_storage=trials_storage, train_log_level=train_log_level(verbose), repeats=True
    )
    concurrent, _ = trial_concurrency(cfg, search.max_concurrent_trials, limits=limits)
    space = {"repeat": tune.grid_search([{"trial_id": j.trial_id, "seed": j.seed, "params": params[j.trial_id]} for j in jobs])}
    tuner = make_tuner(
        trainable,
        searcher=None,
        param_space=space,
        num_samples=1,
        max_concurrent_trials=concurrent,
        storage_path=exp_uri or results_dir,
        name=REPEATS_TUNE_DIR,
        resources={"cpu": cfg.resources.trial_cpus},
        callbacks=[TrialLines(search.objectives, len(jobs), cfg.train.epochs, log=log), FreeFailedTrials(trials_storage)],
        verbose=None if verbose else 0,  # as the search: raymt's lines only unless verbose
    )
    t0 = time.perf_counter()
    with tune_output(verbose):
        grid = fit(tuner)
    fit_s = time.perf_counter() - t0
    runs = _runs(grid, jobs, results_dir, exp_uri)
    return record_repeats(results_dir, trials, runs, search.objectives, fit_s=fit_s, log=log)


def _runs(grid, jobs: list[RepeatJob], results_dir: Path, exp_uri: str | None) -> list[RepeatRun]:
    """One :class:`RepeatRun` per job: how its Tune trial ended (a job Tune never started, e.g.
    after Ctrl-C, is ``interrupted``)."""
    original = {(j.trial_id, j.seed): j.original_seed for j in jobs}
    runs: dict[tuple[str, int], RepeatRun] = {}
    for result in grid:
        repeat = (result.config or {}).get("repeat") or {}
        key = (str(repeat.get("trial_id")), int(repeat.get("seed", -1)))
        if key not in original:
            continue
        metrics = dict(result.metrics or {})
        tune_id = str(metrics.get("trial_id") or trial_id_from_path(str(result.path)))
        run = RepeatRun(key[0], key[1], original[key], status="completed", repeat_trial_id=tune_id)
        if result.error is not None:
            run.status, run.error = "failed", failure_reason(result.error)
        elif not metrics.get("finished"):
            run.status, run.error = "interrupted", "the search was stopped before this repeat finished"
        run.bleu = float(metrics.get("bleu", math.nan)) if metrics.get("bleu") is not None else math.nan
        run.chrf = float(metrics.get("chrf", math.nan)) if metrics.get("chrf") is not None else math.nan
        run.wall_time_s = float(metrics.get("time_total_s", math.nan) or math.nan)
        run.checkpoint_path = trial_checkpoint(results_dir, tune_id, exp_uri)
        runs[key] = run
    for key, seed0 in original.items():
        runs.setdefault(key, RepeatRun(key[0], key[1], seed0, status="interrupted", error="never started (the search was stopped)"))
    return [runs[(j.trial_id, j.seed)] for j in jobs]


def interrupted_repeats(results_dir: Path) -> bool:
    """Whether a repeat was cut short (Ctrl-C): the search then ends as interrupted."""
    repeats = load_repeats(results_dir)
    return bool(len(repeats)) and bool((repeats["status"].astype(str) == "interrupted").any())
