"""``repeats.csv``: the front members trained again with other seeds, and what they scored.

``search.repeat_front: K`` re-runs each completed member of the validation front with K more
seeds once the search (and its test scoring) is done (the runs: :mod:`raymt.search.repeat`).
This module owns what comes of them: one row per (member, seed) in ``repeats.csv`` with its
validation BLEU/chrF (the best epoch, as the search scores a trial), its test BLEU/chrF where
the test split exists (the repeat's kept model, the member's decoding: exactly as
:mod:`raymt.results.test_scores` scores the member), its status and, for a run that did not
finish, the reason. The trials table then gets, per repeated member, ``bleu_mean``,
``bleu_sd``, ``n_seeds`` and their test counterparts (:mod:`raymt.analysis.seed_variance`; the
original run counts as one seed).

Nothing a finished repeat produced is lost: the rows are written as soon as the runs end,
before the test scoring, and again after it; a repeat that failed, or could not be scored,
keeps its row with the reason. Repeats already recorded as completed are not run again (a
resumed search runs only the missing ones). No Ray here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from raymt.analysis.pareto import pareto_mask
from raymt.analysis.seed_variance import COMPLETED, SEED_COLUMNS, seed_summary
from raymt.errors import ConfigError, DataError
from raymt.io import atomic_to_csv, atomic_write_text
from raymt.results.files import REPEATS_FILE, TEST_HYPS_DIR, TIMINGS
from raymt.results.paths import relative_to, resolve_in

#: repeats.csv's columns, in order
REPEAT_COLUMNS = (
    "trial_id",
    "seed",
    "original_seed",
    "status",
    "bleu",
    "chrf",
    "test_bleu",
    "test_chrf",
    "test_bleu_ci95",
    "error",
    "test_error",
    "wall_time_s",
    "test_time_s",
    "repeat_trial_id",
    "checkpoint_path",
)


@dataclass(frozen=True)
class RepeatJob:
    """One extra seed of one front member."""

    trial_id: str
    seed: int
    original_seed: int


@dataclass
class RepeatRun:
    """How one repeat ended (``status``: completed, failed or interrupted)."""

    trial_id: str
    seed: int
    original_seed: int
    status: str
    bleu: float = math.nan
    chrf: float = math.nan
    error: str = ""
    wall_time_s: float = math.nan
    repeat_trial_id: str = ""
    checkpoint_path: str = ""


def repeat_seeds(original_seed: int, k: int) -> list[int]:
    """The K extra seeds of a member trained with ``original_seed``: the next K integers."""
    return [int(original_seed) + i for i in range(1, k + 1)]


def load_repeats(results_dir: str | Path) -> pd.DataFrame:
    """``repeats.csv`` with its paths resolved (an empty table when the search made none)."""
    path = Path(results_dir) / REPEATS_FILE
    if not path.exists():
        return pd.DataFrame(columns=list(REPEAT_COLUMNS))
    try:
        df = pd.read_csv(path, dtype={"trial_id": str, "repeat_trial_id": str, "error": str, "test_error": str, "checkpoint_path": str})
    except (OSError, ValueError) as err:
        raise DataError(
            f"cannot read {REPEATS_FILE}: {err}", where=str(path), fix="rerun the repeats (raymt search --resume DIR) or delete the file"
        ) from None
    for col in ("error", "test_error", "checkpoint_path", "repeat_trial_id"):
        if col in df:
            df[col] = df[col].fillna("")
    if "checkpoint_path" in df:
        df["checkpoint_path"] = [resolve_in(v, Path(results_dir)) if v else "" for v in df["checkpoint_path"]]
    return df


def repeats_to_run(
    trials: pd.DataFrame, objectives: Mapping[str, str], k: int, seeds: Mapping[str, int], done: pd.DataFrame | None = None
) -> list[RepeatJob]:
    """The (member, seed) runs still to do: each completed trial of the validation front, its
    K extra seeds (``seeds``: trial id -> the seed it was trained with), less those ``done``
    holds as completed."""
    if k <= 0 or trials.empty:
        return []
    front = pareto_mask(trials, objectives).to_numpy() & (trials["status"].astype(str) == COMPLETED).to_numpy()
    finished = set()
    if done is not None and len(done):
        ok = done[done["status"].astype(str) == COMPLETED]
        finished = {(str(t), int(s)) for t, s in zip(ok["trial_id"], ok["seed"])}
    jobs = []
    for trial_id in trials.loc[front, "trial_id"].astype(str):
        original = int(seeds.get(trial_id, 0))
        jobs += [RepeatJob(trial_id, s, original) for s in repeat_seeds(original, k) if (trial_id, s) not in finished]
    return jobs


def with_seed_summary(trials: pd.DataFrame, repeats: pd.DataFrame) -> pd.DataFrame:
    """The trials table with :data:`SEED_COLUMNS` for every repeated member (NaN elsewhere)."""
    trials = trials.drop(columns=[c for c in SEED_COLUMNS if c in trials.columns])
    summary = seed_summary(trials, repeats)
    if summary.empty:
        return trials
    per_trial = summary.reindex(trials["trial_id"].astype(str))
    trials = trials.copy()
    for col in SEED_COLUMNS:
        trials[col] = per_trial[col].to_numpy()
        if col.endswith("n_seeds"):
            trials[col] = trials[col].astype("Int64")
    return trials


def refresh_seed_columns(results_dir: str | Path, trials: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """The seed columns from the ``repeats.csv`` already there, written into the trials table
    (a resumed search rebuilds its table from Tune's results, without them)."""
    from raymt.analysis.results import write_results

    repeats = load_repeats(results_dir)
    if repeats.empty:
        return trials
    trials = with_seed_summary(trials, repeats)
    write_results(Path(results_dir), trials, objectives=objectives)
    return trials


def record_repeats(
    results_dir: str | Path,
    trials: pd.DataFrame,
    runs: Iterable[RepeatRun],
    objectives: Mapping[str, str],
    *,
    fit_s: float = 0.0,
    log=print,
) -> pd.DataFrame:
    """Write the runs to ``repeats.csv`` (merged with earlier ones), score the completed ones on
    the test split, write the seed columns into the trials table and the cost into
    ``timings.json`` (``repeat_front_s``, ``repeat_test_scoring_s``). Returns the trials table."""
    from raymt.analysis.results import write_results

    results_dir = Path(results_dir)
    new = pd.DataFrame([asdict(r) for r in runs], columns=list(RepeatRun.__dataclass_fields__))
    repeats = _merge(load_repeats(results_dir), new)
    _write(results_dir, repeats)  # before the test scoring: nothing a finished repeat made waits on it
    t0 = time.perf_counter()
    repeats = _score_on_test(results_dir, trials, repeats, new, log=log)
    test_s = time.perf_counter() - t0
    _write(results_dir, repeats)
    trials = with_seed_summary(trials, repeats)
    write_results(results_dir, trials, objectives=objectives)
    _add_timings(results_dir, {"repeat_front_s": fit_s, "repeat_test_scoring_s": test_s})
    ok = new["status"].astype(str) == COMPLETED
    log(f"repeats: {int(ok.sum())} of {len(new)} run(s) completed" + ("" if ok.all() else f"; {int((~ok).sum())} did not (repeats.csv says why)"))
    return trials


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Earlier rows, less those a new run of the same (member, seed) replaces, then the new ones."""
    if old.empty:
        out = new
    else:
        again = set(zip(new["trial_id"].astype(str), new["seed"].astype(int)))
        keep = [(str(t), int(s)) not in again for t, s in zip(old["trial_id"], old["seed"])]
        out = pd.concat([old[keep], new], ignore_index=True)
    for col in REPEAT_COLUMNS:
        if col not in out.columns:
            out[col] = "" if col in ("error", "test_error") else math.nan
    return out[list(REPEAT_COLUMNS) + [c for c in out.columns if c not in REPEAT_COLUMNS]].reset_index(drop=True)


def _write(results_dir: Path, repeats: pd.DataFrame) -> None:
    out = repeats.copy()
    out["checkpoint_path"] = [relative_to(v, results_dir) if v else "" for v in out["checkpoint_path"].fillna("")]
    atomic_to_csv(out, results_dir / REPEATS_FILE)


def _score_on_test(results_dir: Path, trials: pd.DataFrame, repeats: pd.DataFrame, new: pd.DataFrame, *, log) -> pd.DataFrame:
    """The test columns of the new completed repeats (the member's row with the repeat's model)."""
    from raymt.results.paths import absolute_paths
    from raymt.results.test_scores import load_test_sets, score_trial_on_test

    todo = [i for i in repeats.index if (str(repeats.at[i, "trial_id"]), int(repeats.at[i, "seed"])) in _keys(new)]
    todo = [i for i in todo if str(repeats.at[i, "status"]) == COMPLETED and repeats.at[i, "checkpoint_path"]]
    if not todo:
        return repeats
    try:
        test_sets = load_test_sets(results_dir)
    except DataError as err:
        log(f"repeats not scored on test: {err}")
        return repeats
    members = absolute_paths(trials, results_dir).set_index(trials["trial_id"].astype(str), drop=False)
    log(f"scoring {len(todo)} repeat(s) on the held-out test split")
    for i in todo:
        trial_id, seed = str(repeats.at[i, "trial_id"]), int(repeats.at[i, "seed"])
        row = members.loc[trial_id].copy()
        row["checkpoint_path"], row["artifact_path"] = repeats.at[i, "checkpoint_path"], ""
        t0 = time.perf_counter()
        try:
            values, hyps = score_trial_on_test(results_dir, row, test_sets)
        except (ConfigError, DataError, OSError, ValueError, RuntimeError) as err:  # one repeat's loss
            repeats.at[i, "test_error"] = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            log(f"  {trial_id} seed {seed}: not scored on test ({repeats.at[i, 'test_error']})")
            continue
        for col in ("test_bleu", "test_chrf", "test_bleu_ci95"):
            repeats.at[i, col] = values[col]
        repeats.at[i, "test_time_s"] = time.perf_counter() - t0
        (results_dir / TEST_HYPS_DIR).mkdir(exist_ok=True)
        atomic_write_text(results_dir / TEST_HYPS_DIR / f"{trial_id}_seed{seed}.txt", "\n".join(hyps) + "\n")
        log(f"  {trial_id} seed {seed}: BLEU {float(repeats.at[i, 'bleu']):.2f} (validation), {values['test_bleu']:.2f} (test)")
    return repeats


def _keys(df: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(df["trial_id"].astype(str), df["seed"].astype(int)))


def _add_timings(results_dir: Path, seconds: Mapping[str, float]) -> None:
    """Add to ``timings.json``'s counters (summed over rounds, like test_scoring_s)."""
    try:
        timings = json.loads((results_dir / TIMINGS).read_text())
    except (OSError, ValueError):
        timings = {}
    for key, value in seconds.items():
        timings[key] = float(timings.get(key) or 0.0) + float(value)
    atomic_write_text(results_dir / TIMINGS, json.dumps(timings, indent=1))
