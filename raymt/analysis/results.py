"""Reading and writing an experiment's results folder.

A raymt results folder holds ``trials.parquet`` (the typed source of truth, one row per
trial; columns in docs/architecture.md), ``trials.csv`` (the same, for spreadsheets and
grep), ``pareto.csv`` (the front) and, when epochs were reported, ``history.parquet``. All
are written atomically (:mod:`raymt.io`), so a search killed mid-write leaves the previous
consistent set, and ``raymt report`` can be run on a folder that is still being written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from raymt.analysis.pareto import DEFAULT_OBJECTIVES, DEFAULT_STATUSES, pareto_front, validate_objectives
from raymt.errors import DataError
from raymt.io import atomic_to_csv, atomic_to_parquet
from raymt.metrics.per_pair import is_pair_metric
from raymt.results.columns import folder_param_names, upgrade_columns
from raymt.results.files import HISTORY_FILE, PARETO_CSV, TRIALS_CSV, TRIALS_FILE
from raymt.results.paths import absolute_paths, relative_paths

__all__ = [
    "HISTORY_COLUMNS",
    "RESULT_COLUMNS",
    "STATUSES",
    "hyperparameter_columns",
    "load",
    "load_history",
    "write_results",
]

#: ``interrupted``: the search was stopped (Ctrl-C) during the trial; ``--resume`` continues it.
STATUSES = ("completed", "early_stopped", "interrupted", "failed", "running")

#: Columns of the trials table that are NOT hyperparameters: identity, outcome, cost and
#: bookkeeping, as are a multi-pair run's per-pair scores (``bleu_<src>-<tgt>``, ``chrf_...``,
#: see :mod:`raymt.metrics.per_pair`). Everything else in the table is a searched parameter (so a new method's
#: parameter column, e.g. ``prefix_len``, shows up in plots without touching this list).
RESULT_COLUMNS = (
    "trial_id", "status", "bleu", "chrf", "eval_loss", "storage_mb", "storage_mb_estimate",
    "trainable_params", "total_params", "epochs_done", "best_epoch", "train_time_s",
    "eval_time_s", "wall_time_s", "early_stopped", "error", "artifact_path", "hyps_path",
    "refs_path", "sacrebleu_signature", "chrf_signature", "checkpoint_path", "epoch", "step", "train_loss",
    "storage_bytes", "setup_time_s", "first_step_s", "tokens_per_s", "restarts", "patience_stopped",
    "init_key", "init_build_s", "init_wait_s", "init_built",
    "start_time", "tune_trial_id", "optuna_number", "is_pareto", "is_knee",
    "bleu_mean", "bleu_sd", "n_seeds",
)  # fmt: skip

#: held-out test scores (raymt.results.test_scores: test_bleu, test_chrf, test_bleu_ci95, ...)
TEST_PREFIX = "test_"

HISTORY_COLUMNS = ("trial_id", "epoch", "step", "bleu", "chrf", "eval_loss", "train_loss")
_REQUIRED = ("trial_id", "status")


def hyperparameter_columns(df: pd.DataFrame) -> list[str]:
    """The searched-parameter columns of a trials table, in table order (``method`` first)."""
    cols = [c for c in df.columns if c not in RESULT_COLUMNS and not is_pair_metric(c) and not str(c).startswith(TEST_PREFIX)]
    return sorted(cols, key=lambda c: c != "method")


def _check_trials(df: pd.DataFrame, where: str) -> None:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"the trials table lacks the column(s) {missing}",
            where=where,
            fix="a trials table has one row per trial with at least trial_id and status (see docs/architecture.md)",
        )
    unknown = sorted(set(df["status"].dropna().astype(str)) - set(STATUSES))
    if unknown:
        raise DataError(
            f"unknown trial status(es) {unknown}",
            where=f"{where}: status",
            fix=f"use one of {list(STATUSES)}",
        )


def _results_dir(results_dir: str | os.PathLike[str]) -> Path:
    from raymt.object_store import is_uri, mirror_experiment

    if is_uri(results_dir):  # s3://.../NAME: read this machine's up-to-date copy
        return mirror_experiment(str(results_dir))
    folder = Path(results_dir)
    if not folder.is_dir():
        raise DataError(
            "no such folder",
            where=str(folder),
            fix="pass the results folder of a raymt experiment (the one holding trials.parquet)",
        )
    return folder


def load(results_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The trials table of an experiment folder."""
    folder = _results_dir(results_dir)
    path = folder / TRIALS_FILE
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir())[:8]
        raise DataError(
            f"not a raymt experiment: no {TRIALS_FILE}" + (f" (found: {', '.join(found)})" if found else " (the folder is empty)"),
            where=str(folder),
            fix="pass the folder a raymt search wrote its results to, or wait until its first trial has finished",
        )
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise DataError(
            f"cannot read {TRIALS_FILE}: {err}", where=str(path), fix="the file is damaged; rerun `raymt report` after the search rewrites it"
        ) from err
    _check_trials(df, str(path))
    df = upgrade_columns(df, folder_param_names(folder), where=str(path))  # raymt 0.1 results: old names
    return absolute_paths(df, folder)  # written relative to the folder: a moved folder reads its own files


def load_history(results_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Per-epoch history (long format); an empty frame with the history columns if none was written."""
    folder = _results_dir(results_dir)
    path = folder / HISTORY_FILE
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=object if c == "trial_id" else float) for c in HISTORY_COLUMNS})
    try:
        return pd.read_parquet(path)
    except Exception as err:
        raise DataError(f"cannot read {HISTORY_FILE}: {err}", where=str(path), fix="the file is damaged; rerun the search or delete it") from err


def write_results(
    results_dir: str | os.PathLike[str],
    trials_df: pd.DataFrame,
    history_df: pd.DataFrame | None = None,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> dict[str, Path]:
    """Write trials.parquet, trials.csv, pareto.csv (and history.parquet); returns name -> path.

    The front in ``pareto.csv`` uses the same eligibility as everywhere else (completed
    trials with finite objectives by default). Paths inside the folder are written relative to
    it, and :func:`load` reads them back as paths on this machine.
    """
    folder = Path(results_dir)
    _check_trials(trials_df, "trials_df")
    objectives = validate_objectives(objectives, trials_df)
    # paths relative to the folder on disk (raymt.results.paths): a copy of the folder works on its own
    trials_df = relative_paths(trials_df, folder)
    front = pareto_front(trials_df, objectives, statuses=statuses)
    written = {
        "trials": atomic_to_parquet(trials_df, folder / TRIALS_FILE),
        "trials_csv": atomic_to_csv(trials_df, folder / TRIALS_CSV),
        "pareto": atomic_to_csv(front, folder / PARETO_CSV),
    }
    if history_df is not None:
        missing = [c for c in ("trial_id", "epoch") if c not in history_df.columns]
        if missing:
            raise DataError(
                f"the history table lacks the column(s) {missing}", where="history_df", fix=f"history is long format: {', '.join(HISTORY_COLUMNS)}"
            )
        written["history"] = atomic_to_parquet(history_df, folder / HISTORY_FILE)
    return written
