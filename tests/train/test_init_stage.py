"""The denoising warm start: built once per key, shared by trials, and really a different start."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from raymt.config.load import validate_config
from raymt.errors import ConfigError
from raymt.methods import available_methods, get_method
from raymt.model.loading import load_model
from raymt.train.init_stage import ensure_init_stage, prepare_init_text
from raymt.train.prepare import prepare_experiment

DATA = {"source": "synthetic", "domain": "medical", "train_size": 200, "valid_size": 40, "test_size": 40, "lexicon_size": 20}


@pytest.fixture()
def storage(tmp_path, cache_root, tiny_base):
    """A fresh stage cache (``.cache/init``) next to the session's base model and data."""
    cache = tmp_path / ".cache"
    cache.mkdir()
    for shared in ("models", "data"):
        (cache_root / shared).mkdir(exist_ok=True)
        (cache / shared).symlink_to(cache_root / shared, target_is_directory=True)
    return tmp_path


def config(storage, method=None, **over):
    raw = {
        "name": "t",
        "storage_path": str(storage),
        "data": DATA,
        "method": method or {"name": "lora", "r": 4},
        "init": {"stage": "denoise", "denoise": {"steps": 3, "batch_size": 8}},
        **over,
    }
    return validate_config(raw, "test")


class ArrivalLock:
    """``filelock.FileLock`` that counts the callers arriving at it (before they block), so a
    test can hold a build until every concurrent caller is waiting at the lock."""

    def __init__(self, lock_class, arrived, condition):
        self.lock_class, self.arrived, self.condition = lock_class, arrived, condition

    def __call__(self, *args, **kwargs):
        arrived, condition = self.arrived, self.condition

        class Counting(self.lock_class):
            def acquire(self, *a, **k):
                with condition:
                    arrived.value += 1
                    condition.notify_all()
                return super().acquire(*a, **k)

        return Counting(*args, **kwargs)


def wait_for_arrivals(arrived, condition, n: int) -> None:
    with condition:
        assert condition.wait_for(lambda: arrived.value >= n, timeout=300), f"only {arrived.value} of {n} arrived"


def test_stage_is_built_once_per_key_even_when_trials_ask_concurrently(storage, monkeypatch):
    import types

    import filelock

    arrived, condition = types.SimpleNamespace(value=0), threading.Condition()
    monkeypatch.setattr(filelock, "FileLock", ArrivalLock(filelock.FileLock, arrived, condition))
    builds = []

    def counting(fn, *args):
        builds.append(args[0].method)
        if len(builds) == 1:  # the first build waits until all three trials stand at the lock
            wait_for_arrivals(arrived, condition, 3)
        return fn(*args)

    # three trials that differ only in MT settings share one stage; a different LoRA rank is another
    trials = [config(storage, train={"lr": lr, "epochs": e}) for lr, e in ((1e-3, 1), (3e-3, 2), (2e-4, 3))]
    other = config(storage, method={"name": "lora", "r": 8})
    prepared = prepare_experiment(trials[0], log=lambda m: None)
    outcomes: list = [None] * 4
    # the three ask at once: one builds while the other two wait at the lock; then the other one
    threads = [
        threading.Thread(target=lambda i=i, c=c: outcomes.__setitem__(i, ensure_init_stage(c, prepared, run_build=counting, log=lambda m: None)))
        for i, c in enumerate(trials)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes[3] = ensure_init_stage(other, prepared, run_build=counting, log=lambda m: None)
    assert len(builds) == 2
    shared = outcomes[:3]
    assert len({o.key for o in shared}) == 1 and outcomes[3].key != shared[0].key
    assert sum(o.built for o in shared) == 1 and outcomes[3].built
    assert len({o.artifact for o in shared}) == 1 and Path(shared[0].artifact).is_dir()
    assert len({o.build_s for o in shared}) == 1 and shared[0].build_s > 0  # the cost counted once per key
    # a later trial (another experiment on the same storage) reuses it without building
    again = ensure_init_stage(trials[1], prepared, run_build=counting, log=lambda m: None)
    assert len(builds) == 2 and not again.built and again.artifact == shared[0].artifact
    # and trials without the stage need nothing
    none = ensure_init_stage(config(storage, init={"stage": "none"}), prepared, run_build=counting)
    assert none.stage == "none" and none.artifact == "" and len(builds) == 2


@pytest.mark.parametrize("name", available_methods())
def test_a_trial_started_from_the_stage_starts_elsewhere(storage, name, tiny_base):
    """Every registered method: the stage's artefact, loaded the way the worker loads it
    (``method.load_state`` after ``method.apply``), changes the trainable weights and the
    translation loss the trial starts from."""
    from raymt.data.cache import load_tokenized

    cfg = config(storage, method={"name": name}, init={"stage": "denoise", "denoise": {"steps": 5, "batch_size": 8, "lr": 3e-3}})
    prepared = prepare_experiment(cfg, log=lambda m: None)
    outcome = ensure_init_stage(cfg, prepared, log=lambda m: None)
    method = get_method(name)

    def start(from_stage: bool):
        torch.manual_seed(0)
        model = method.apply(load_model(prepared.base_path), cfg.method.params)
        if from_stage:
            method.load_state(model, outcome.artifact)
        return model.eval()

    fresh, warm = start(False), start(True)
    trained = [n for n, p in fresh.named_parameters() if p.requires_grad]
    warm_params = dict(warm.named_parameters())
    assert any(not torch.equal(p, warm_params[n]) for n, p in fresh.named_parameters() if n in trained)
    valid = load_tokenized(prepared.data_path)["validation"].select(range(16))
    batch = {"input_ids": _pad(valid["input_ids"], 1), "labels": _pad(valid["labels"], -100)}
    batch["attention_mask"] = (batch["input_ids"] != 1).long()
    with torch.no_grad():
        assert fresh(**batch).loss.item() != pytest.approx(warm(**batch).loss.item(), abs=1e-6)


def _pad(rows, value):
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows])


