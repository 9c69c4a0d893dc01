"""From Tune's ResultGrid to raymt's flat trials table, history, artefacts and report.

Tune's own dataframe has nested ``config/...`` names and no notion of early-stopped or failed
trials in a Pareto sense; raymt's table has one readable row per trial with a ``status`` that
the front, the report and the sampler all interpret the same way.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timezone
from pathlib import Path

import pandas as pd

from raymt.analysis.front import front_flags
from raymt.analysis.pareto import pareto_mask
from raymt.analysis.results import HISTORY_COLUMNS
from raymt.metrics.per_pair import pair_metric_columns
from raymt.object_store import download, exists, filesystem, join
from raymt.results.columns import INIT_STAGE
from raymt.results.failures import failure_reason
from raymt.results.files import ARTIFACTS_DIR, HYPS_DIR, TRIALS_DIR, train_run_name
from raymt.results.folder import copy_artifact
from raymt.results.study import OptunaLink

METRIC_COLUMNS = [
    "bleu",
    "chrf",
    "eval_loss",
    "storage_mb",
    "trainable_params",
    "total_params",
    "best_epoch",
    "train_time_s",
    "eval_time_s",
    "setup_time_s",
    "first_step_s",
    "tokens_per_s",
    "restarts",
    "patience_stopped",
    "sacrebleu_signature",
    "init_key",
    "init_build_s",
    "init_wait_s",
    "init_built",
]


def trial_id_from_path(path: str) -> str:
    """The Tune trial id in a trial folder's name: ``<trainable>_<8 hex>_<index>_<tag>_<date>``
    under a searcher, ``<trainable>_<5 hex>_<5 digits>...`` without one."""
    name = os.path.basename(path.rstrip("/"))
    match = re.search(r"([0-9a-f]{5}_\d{5})", name) or re.search(r"_([0-9a-f]{8})_\d+(?:_|$)", name)
    return match.group(1) if match else name


def _latest_checkpoint(train_dir: Path) -> Path | None:
    best, best_epoch = None, -1
    for state in train_dir.glob("checkpoint_*/state.json"):
        try:
            epoch = json.loads(state.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            continue
        if epoch > best_epoch:
            best, best_epoch = state.parent, epoch
    return best


def _latest_checkpoint_uri(train_uri: str) -> str | None:
    """:func:`_latest_checkpoint` for a Train run on an object store."""
    from pyarrow import fs as pafs

    fs, root = filesystem(train_uri)
    best, best_epoch = None, -1
    for entry in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        name = entry.path.rsplit("/", 1)[-1]
        if entry.type != pafs.FileType.Directory or not name.startswith("checkpoint_"):
            continue
        try:
            with fs.open_input_stream(f"{entry.path}/state.json") as f:
                epoch = json.loads(f.read())["epoch"]
        except (OSError, ValueError, KeyError):
            continue
        if epoch > best_epoch:
            best, best_epoch = join(train_uri, name), epoch
    return best


def trial_checkpoint(results_dir: Path, trial_id: str, exp_uri: str | None = None) -> str:
    """The newest checkpoint of a Tune trial's Train run (a local path, or a URI for an
    object-store experiment); "" when it saved none."""
    if exp_uri:
        return _latest_checkpoint_uri(join(exp_uri, TRIALS_DIR, train_run_name(trial_id))) or ""
    ckpt = _latest_checkpoint(results_dir / TRIALS_DIR / train_run_name(trial_id))
    return str(ckpt) if ckpt else ""


def _fetch_hyps(ckpt_uri: str, results_dir: Path, exp_uri: str, trial_id: str) -> str:
    """Copy a trial's dev hypotheses next to the results (the significance tests read them)
    and return their URI in the experiment; "" when the trial wrote none."""
    rel = (HYPS_DIR, f"{trial_id}.txt")
    try:
        download(join(ckpt_uri, "best_hyps.txt"), results_dir.joinpath(*rel))
    except FileNotFoundError:
        return ""
    return join(exp_uri, *rel)


def collect_results(
    grid,
    param_columns: Sequence[str],
    results_dir: Path,
    objectives: dict[str, str],
    keep_artifacts: str,
    refs_path: Path | str,
    *,
    exp_uri: str | None = None,
    optuna_trials: Mapping[str, OptunaLink] | None = None,
):
    """The trials table and the per-epoch history of a finished (or interrupted) search.

    ``param_columns``: every searched parameter (NaN where a trial's branch lacks it);
    ``keep_artifacts``: "all" copies every completed trial's artefact into the results, "front"
    only those on the front of ``objectives``. ``exp_uri``: the experiment's object-store URI
    (``results_dir`` is then its staging copy); paths in the table are then URIs, which any
    machine can fetch. ``optuna_trials``: Tune trial id -> its Optuna trial
    (:func:`raymt.results.study.optuna_links`), for the ``optuna_number`` column.

    Rows are in the order the trials started; a setting or count whose every value is an
    integer is a nullable integer column (``lora.r`` 8, not 8.0; missing where a trial's branch
    lacks it); ``is_pareto`` / ``is_knee`` mark the front and its knee (:mod:`raymt.analysis.knee`)."""
    rows, history = [], []
    optuna_trials = optuna_trials or {}
    for result in grid:
        metrics = dict(result.metrics or {})
        tune_id = str(metrics.get("trial_id") or trial_id_from_path(str(result.path)))
        trial_id = tune_id  # raymt's id is Tune's: the Train run is trials/trial_<id>, the Tune trial tune/*_<id>_*
        link = optuna_trials.get(tune_id)
        row: dict = {
            "trial_id": trial_id,
            "start_time": _start_time(metrics, link),
            "tune_trial_id": tune_id,
            "optuna_number": link.number if link else None,
        }
        for col in param_columns:
            row.setdefault(col, math.nan)
        for key, value in (result.config or {}).items():
            row[key] = "+".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        for key in METRIC_COLUMNS + pair_metric_columns(metrics):  # multi-pair: bleu_<src>-<tgt>, ...
            row[key] = metrics.get(key, math.nan)
        if INIT_STAGE not in row and metrics.get("init_stage", "none") != "none":
            row[INIT_STAGE] = metrics["init_stage"]  # a fixed (not searched) warm start still shows
        error = result.error
        if error is not None:
            row["status"] = "failed"
            row["error"] = failure_reason(error)
        elif metrics.get("early_stopped"):  # set by the scheduler's record (raymt.search.scheduler.record)
            row["status"] = "early_stopped"
            row["error"] = ""
        elif not metrics.get("finished"):  # Ctrl-C came before the worker's last report said finished:
            row["status"] = "interrupted"  # `raymt search --resume` continues it from its last checkpoint
            row["error"] = ""
        else:
            row["status"] = "completed"
            row["error"] = ""
        row["early_stopped"] = row["status"] == "early_stopped"
        row["epochs_done"] = metrics.get("epoch", 0)
        row["wall_time_s"] = metrics.get("time_total_s", math.nan)
        ckpt = trial_checkpoint(results_dir, trial_id, exp_uri)
        row["checkpoint_path"] = ckpt
        if exp_uri:
            row["hyps_path"] = _fetch_hyps(ckpt, results_dir, exp_uri, trial_id) if ckpt else ""
        else:
            row["hyps_path"] = str(Path(ckpt) / "best_hyps.txt") if ckpt and (Path(ckpt) / "best_hyps.txt").exists() else ""
        row["refs_path"] = str(refs_path)
        rows.append(row)
        frame = getattr(result, "metrics_dataframe", None)
        if frame is not None and len(frame):
            for _, h in frame.iterrows():
                history.append(
                    {
                        "trial_id": trial_id,
                        "epoch": h.get("epoch"),
                        "step": h.get("step"),
                        "bleu": h.get("bleu_epoch"),
                        "chrf": h.get("chrf_epoch"),
                        "eval_loss": h.get("eval_loss_epoch"),
                        "train_loss": h.get("train_loss"),
                        "checkpoint_bytes": h.get("checkpoint_bytes"),  # the checkpoint budget (raymt.results.checkpoints)
                    }
                )
    trials = pd.DataFrame(rows)
    # the history's columns also when no trial reported an epoch (every one failed first)
    history = pd.DataFrame(history, columns=[*HISTORY_COLUMNS, "checkpoint_bytes"])
    if len(trials) == 0:
        return trials, history
    trials["start_time"] = pd.to_datetime(trials["start_time"], utc=True)
    for col in {*_integer_columns(rows), "optuna_number"}:  # optuna_number: <NA> without a study, still integers
        trials[col] = trials[col].astype("Int64")
    trials = trials.sort_values(["start_time", "trial_id"], na_position="last").reset_index(drop=True)
    on_front = pareto_mask(trials, objectives)
    trials["artifact_path"] = ""
    for i, row in trials.iterrows():
        keep = row["status"] == "completed" and (keep_artifacts == "all" or bool(on_front.iloc[i]))
        if keep and row["checkpoint_path"]:
            ckpt = row["checkpoint_path"]
            src = join(ckpt, "best") if exists(join(ckpt, "best")) else join(ckpt, "artifact")
            dest = results_dir / ARTIFACTS_DIR / row["trial_id"]
            # a finished search resumed (on an object store maybe from another machine): its copy
            # stays, the checkpoint may have lost its tensors (raymt.results.checkpoints)
            copied = exists(join(exp_uri, ARTIFACTS_DIR, row["trial_id"])) if exp_uri else dest.is_dir()
            if not exists(src) and copied:
                trials.at[i, "artifact_path"] = join(exp_uri, ARTIFACTS_DIR, row["trial_id"]) if exp_uri else str(dest)
                continue
            copy_artifact(src, dest)
            trials.at[i, "artifact_path"] = join(exp_uri, ARTIFACTS_DIR, row["trial_id"]) if exp_uri else str(dest)
    trials["is_pareto"], trials["is_knee"] = front_flags(trials, objectives)
    return trials, history


def _start_time(metrics: dict, link: OptunaLink | None):
    """When the trial started (UTC): its last report's time less its running time (Tune's
    clock); for a trial that never reported, when Optuna proposed it; else unknown."""
    stamp, running = metrics.get("timestamp"), metrics.get("time_total_s")
    if isinstance(stamp, (int, float)) and isinstance(running, (int, float)) and math.isfinite(stamp - running):
        return pd.Timestamp(stamp - running, unit="s", tz="UTC")
    if link is not None and link.start is not None:
        return pd.Timestamp(link.start.astimezone(timezone.utc))  # Optuna's clock is naive local time
    return None


def _integer_columns(rows: Sequence[dict]) -> list[str]:
    """The columns whose every present value is an integer (a bool is not one)."""
    seen: dict[str, bool] = {}
    for row in rows:
        for key, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            is_int = isinstance(value, int) and not isinstance(value, bool)
            seen[key] = seen.get(key, True) and is_int
    return [k for k, ok in seen.items() if ok]
