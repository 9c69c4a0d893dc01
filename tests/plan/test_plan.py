"""``raymt plan`` / ``api.plan`` and the refusal at ``raymt search`` / ``raymt train`` time:
figures per method branch at the space's extremes, a one-line error naming the method, the
figure and a fix when a GPU's memory is known, never a refusal on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from raymt import api
from raymt.cli import main
from raymt.errors import ResourceError

ROOT = Path(__file__).resolve().parents[2]
SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))
MBART = "facebook/mbart-large-50-many-to-many-mmt"


def _write(tmp_path, raw, name="cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _gpu_trial(tmp_path, **over) -> Path:
    raw = {
        "name": "t",
        "storage_path": str(tmp_path / "results"),
        "model": {"name_or_path": MBART, "max_length": 128},
        "method": {"name": "full"},
        "train": {"batch_size": 16},
        "eval": {"batch_size": 32},
        "resources": {"num_workers": 2, "use_gpu": True},
    }
    for key, value in over.items():
        raw[key] = {**raw.get(key, {}), **value}
    return _write(tmp_path, raw)


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_every_shipped_space_has_a_plan(path):
    plan = api.plan(path)
    methods = [b.method for b in plan.branches]
    assert methods == list(dict.fromkeys(methods)) and methods, methods
    for b in plan.branches:
        assert 0 < b.trainable_params <= b.total_params
        assert b.memory.peak > b.memory.baseline
        assert b.checkpoint_bytes >= 2 * b.artifact_bytes  # artefact + best copy + trainer state
    # the checkpoint budget: one checkpoint per trial (the latest, carrying the best artefact)
    assert plan.storage_bytes >= plan.num_trials * max(b.checkpoint_bytes for b in plan.branches)


def test_branches_are_planned_at_their_largest_values(tmp_path):
    """LoRA's rank, its targets and the batch are searched: the plan takes the largest."""
    raw = yaml.safe_load((ROOT / "search_spaces" / "mbart50_de_en.yaml").read_text())
    raw["search"]["space"]["common"]["train.batch_size"] = {"choices": [4, 8]}
    plan = api.plan(_write(tmp_path, raw))
    lora = next(b for b in plan.branches if b.method == "lora")
    assert lora.point["lora.r"] == 64 and lora.point["lora.target_modules"] == "all-linear"
    assert lora.setup.batch_size == 8
    from raymt.methods import get_method
    from raymt.plan.model_config import KNOWN_MODELS
    from transformers import MBartConfig

    config = MBartConfig(**KNOWN_MODELS[MBART])
    assert lora.trainable_params == get_method("lora").count_trainable(config, {"r": 64, "target_modules": "all-linear"})
    assert lora.artifact_bytes == get_method("lora").estimate_bytes(config, {"r": 64, "alpha": 128.0, "dropout": 0.1, "target_modules": "all-linear"})


def test_the_published_mbart50_shapes_give_its_known_size():
    """Offline, the plan builds mBART-50 from its published config: 611M parameters, 2.44 GB."""
    plan = api.plan(ROOT / "search_spaces" / "mbart50_de_en.yaml")
    full = next(b for b in plan.branches if b.method == "full")
    assert full.total_params == 610_879_488
    assert 2.44e9 < full.artifact_bytes < 2.45e9
    assert "published config" in plan.model or "hub" in plan.model


def test_a_trial_that_cannot_fit_is_refused_with_method_figure_and_fix(tmp_path):
    path = _gpu_trial(tmp_path, resources={"gpu_memory": "16GB"})
    with pytest.raises(ResourceError) as err:
        api.train(path, log=lambda m: None)
    text = str(err.value)
    assert "method full" in text and "GiB per GPU worker" in text and "16.0 GiB" in text
    assert "resources.gpu_memory" in text and "Fix:" in text
    assert "\n" not in text
    assert not (tmp_path / "results").exists()  # refused before any data, model or Ray work


