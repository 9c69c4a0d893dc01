"""The checkpoint budget at the end of a search: the tensors of checkpoints nothing will read are
removed, what a user reads stays, and the report says what was written and what is left."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest

from raymt.results.checkpoints import apply_checkpoint_budget, checkpoint_section, release_if_stopped, strip_tensors
from raymt.results.collect import collect_results
from raymt.results.files import CHECKPOINTS, TRIALS_DIR, train_run_name
from raymt.results.report import report_sections

TENSOR_BYTES = 4096


def _checkpoint(results, trial_id, *, finished=True):
    """A trial's last checkpoint as the worker writes it (trainer state only while it may go on)."""
    ckpt = results / TRIALS_DIR / train_run_name(trial_id) / "checkpoint_000001"
    for sub in ("artifact", "best"):
        (ckpt / sub).mkdir(parents=True)
        (ckpt / sub / "adapter_model.safetensors").write_bytes(b"\0" * TENSOR_BYTES)
    if not finished:
        (ckpt / "trainer_state.pt").write_bytes(b"\0" * TENSOR_BYTES)
    (ckpt / "state.json").write_text(json.dumps({"epoch": 1, "best": {"epoch": 1, "bleu": 1.0}}))
    (ckpt / "best_hyps.txt").write_text("a hypothesis\n")
    (ckpt / "hyps.txt").write_text("a hypothesis\n")
    return ckpt


def _search(tmp_path):
    trials = pd.DataFrame(
        {
            "trial_id": ["front", "off", "stopped", "failed"],
            "status": ["completed", "completed", "early_stopped", "failed"],
            "is_pareto": [True, False, True, False],  # a stopped trial on the front has no artefact to keep
        }
    )
    ckpts = {t: _checkpoint(tmp_path, t, finished=t != "stopped") for t in ["front", "off", "stopped"]}
    history = pd.DataFrame({"trial_id": ["front", "front", "off", "stopped"], "checkpoint_bytes": [100, 200, 300, 400]})
    return trials, history, ckpts


def test_only_the_fronts_completed_trials_keep_their_tensors_and_text_stays(tmp_path):
    trials, history, ckpts = _search(tmp_path)
    before = sum(f.stat().st_size for f in (tmp_path / TRIALS_DIR).rglob("*") if f.is_file())
    outcome = apply_checkpoint_budget(tmp_path, trials, history, "front")
    assert (ckpts["front"] / "artifact").is_dir() and (ckpts["front"] / "best").is_dir()
    for trial in ("off", "stopped"):
        assert not (ckpts[trial] / "artifact").exists() and not (ckpts[trial] / "best").exists()
        assert not list(ckpts[trial].glob("trainer_state*.pt"))
        # what the trials table points at and the paired bootstrap reads
        assert (ckpts[trial] / "state.json").exists() and (ckpts[trial] / "best_hyps.txt").read_text() == "a hypothesis\n"
    assert outcome["kept_whole"] == ["front"] and sorted(outcome["pruned_trials"]) == ["off", "stopped"]
    assert outcome["written_bytes"] == 1000 and outcome["checkpoints_written"] == 4
    assert outcome["before_bytes"] == before
    assert outcome["left_bytes"] == before - 5 * TENSOR_BYTES
    assert json.loads((tmp_path / CHECKPOINTS).read_text()) == outcome


def test_an_fsdp_checkpoints_shards_are_tensors_too(tmp_path):
    """Under FSDP the resumable state is a folder of every rank's shards (trainer_state.dcp/)."""
    ckpt = _checkpoint(tmp_path, "fsdp", finished=False)
    (ckpt / "trainer_state.dcp").mkdir()
    for name in ("__0_0.distcp", "__1_0.distcp", ".metadata"):
        (ckpt / "trainer_state.dcp" / name).write_bytes(b"\0" * TENSOR_BYTES)
    assert strip_tensors(ckpt.parent)
    assert sorted(p.name for p in ckpt.iterdir()) == ["best_hyps.txt", "hyps.txt", "state.json"]


def test_keep_checkpoints_all_keeps_every_checkpoint(tmp_path):
    trials, history, ckpts = _search(tmp_path)
    outcome = apply_checkpoint_budget(tmp_path, trials, history, "all")
    assert outcome["pruned_trials"] == [] and outcome["left_bytes"] == outcome["before_bytes"]
    assert all((c / "artifact").is_dir() for c in ckpts.values())
    assert (ckpts["stopped"] / "trainer_state.pt").exists()


