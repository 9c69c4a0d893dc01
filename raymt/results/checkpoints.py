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

The same holds on an object store (``storage_path: s3://...``), where Ray Train writes the
checkpoints straight to the bucket: every reading and removal here goes through the
``pyarrow.fs`` file system raymt and Ray already use for that URI (``raymt.object_store``), so
a local folder and a bucket are pruned by one code path.

The outcome is written to :data:`raymt.results.files.CHECKPOINTS` and shown in the report.
"""

from __future__ import annotations

import json
import os
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd

from raymt.io import atomic_write_text
from raymt.object_store import filesystem, is_uri, join, local_form
from raymt.results.files import CHECKPOINTS, STOPPED_MARK, TRIALS_DIR, train_run_name

#: what a pruned checkpoint loses: the tensors (everything else is a few text files); the
#: trainer state is ``trainer_state.pt`` and, under FSDP, the ranks' shards in ``trainer_state.dcp/``
TENSORS = ("artifact", "best", "trainer_state*")

Location = str | os.PathLike


def _tree(location: Location):
    """``(pyarrow FileSystem, path in it)`` of a local folder or an object-store URI."""
    from pyarrow import fs as pafs

    if is_uri(location):
        return filesystem(str(location))
    return pafs.LocalFileSystem(), str(Path(local_form(location)).absolute())


def _entries(fs, root: str, *, recursive: bool = False) -> list:
    from pyarrow import fs as pafs

    return fs.get_file_info(pafs.FileSelector(root, recursive=recursive, allow_not_found=True))


def _is_dir(location: Location) -> bool:
    from pyarrow import fs as pafs

    fs, root = _tree(location)
    return fs.get_file_info(root).type == pafs.FileType.Directory


def folder_bytes(location: Location) -> int:
    """Bytes of the files under a folder or URI (0 when it is not there)."""
    from pyarrow import fs as pafs

    fs, root = _tree(location)
    return sum(e.size for e in _entries(fs, root, recursive=True) if e.type == pafs.FileType.File)


def strip_tensors(train_run: Location) -> bool:
    """Remove the tensors of every checkpoint of one Train run, a folder or a URI (its state and
    hypotheses stay); True when it has a checkpoint."""
    from pyarrow import fs as pafs

    fs, root = _tree(train_run)
    # checkpoint_* folders (not checkpoint_manager_snapshot.json)
    checkpoints = [e.path for e in _entries(fs, root) if e.type == pafs.FileType.Directory and e.base_name.startswith("checkpoint_")]
    for ckpt in checkpoints:
        for entry in _entries(fs, ckpt):
            if any(fnmatch(entry.base_name, pattern) for pattern in TENSORS):
                fs.delete_dir(entry.path) if entry.type == pafs.FileType.Directory else fs.delete_file(entry.path)
    return bool(checkpoints)


def mark_stopped(train_run: Location) -> None:
    """The search driver: a scheduler stopped this trial (its result is recorded). On an object
    store the mark is an object beside the run's checkpoints, where the trial looks for it."""
    fs, root = _tree(train_run)
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(f"{root}/{STOPPED_MARK}") as out:
        out.write(b"stopped by the search's scheduler: the checkpoint's tensors are removed when its run ends\n")


def release_if_stopped(train_run: Location) -> bool:
    """The trial, once its Train run has ended: strip its checkpoint when the scheduler stopped it."""
    from pyarrow import fs as pafs

    fs, root = _tree(train_run)
    if fs.get_file_info(f"{root}/{STOPPED_MARK}").type != pafs.FileType.File:
        return False
    return strip_tensors(train_run)


def kept_whole(trials: pd.DataFrame, keep_checkpoints: str) -> set[str]:
    """Trial ids whose checkpoints keep their tensors."""
    if keep_checkpoints == "all":
        return set(trials["trial_id"].astype(str))
    on_front = trials["is_pareto"].fillna(False).astype(bool) if "is_pareto" in trials else pd.Series(False, index=trials.index)
    keep = (trials["status"] == "completed") & on_front
    return set(trials.loc[keep, "trial_id"].astype(str))


def apply_checkpoint_budget(
    results_dir: Path, trials: pd.DataFrame, history: pd.DataFrame | None, keep_checkpoints: str, *, trials_root: Location | None = None
) -> dict:
    """Strip the tensors of the checkpoints nothing will read, and record (and return) what was
    written during the search and what is left. ``trials_root``: where the Train runs are, when
    not ``results_dir/trials`` (an object-store experiment: ``<storage URI>/trials``);
    ``checkpoints.json`` is written to ``results_dir`` either way."""
    root = str(trials_root) if trials_root is not None else str(Path(results_dir) / TRIALS_DIR)
    exists = _is_dir(root)
    written = history["checkpoint_bytes"].fillna(0).sum() if history is not None and "checkpoint_bytes" in history else float("nan")
    outcome = {
        "keep_checkpoints": keep_checkpoints,
        "written_bytes": int(written) if written == written else None,
        "checkpoints_written": int(history["checkpoint_bytes"].notna().sum()) if history is not None and "checkpoint_bytes" in history else None,
        "before_bytes": folder_bytes(root),
        "kept_whole": sorted(kept_whole(trials, keep_checkpoints)) if len(trials) else [],
        "pruned_trials": [],
        "pruned": exists,
        "where": root if is_uri(root) else TRIALS_DIR,
    }
    if exists:
        for trial_id in trials["trial_id"].astype(str):
            if trial_id in outcome["kept_whole"]:
                continue
            if strip_tensors(join(root, train_run_name(trial_id))):  # stripped now, or when the scheduler stopped it
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
            f"- left in {outcome.get('where', TRIALS_DIR).rstrip('/')}/: {storage(outcome['left_bytes'])} (was {storage(outcome['before_bytes'])}): "
            f"{rule} checkpoints whole ({kept}); {len(outcome.get('pruned_trials') or [])} other trial(s) keep state and hypotheses only "
            f"(search.keep_checkpoints: {outcome.get('keep_checkpoints')})"
        )
    else:
        lines.append(f"- checkpoints left as written: no {TRIALS_DIR}/ folder to prune (search.keep_checkpoints: {outcome.get('keep_checkpoints')})")
    return "\n".join(lines)