def test_the_fix_offered_really_fits(tmp_path):
    """Each setting the refusal proposes, applied, passes the same check."""
    plan = api.plan(_gpu_trial(tmp_path), gpu_memory="20GB")
    full = plan.branches[0]
    assert full.fits is False
    fitting = [a for a in full.alternatives if a.memory.peak <= plan.gpu_memory]
    assert fitting
    for alt in fitting:
        over = {}
        for key, value in alt.changes.items():
            section, field = key.split(".")
            over.setdefault(section, {})[field] = value
        again = api.plan(_gpu_trial(tmp_path, **over), gpu_memory="20GB")
        assert again.branches[0].fits, (alt.setting, again.branches[0].memory.peak)


def test_enough_memory_fits_and_cpu_is_never_refused(tmp_path):
    assert api.plan(_gpu_trial(tmp_path), gpu_memory="141GB").branches[0].fits is True
    cpu = api.plan(_gpu_trial(tmp_path, resources={"use_gpu": False}))
    assert cpu.device == "cpu" and cpu.branches[0].fits is None


def test_search_refuses_a_space_whose_largest_branch_cannot_fit_before_ray(tmp_path, capsys, monkeypatch):
    raw = yaml.safe_load((ROOT / "search_spaces" / "mbart50_de_en.yaml").read_text())
    raw["storage_path"] = str(tmp_path / "results")
    raw["resources"]["gpu_memory"] = "12GB"
    import raymt.runtime

    monkeypatch.setattr(raymt.runtime, "init_ray", lambda **kw: pytest.fail("Ray started"))
    code = main(["search", str(_write(tmp_path, raw))])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("raymt: error:") and "search.space" in err and "method " in err and "Fix:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_cli_prints_the_plan_and_exits_1_when_a_branch_does_not_fit(tmp_path, capsys):
    space = str(ROOT / "search_spaces" / "mbart50_de_en.yaml")
    assert main(["plan", space, "--gpu-memory", "141GB", "--gpus-per-node", "8"]) == 0
    out = capsys.readouterr().out
    for word in ("lora", "adapter", "full", "peak/worker", "storage_path", "4 trial(s) at once per node", "checkpoint"):
        assert word in out, word
    assert main(["plan", space, "--gpu-memory", "8GB"]) == 1
    assert "does NOT fit" in capsys.readouterr().out
    assert main(["plan", space, "--gpu-memory", "lots"]) == 2
    assert "--gpu-memory" in capsys.readouterr().err


def test_trials_keep_the_checkpoints_the_plan_counts():
    """The trial driver and the plan read the same policy: changing it changes both."""
    from raymt.config.load import validate_config
    from raymt.plan.storage import CHECKPOINT_POLICY
    from raymt.train.prepare import PreparedExperiment
    from raymt.train.trial import make_trainer

    cfg = validate_config({"name": "t", "method": {"name": "lora"}}, "test")
    trainer = make_trainer(cfg, PreparedExperiment(base_path="base", data_path="data"), name="x", storage_path="/tmp/x")
    assert trainer.run_config.checkpoint_config.num_to_keep == CHECKPOINT_POLICY.num_to_keep == 1  # the latest, with the best in it


@pytest.mark.parametrize("keep", ["front", "all"])
def test_the_plan_shows_the_checkpoint_budget_after_the_search(tmp_path, capsys, keep):
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw["search"]["keep_checkpoints"] = keep
    space = tmp_path / "s.yaml"
    space.write_text(yaml.safe_dump(raw))
    assert main(["plan", str(space)]) == 0
    out = capsys.readouterr().out
    assert "8 trial(s) x 1 kept checkpoint(s)" in out
    after = next(line for line in out.splitlines() if line.startswith("after the search:"))
    assert f"search.keep_checkpoints: {keep}" in after
    assert ("the others keep only their state and hypotheses" in after) == (keep == "front")


def test_a_plan_is_a_table_in_a_notebook():
    frame = api.plan(ROOT / "search_spaces" / "lora_vs_adapter.yaml").to_frame()
    assert {"method", "trainable_params", "artifact_bytes", "checkpoint_bytes", "peak_bytes_per_worker"} <= set(frame.columns)
