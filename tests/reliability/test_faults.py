"""Faults survived, through Ray: a killed Train worker, trials that raise, diverge or exceed memory inside a search."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.config.load import validate_config
from raymt.search.run import run_search
from raymt.train.prepare import prepare_experiment
from raymt.train.trial import run_trial

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _link_cache(tmp_path, cache_root):
    link = tmp_path / ".cache"
    if not link.exists():
        link.symlink_to(cache_root, target_is_directory=True)


def _train_worker_pids() -> list[int]:
    """This test's Ray Train workers: descendants of this process (the local Ray it started).
    Ray's State API refused when other Ray instances ran on the same machine."""
    import psutil

    workers = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                workers.append(proc)
        except psutil.Error:
            pass
    return [proc.pid for proc in sorted(workers, key=lambda proc: proc.create_time())]


def _registered_checkpoints(trial_dir: Path) -> int:
    """Checkpoints Ray Train's controller has recorded (a folder on disk alone may not be yet)."""
    snapshot = trial_dir / "checkpoint_manager_snapshot.json"
    try:
        return len(json.loads(snapshot.read_text())["checkpoint_results"])
    except (OSError, ValueError, KeyError):
        return 0


def _run_killing_a_worker(cfg, prepared, trials: Path, name: str, victim: int):
    """Run a trial and SIGKILL one of its Train workers once its first checkpoint is registered
    (in the middle of epoch 2). Returns (metrics, checkpoint, time of the kill)."""
    box: dict = {}
    runner = threading.Thread(target=lambda: box.update(result=run_trial(cfg, prepared, name=name)), daemon=True)
    runner.start()
    deadline = time.time() + 300
    while time.time() < deadline and not _registered_checkpoints(trials / name):
        time.sleep(0.2)
    assert _registered_checkpoints(trials / name), "no first checkpoint"
    t_kill = time.time()
    os.kill(_train_worker_pids()[victim], signal.SIGKILL)
    runner.join(timeout=600)
    assert "result" in box, "the trial did not finish after the worker was killed"
    return (*box["result"], t_kill)


def test_killed_worker_resumes_from_the_last_checkpoint(tmp_path, cache_root, tiny_base, ray_local):
    _link_cache(tmp_path, cache_root)
    cfg = validate_config(
        {
            "name": "kill",
            "storage_path": str(tmp_path),
            "data": {"source": "synthetic", "domain": "medical", "train_size": 3000, "valid_size": 40, "test_size": 40, "lexicon_size": 20},
            "train": {"epochs": 3, "batch_size": 16},  # killed in epoch 2, resumed from epoch 1: 2 and 3 after it
            "eval": {"max_samples": 40},
            "method": {"name": "lora"},
            "resources": {"num_workers": 2, "cpus_per_worker": 0.9, "max_failures": 2},
        },
        "test",
    )
    prepared = prepare_experiment(cfg, log=lambda m: None)
    metrics, checkpoint, t_kill = _run_killing_a_worker(cfg, prepared, tmp_path / "kill" / "trials", "kill", victim=0)
    assert metrics["restarts"] >= 1 and metrics["epoch"] == 3
    state = json.loads((Path(checkpoint) / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]  # no epoch counted twice
    print(f"recovered and finished {time.time() - t_kill:.1f}s after the kill")


def _dropout_free_copy(tiny_base: Path, dest: Path) -> Path:
    """The tiny base with dropout off (config only, same weights): training is then a
    deterministic function of the restored state, so a resumed run must equal an unbroken one."""
    import shutil

    shutil.copytree(tiny_base, dest)
    config = json.loads((dest / "config.json").read_text())
    config["dropout"] = 0.0
    (dest / "config.json").write_text(json.dumps(config))
    return dest


def test_fsdp_restore_after_a_killed_worker_continues_exactly(tmp_path, cache_root, tiny_base, ray_local):
    """Full fine-tuning with FSDP over 2 workers, a worker SIGKILLed in epoch 2: the restarted
    group resumes from epoch 1's checkpoint (weights, every rank's own AdamW shard, schedule) and
    ends with exactly the losses of the same trial run without the kill. (Before each rank kept
    its own shard, rank 1 restored rank 0's moments and the resumed run drifted.)"""
    _link_cache(tmp_path, cache_root)
    base = _dropout_free_copy(tiny_base, tmp_path / "base")
    cfg = validate_config(
        {
            "name": "fsdp",
            "storage_path": str(tmp_path),
            "model": {"name_or_path": str(base)},
            "data": {"source": "synthetic", "domain": "medical", "train_size": 1500, "valid_size": 20, "test_size": 20, "lexicon_size": 20},
            "train": {"epochs": 2, "batch_size": 16},
            "eval": {"max_samples": 20},
            "method": {"name": "full"},
            "resources": {"num_workers": 2, "cpus_per_worker": 0.9, "strategy": "fsdp", "max_failures": 2},
        },
        "test",
    )
    prepared = prepare_experiment(cfg, log=lambda m: None)
    unbroken, unbroken_checkpoint = run_trial(cfg, prepared, name="unbroken")
    # the FSDP trial itself (tests/train/test_trial.py runs no FSDP trial of its own): 2 ranks,
    # every parameter trained, the gathered full model kept as the artefact
    assert unbroken["world_size"] == 2 and unbroken["trainable_params"] == unbroken["total_params"]
    assert (Path(unbroken_checkpoint) / "artifact" / "model.safetensors").exists()

    killed, checkpoint, _ = _run_killing_a_worker(cfg, prepared, tmp_path / "fsdp" / "trials", "killed", victim=-1)
    assert killed["restarts"] == 1 and killed["restore_s"] > 0
    # the checkpoint budget: a finished trial's last checkpoint carries no optimizer state (the
    # restart above read epoch 1's, one shard per rank: the equal losses below prove it)
    assert sorted(p.name for p in Path(checkpoint).glob("trainer_state*")) == []
    for key in ("train_loss", "eval_loss", "bleu", "step", "storage_bytes"):
        assert killed[key] == unbroken[key], (key, killed[key], unbroken[key])


def _one_epoch_search(name: str, storage: Path) -> dict:
    """The default space's config cut to a one-epoch search on 300 pairs, each failure final
    (``resources.max_failures: 0``): the fault searches below set their own points and space."""
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name=name, storage_path=str(storage))
    raw["data"].update(train_size=300, valid_size=30, test_size=30)
    raw["eval"]["max_samples"] = 30
    raw["train"]["epochs"] = 1
    raw["resources"]["max_failures"] = 0
    return raw