def test_the_report_shows_what_was_written_and_what_is_left(tmp_path):
    trials, history, _ = _search(tmp_path)
    apply_checkpoint_budget(tmp_path, trials, history, "front")
    section = report_sections(tmp_path, trials)["Checkpoints"]
    assert "written during the search: 1 kB in 4 checkpoint(s)" in section
    assert "left in trials/" in section and "search.keep_checkpoints: front" in section
    assert "2 other trial(s)" in section
    assert checkpoint_section(json.loads((tmp_path / CHECKPOINTS).read_text())) == section


def _finished_grid(tmp_path, trial_id: str) -> list:
    """A Tune result grid of one finished LoRA trial, as collect_results reads it."""
    return [
        SimpleNamespace(
            metrics={"trial_id": trial_id, "bleu": 10.0, "storage_mb": 1.0, "finished": True, "epoch": 1, "timestamp": 1.79e9, "time_total_s": 3.0},
            config={"method": "lora"},
            error=None,
            path=str(tmp_path / f"tune_trial_{trial_id}"),
            metrics_dataframe=None,
        )
    ]


@pytest.mark.parametrize("keep_artifacts", ["all", "front"])
def test_a_finished_search_collected_again_keeps_the_artefact_copies_of_pruned_trials(tmp_path, keep_artifacts):
    """`raymt search --resume` of a finished search collects again: a pruned checkpoint has no
    artefact left, the copy made the first time is kept."""
    ckpt = _checkpoint(tmp_path, "off")
    grid = _finished_grid(tmp_path, "off")
    objectives = {"bleu": "max", "storage_mb": "min"}
    first, _ = collect_results(grid, ["method"], tmp_path, objectives, keep_artifacts, tmp_path / "refs.txt")
    copy = tmp_path / first.loc[0, "artifact_path"]
    assert copy.is_dir()
    for sub in ("artifact", "best"):  # as pruning leaves it (the trial alone is on the front here)
        shutil.rmtree(ckpt / sub)
    again, _ = collect_results(grid, ["method"], tmp_path, objectives, keep_artifacts, tmp_path / "refs.txt")
    assert again.loc[0, "artifact_path"] == first.loc[0, "artifact_path"] and copy.is_dir()


def test_a_trial_the_scheduler_stopped_strips_its_checkpoint_when_its_run_ends(tmp_path):
    """The driver marks the stopped trial's Train run (raymt.search.trainable.MarkStoppedTrials);
    the trial strips it after fit(); an unmarked trial (completed, or cut by Ctrl-C) keeps it."""
    from raymt.search.trainable import MarkStoppedTrials

    stopped, running = _checkpoint(tmp_path, "stopped", finished=False), _checkpoint(tmp_path, "running", finished=False)
    scheduler = SimpleNamespace(is_early_stopped=lambda trial_id: trial_id == "stopped")
    marker = MarkStoppedTrials(scheduler, tmp_path / TRIALS_DIR)
    for trial_id in ("stopped", "running"):
        marker.on_trial_result(1, [], SimpleNamespace(trial_id=trial_id), {})
    assert release_if_stopped(tmp_path / TRIALS_DIR / train_run_name("stopped"))
    assert not release_if_stopped(tmp_path / TRIALS_DIR / train_run_name("running"))
    assert not (stopped / "artifact").exists() and not (stopped / "trainer_state.pt").exists() and (stopped / "best_hyps.txt").exists()
    assert (running / "artifact").is_dir() and (running / "trainer_state.pt").exists()
    # at the end it counts among the stripped trials like any other off the front
    trials = pd.DataFrame({"trial_id": ["stopped", "running"], "status": ["early_stopped", "completed"], "is_pareto": [False, True]})
    outcome = apply_checkpoint_budget(tmp_path, trials, None, "front")
    assert outcome["pruned_trials"] == ["stopped"] and outcome["kept_whole"] == ["running"] and outcome["written_bytes"] is None


def _keys(uri: str) -> set[str]:
    from pyarrow import fs as pafs

    from raymt import object_store as storage

    fs, root = storage.filesystem(uri)
    return {e.path[len(root) + 1 :] for e in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if e.type == pafs.FileType.File}


