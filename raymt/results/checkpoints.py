"""The checkpoint budget at the end of a search (issue 16, item 3): what was written, what is left.

While a search runs, each trial keeps one checkpoint, its latest, carrying its best artefact
(:data:`raymt.plan.storage.CHECKPOINT_POLICY`). Once the search has ended, nothing reads the
tensors of a trial off the front: its artefact, when kept (``search.keep_artifacts``), is a copy
in ``<results>/artifacts``, and a finished search is not resumed. So the checkpoints of trials
that are not completed members of the front lose their tensors (``artifact/``, ``best/``, the
optimizer state) unless ``search.keep_checkpoints: all``. What a user reads stays: the
trials table, the per-epoch history, each checkpoint's ``state.json`` and hypotheses (the
paired bootstrap reads ``hyps_path``), and the front's checkpoints whole.

A trial a scheduler stops loses its tensors as soon as its Train run has ended: the search
driver marks its Train run folder (:data:`raymt.results.files.STOPPED_MARK`) when the scheduler
decides, and the trial strips its own checkpoint once ``fit()`` has returned
(:func:`release_if_stopped`), so a long search does not hold every stopped trial's checkpoint
until its end.

A search that was interrupted is left as it is: ``raymt search --resume`` continues its trials
from their checkpoints, and the front may still change.

The outcome is written to :data:`raymt.results.files.CHECKPOINTS` and shown in the report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from raymt.io import atomic_write_text
from raymt.results.files import CHECKPOINTS, STOPPED_MARK, TRIALS_DIR, train_run_name

#: what a pruned checkpoint loses: the tensors (everything else is a few text files)
TENSORS = ("artifact", "best", "trainer_state*.pt")


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def strip_tensors(train_run: Path) -> bool:
    """Remove the tensors of every checkpoint of one Train run (its state and hypotheses stay);
    True when it has a checkpoint."""
    checkpoints = [p for p in Path(train_run).glob("checkpoint_*") if p.is_dir()]  # not checkpoint_manager_snapshot.json
    for ckpt in checkpoints:
        for pattern in TENSORS:
            for path in ckpt.glob(pattern):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return bool(checkpoints)


def mark_stopped(train_run: Path) -> None:
    """The search driver: a scheduler stopped this trial (its result is recorded)."""
    Path(train_run).mkdir(parents=True, exist_ok=True)
    (Path(train_run) / STOPPED_MARK).write_text("stopped by the search's scheduler: the checkpoint's tensors are removed when its run ends\n")


def release_if_stopped(train_run: Path) -> bool:
    """The trial, once its Train run has ended: strip its checkpoint when the scheduler stopped it."""
    if not (Path(train_run) / STOPPED_MARK).exists():
        return False
    return strip_tensors(train_run)


def kept_whole(trials: pd.DataFrame, keep_checkpoints: str) -> set[str]:
    """Trial ids whose checkpoints keep their tensors."""
    if keep_checkpoints == "all":
        return set(trials["trial_id"].astype(str))
    on_front = trials["is_pareto"].fillna(False).astype(bool) if "is_pareto" in trials else pd.Series(False, index=trials.index)
    keep = (trials["status"] == "completed") & on_front
    return set(trials.loc[keep, "trial_id"].astype(str))


def apply_checkpoint_budget(results_dir: Path, trials: pd.DataFrame, history: pd.DataFrame | None, keep_checkpoints: str) -> dict:
    """Strip the tensors of the checkpoints nothing will read, and record (and return) what was
    written during the search and what is left. Local results folders only: an object-store
    experiment's checkpoints are left as they are (``pruned`` says so)."""
    root = Path(results_dir) / TRIALS_DIR
    written = history["checkpoint_bytes"].fillna(0).sum() if history is not None and "checkpoint_bytes" in history else float("nan")
    outcome = {
        "keep_checkpoints": keep_checkpoints,
        "written_bytes": int(written) if written == written else None,
        "checkpoints_written": int(history["checkpoint_bytes"].notna().sum()) if history is not None and "checkpoint_bytes" in history else None,
        "before_bytes": folder_bytes(root),
        "kept_whole": sorted(kept_whole(trials, keep_checkpoints)) if len(trials) else [],
        "pruned_trials": [],
        "pruned": root.is_dir(),
    }
    if root.is_dir():
        for trial_id in trials["trial_id"].astype(str):
            if trial_id in outcome["kept_whole"]:
                continue
            if strip_tensors(root / train_run_name(trial_id)):  # stripped now, or when the scheduler stopped it
                outcome["pruned_trials"].append(trial_id)
    outcome["left_bytes"] = folder_bytes(root)
    atomic_write_text(Path(results_dir) / CHECKPOINTS, json.dumps(outcome, indent=1))
    return outcome


def checkpoint_section(outcome: dict) -> str:
    """The report's lines on the checkpoint budget."""
    from raymt.plan.units import storage

    lines = []
    if outcome.get("written_bytes") is not None:
        lines.append(f"- written during the search: {storage(outcome['written_bytes'])} in {outcome['checkpoints_written']} checkpoint(s)")
    kept = len(outcome.get("kept_whole") or [])
    rule = "every trial's" if outcome.get("keep_checkpoints") == "all" else "the front's completed trials'"
    if outcome.get("pruned"):
        lines.append(
            f"- left in {TRIALS_DIR}/: {storage(outcome['left_bytes'])} (was {storage(outcome['before_bytes'])}): "
            f"{rule} checkpoints whole ({kept}); {len(outcome.get('pruned_trials') or [])} other trial(s) keep state and hypotheses only "
            f"(search.keep_checkpoints: {outcome.get('keep_checkpoints')})"
        )
    else:
        lines.append(f"- checkpoints on the object store left as written (search.keep_checkpoints: {outcome.get('keep_checkpoints')})")
    return "\n".join(lines)