def test_raising_and_diverging_trials_are_recorded_and_the_search_goes_on(tmp_path, cache_root, tiny_base, monkeypatch):
    """Two ways a trial breaks, in one search. (1) A bad combination only the data reveals (110
    virtual tokens leave 18 of the model's 128 positions, and some sources are longer) raises
    inside its workers. (2) A learning rate that makes the loss NaN (injected for real in the
    Train workers by diverge_site/sitecustomize.py: AdamW writes NaN weights when the peak lr is
    >= 9e-3). Both are recorded as failed with their reason, their resources are freed, the other
    trials finish, and the sampler has them as FAIL and keeps proposing."""
    import ray

    _link_cache(tmp_path, cache_root)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent / "diverge_site"), str(ROOT)]))
    monkeypatch.setenv("RAYMT_TEST_DIVERGE_AT_LR", "9e-3")
    raw = _one_epoch_search("faults", tmp_path)
    raw["search"].update(
        num_samples=5,
        scheduler={"kind": "none"},
        points_to_evaluate=[
            {"method": "prompt", "train.lr": 1e-2 * 0.5, "train.warmup_ratio": 0.1, "prompt.num_virtual_tokens": 110},
            {"method": "lora", "train.lr": 9.5e-3, "train.warmup_ratio": 0.1, "lora.r": 2},
            {"method": "lora", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "lora.r": 4},
        ],
    )
    raw["search"]["space"] = {
        "method": ["lora", "prompt"],
        "common": {"train.lr": {"log_uniform": [1e-3, 1e-2]}, "train.warmup_ratio": 0.1},
        "methods": {"lora": {"r": {"choices": [2, 4]}}, "prompt": {"num_virtual_tokens": {"choices": [10, 110]}}},
    }
    space = tmp_path / "faults.yaml"
    space.write_text(yaml.safe_dump(raw))
    try:
        results = run_search(space, log=lambda m: None)
    finally:
        ray.shutdown()
    df = pd.read_parquet(results / "trials.parquet")
    assert len(df) == 5 and df["trial_id"].is_unique
    failed = df[df["status"] == "failed"]
    crashed = failed[failed["error"].str.contains("index out of range")]
    diverged = failed[failed["error"].str.contains("diverged")]
    assert len(crashed) + len(diverged) == len(failed), failed["error"].tolist()
    assert ((crashed["method"] == "prompt") & (crashed["prompt.num_virtual_tokens"] == 110)).all()
    assert (diverged["train.lr"] >= 9e-3).all() and diverged["error"].str.contains("nan").all(), diverged["error"].tolist()
    assert len(crashed) >= 1 and len(diverged) >= 1  # both enqueued points broke
    assert (df.loc[df["status"] == "completed", "train.lr"] < 9e-3).all()  # no NaN run passed as a result
    assert (df["status"] == "completed").sum() >= 1  # the search went on
    assert set(pd.read_csv(results / "pareto.csv")["trial_id"]) <= set(df.loc[df["status"] == "completed", "trial_id"])
    import optuna

    from raymt.search.tuner import journal_storage

    study = optuna.load_study(study_name="faults", storage=journal_storage(results / "optuna_journal.log"))
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == len(failed) and len(study.trials) == 5