def test_on_an_object_store_the_same_checkpoints_lose_their_tensors_and_the_report_says_so(tmp_path, s3_bucket):
    """storage_path: s3://...: Ray Train wrote the checkpoints to the bucket; the budget strips
    them there as it does in a folder, and checkpoints.json / the report say the same."""
    from raymt import object_store as storage

    local, results = tmp_path / "as-written", tmp_path / "results"
    trials, history, _ = _search(local)
    uri = storage.join(f"s3://{s3_bucket}", "runs", "exp", TRIALS_DIR)
    storage.upload(local / TRIALS_DIR, uri)
    before = _keys(uri)
    results.mkdir()
    outcome = apply_checkpoint_budget(results, trials, history, "front", trials_root=uri)
    left = _keys(uri)
    removed = before - left
    assert removed and all(k.startswith((f"{train_run_name('off')}/", f"{train_run_name('stopped')}/")) for k in removed)
    assert all(("/artifact/" in k or "/best/" in k or "trainer_state" in k) for k in removed)
    for trial in ("off", "stopped"):  # what the trials table points at and the paired bootstrap reads
        assert {f"{train_run_name(trial)}/checkpoint_000001/{f}" for f in ("state.json", "best_hyps.txt", "hyps.txt")} <= left
    assert {k for k in before if k.startswith(train_run_name("front"))} <= left
    assert outcome["pruned"] and outcome["kept_whole"] == ["front"] and sorted(outcome["pruned_trials"]) == ["off", "stopped"]
    assert outcome["before_bytes"] - outcome["left_bytes"] == 5 * TENSOR_BYTES
    assert json.loads((results / CHECKPOINTS).read_text()) == outcome
    section = checkpoint_section(outcome)
    assert f"left in {uri}/" in section and "2 other trial(s) keep state and hypotheses only" in section


def test_a_stopped_trial_on_an_object_store_strips_its_checkpoint_when_its_run_ends(tmp_path, s3_bucket):
    from raymt import object_store as storage
    from raymt.search.trainable import MarkStoppedTrials

    local = tmp_path / "as-written"
    for trial_id in ("stopped", "running"):
        _checkpoint(local, trial_id, finished=False)
    uri = storage.join(f"s3://{s3_bucket}", "exp", TRIALS_DIR)
    storage.upload(local / TRIALS_DIR, uri)
    marker = MarkStoppedTrials(SimpleNamespace(is_early_stopped=lambda trial_id: trial_id == "stopped"), uri)
    for trial_id in ("stopped", "running"):
        marker.on_trial_result(1, [], SimpleNamespace(trial_id=trial_id), {})
    assert release_if_stopped(storage.join(uri, train_run_name("stopped")))
    assert not release_if_stopped(storage.join(uri, train_run_name("running")))
    left = _keys(uri)
    stopped = f"{train_run_name('stopped')}/checkpoint_000001"
    assert not any(k.startswith((f"{stopped}/artifact/", f"{stopped}/best/", f"{stopped}/trainer_state")) for k in left)
    assert f"{stopped}/best_hyps.txt" in left
    running = f"{train_run_name('running')}/checkpoint_000001"
    assert {f"{running}/trainer_state.pt", f"{running}/artifact/adapter_model.safetensors"} <= left


def test_an_object_store_search_collected_again_from_a_fresh_machine_keeps_the_artefact_copy(tmp_path, s3_bucket):
    """`raymt search --resume URI` of a finished search on another machine: the pruned
    checkpoint has no artefact left and the staging folder has no copy; the bucket's copy is kept."""
    from raymt import object_store as storage

    exp = storage.join(f"s3://{s3_bucket}", "runs", "exp")
    local = tmp_path / "as-written"
    _checkpoint(local, "off")
    storage.upload(local / TRIALS_DIR, storage.join(exp, TRIALS_DIR))
    grid = _finished_grid(tmp_path, "off")
    objectives = {"bleu": "max", "storage_mb": "min"}
    first_dir, fresh_dir = tmp_path / "first", tmp_path / "fresh"
    first, _ = collect_results(grid, ["method"], first_dir, objectives, "all", "refs.txt", exp_uri=exp)
    assert first.loc[0, "artifact_path"] == storage.join(exp, "artifacts", "off")
    storage.upload(first_dir / "artifacts", storage.join(exp, "artifacts"))  # what sync_results does
    trials = pd.DataFrame({"trial_id": ["off"], "status": ["completed"], "is_pareto": [False]})
    assert apply_checkpoint_budget(first_dir, trials, None, "front", trials_root=storage.join(exp, TRIALS_DIR))["pruned_trials"] == ["off"]
    again, _ = collect_results(grid, ["method"], fresh_dir, objectives, "all", "refs.txt", exp_uri=exp)
    assert again.loc[0, "artifact_path"] == first.loc[0, "artifact_path"]
    assert "off/adapter_model.safetensors" in _keys(storage.join(exp, "artifacts"))