def test_stage_text_is_the_target_side_or_a_file(storage, tmp_path):
    cfg = config(storage)
    splits = {"train": [("src one", "tgt one"), ("src two", "  "), ("src three", "tgt three")]}
    default = Path(prepare_init_text(cfg, splits, storage / ".cache"))
    assert default.read_text().splitlines() == ["tgt one", "tgt three"]
    mono = tmp_path / "mono.txt"
    mono.write_text("ein satz\n\nnoch ein satz\n", encoding="utf-8")
    from_file = Path(prepare_init_text(config(storage, init={"stage": "denoise", "denoise": {"text": str(mono)}}), splits, storage / ".cache"))
    assert from_file.read_text().splitlines() == ["ein satz", "noch ein satz"] and from_file.is_absolute()


@pytest.mark.parametrize(
    "init, match",
    [
        ({"stage": "denoising"}, r"init\.stage: .*'none' or 'denoise'"),
        ({"stage": "denoise", "denoise": {"mask_ratio": 1.5}}, r"init\.denoise\.mask_ratio: .*less than 1"),
        ({"stage": "denoise", "denoise": {"poisson_lambda": 0}}, r"init\.denoise\.poisson_lambda"),
        ({"stage": "denoise", "denoise": {"step": 10}}, r"unknown key 'step'.*did you mean 'steps'"),
    ],
)
def test_bad_stage_settings_are_one_line_config_errors(storage, init, match):
    with pytest.raises(ConfigError, match=match) as err:
        config(storage, init=init)
    assert "\n" not in str(err.value)


def test_missing_text_file_is_refused_before_ray(storage):
    cfg = config(storage, init={"stage": "denoise", "denoise": {"text": str(storage / "nope.txt")}})
    with pytest.raises(ConfigError, match=r"init\.denoise\.text.*does not exist"):
        prepare_experiment(cfg, log=lambda m: None)


def _ask_for_stage(cfg_json: dict, base_path: str, text_path: str, log_path: str, out, arrived, condition) -> None:
    """One trial driver process asking for the stage; its builder notes each build in a file and
    waits until the other process stands at the lock too."""
    import os
    from types import SimpleNamespace

    import filelock

    from raymt.config.schema import ExperimentConfig

    filelock.FileLock = ArrivalLock(filelock.FileLock, arrived, condition)

    def noting_build(fn, cfg, base_path, text_path, dest):
        with open(log_path, "a") as f:
            f.write(f"{os.getpid()}\n")
        wait_for_arrivals(arrived, condition, 2)
        return fn(cfg, base_path, text_path, dest)

    cfg = ExperimentConfig.model_validate(cfg_json)
    outcome = ensure_init_stage(cfg, SimpleNamespace(base_path=base_path, init_text=text_path), run_build=noting_build, log=lambda m: None)
    out.put((outcome.key, outcome.built, outcome.artifact))


def test_two_processes_needing_the_same_stage_build_it_once(storage, tmp_path):
    import multiprocessing as mp

    cfg = config(storage)
    prepared = prepare_experiment(cfg, log=lambda m: None)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    arrived, condition = ctx.Value("i", 0), ctx.Condition()
    log_path = tmp_path / "builds.txt"
    procs = [
        ctx.Process(
            target=_ask_for_stage, args=(cfg.model_dump(mode="json"), prepared.base_path, prepared.init_text, str(log_path), out, arrived, condition)
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert len(log_path.read_text().splitlines()) == 1
    assert sorted(built for _, built, _ in results) == [False, True]
    assert len({(key, artifact) for key, _, artifact in results}) == 1 and Path(results[0][2]).is_dir()


def test_on_an_object_store_the_stage_built_on_one_node_is_fetched_by_another(s3_bucket, tmp_path, monkeypatch, cache_root, tiny_base):
    from raymt import object_store

    uri = f"s3://{s3_bucket}/runs"
    staged = object_store.staging_path(object_store.join(uri, ".cache"))
    staged.mkdir(parents=True)
    (staged / "models").symlink_to(cache_root / "models", target_is_directory=True)
    cfg = config(uri)
    prepared = prepare_experiment(cfg, log=lambda m: None)
    assert prepared.init_text.startswith(f"{uri}/.cache/init/")
    builds = []

    def counting(fn, *args):
        builds.append(1)
        return fn(*args)

    first = ensure_init_stage(cfg, prepared, run_build=counting, log=lambda m: None)
    assert first.built and first.artifact.startswith(f"{uri}/.cache/init/{first.key}")
    assert object_store.exists(first.artifact)  # published for the other nodes

    monkeypatch.setenv("RAYMT_STAGING_DIR", str(tmp_path / "node2"))  # another node: empty staging
    second = ensure_init_stage(cfg, prepared, run_build=counting, log=lambda m: None)
    assert len(builds) == 1 and not second.built and second.artifact == first.artifact
    local = Path(object_store.localize(second.artifact))  # what that node's Train worker loads
    assert str(tmp_path / "node2") in str(local) and any(local.iterdir())