def test_trials_killed_for_memory_are_recorded_and_the_search_goes_on(tmp_path, cache_root, tiny_base, monkeypatch):
    """Ray's out-of-memory monitor kills trials for real: the search's Ray gets a memory limit 8
    GiB above what the node uses now (``RAY_memory_usage_threshold``: room for this search's own
    processes), and two trials allocate until the node is past it (diverge_site/
    sitecustomize.py). The first does so in its Tune trial actor before its Train run starts, so
    the monitor kills that actor: Ray Tune 2.60 then raised out of ``Tuner.fit()`` and
    ``raymt search`` exited 1, the rest of the search lost. The second does so in its rank-0
    Train worker (the monitor kills that worker, maybe more). Both are recorded as failed with a
    reason a user can act on, the third trial runs, and the sampler has them as FAIL. (Not
    checked: ``--resume`` of this search reruns the first trial, see docs/reliability.md.)"""
    import optuna
    import psutil
    import ray

    from raymt.search.tuner import journal_storage

    assert not ray.is_initialized()  # the search starts its own Ray, with the limit below
    _link_cache(tmp_path, cache_root)
    memory = psutil.virtual_memory()
    # 8 GiB: this search's own processes take ~3 GiB, and on a shared machine others' grow too
    limit = ((memory.total - memory.available) + 8 * 2**30) / memory.total
    if limit > 0.85:  # Ray's monitor watches the whole node: leave other programs their room
        pytest.skip(f"the machine already uses {(memory.total - memory.available) / 2**30:.1f} GiB of {memory.total / 2**30:.1f}")
    monkeypatch.setenv("RAY_memory_usage_threshold", f"{limit:.3f}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent / "diverge_site"), str(ROOT)]))
    monkeypatch.setenv("RAYMT_TEST_HOG_TRIAL_ONCE", str(tmp_path / "hogged"))
    monkeypatch.setenv("RAYMT_TEST_HOG_AT_LR", "9e-3")
    raw = _one_epoch_search("oom", tmp_path)  # max_failures 0: a killed worker fails the trial at once (no restart into the same allocation)
    raw["search"].update(
        num_samples=3,
        scheduler={"kind": "none"},
        points_to_evaluate=[
            {"method": "lora", "train.lr": 1.5e-3, "train.warmup_ratio": 0.1, "lora.r": 2},  # its Tune actor exceeds memory
            {"method": "lora", "train.lr": 9.5e-3, "train.warmup_ratio": 0.1, "lora.r": 2},  # its rank-0 worker does
            {"method": "lora", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "lora.r": 4},
        ],
    )
    raw["search"]["space"] = {
        "method": ["lora"],
        "common": {"train.lr": {"log_uniform": [1e-3, 1e-2]}, "train.warmup_ratio": 0.1},
        "methods": {"lora": {"r": {"choices": [2, 4]}}},
    }
    space = tmp_path / "oom.yaml"
    space.write_text(yaml.safe_dump(raw))
    lines: list[str] = []
    try:
        results = run_search(space, log=lines.append)  # raised RuntimeError("Caught unexpected exception: ... were killed due to ...")
        df = pd.read_parquet(results / "trials.parquet").set_index("train.lr", drop=False)
        assert len(df) == 3 and df["trial_id"].is_unique
        print(df[["trial_id", "status", "error"]].to_string())
        assert df["status"].to_dict() == {1.5e-3: "failed", 9.5e-3: "failed", 2e-3: "completed"}  # the search went on
        for lr, reason in df.loc[[1.5e-3, 9.5e-3], "error"].items():
            assert reason.startswith("out of memory: Ray's memory monitor killed "), (lr, reason)
            assert f"over Ray's limit of {limit * 100:.1f}% (RAY_memory_usage_threshold)" in reason, reason
            assert "resources.num_workers" in reason and "raymt plan" in reason
            printed = [line for line in lines if line.startswith(f"trial {df.at[lr, 'trial_id']} failed")]
            assert printed == [f"trial {df.at[lr, 'trial_id']} failed: {reason}"], printed
        assert "killed the trial's Tune actor" in df.at[1.5e-3, "error"]
        assert set(pd.read_csv(results / "pareto.csv")["trial_id"]) == {df.at[2e-3, "trial_id"]}
        study = optuna.load_study(study_name="oom", storage=journal_storage(results / "optuna_journal.log"))
        assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "FAIL", "FAIL"]

    finally:
        ray.shutdown()


def test_a_space_that_cannot_fit_the_model_is_refused_before_ray(tmp_path, cache_root, tiny_base):
    """200 virtual tokens can never fit 128 positions: refused up front, naming the field."""
    import ray

    from raymt.errors import ConfigError

    _link_cache(tmp_path, cache_root)
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name="nofit", storage_path=str(tmp_path))
    raw["search"]["points_to_evaluate"] = []
    raw["search"]["space"] = {"method": ["prompt"], "methods": {"prompt": {"num_virtual_tokens": {"choices": [10, 200]}}}}
    space = tmp_path / "nofit.yaml"
    space.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        run_search(space, log=lambda m: None)
    assert "search.space.methods.prompt.num_virtual_tokens" in str(err.value) and "128" in str(err.value)
    assert not ray.is_initialized()
