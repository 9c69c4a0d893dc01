"""search.repeat_front without Ray running: which seed each member is repeated from, its
parameters as Tune gives them, and how each repeat's Tune result becomes a repeats.csv row
(a failed or unfinished repeat keeps its reason, a never-started one is recorded too)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd

from raymt.results.repeats import RepeatJob
from raymt.search.repeat import _runs, member_seed
from raymt.search.space import CompiledSpace, SpaceConfig


def _compiled(common=None, base=None):
    space = {"method": ["lora", "adapter"], "common": common or {}, "methods": {"lora": {"r": {"choices": [4, 8]}}}}
    return CompiledSpace(SpaceConfig.model_validate(space), base or {})


def test_member_seed_is_the_configs_or_the_searched_one():
    assert member_seed(_compiled(base={"train": {"seed": 5}}), {"method": "lora", "lora.r": 8}) == 5
    assert member_seed(_compiled(), {"method": "lora", "lora.r": 8}) == 0  # the schema's default
    searched = _compiled(common={"train.seed": {"choices": [3, 9]}})
    assert member_seed(searched, {"method": "lora", "lora.r": 8, "train.seed": 9}) == 9


def test_member_params_are_the_rows_plain_values_without_the_other_branch():
    compiled = _compiled()
    row = pd.Series({"trial_id": "a", "method": "adapter", "lora.r": pd.NA, "bleu": 30.0})
    assert compiled.row_params(row) == {"method": "adapter"}
    row = pd.Series({"trial_id": "b", "method": "lora", "lora.r": pd.array([8], dtype="Int64")[0]})
    params = compiled.row_params(row)
    assert params == {"method": "lora", "lora.r": 8} and type(params["lora.r"]) is int


def _result(trial_id, seed, tune_id, *, metrics=None, error=None):
    return SimpleNamespace(
        config={"repeat": {"trial_id": trial_id, "seed": seed, "params": {}}},
        metrics={"trial_id": tune_id, **(metrics or {})},
        error=error,
        path=f"/nowhere/repeat_trial_{tune_id}",
    )


def test_each_job_gets_a_row_however_its_run_ended(tmp_path):
    jobs = [RepeatJob("a", 1, 0), RepeatJob("b", 1, 0), RepeatJob("c", 1, 0), RepeatJob("d", 1, 0)]
    grid = [
        _result("a", 1, "r1", metrics={"bleu": 31.5, "chrf": 50.0, "finished": True, "time_total_s": 12.0}),
        _result("b", 1, "r2", error=RuntimeError("TrialFailed: diverged: loss is nan")),
        _result("c", 1, "r3", metrics={"bleu": 20.0}),  # Ctrl-C before its last report
    ]
    runs = {r.trial_id: r for r in _runs(grid, jobs, tmp_path, None)}
    assert runs["a"].status == "completed" and runs["a"].bleu == 31.5 and runs["a"].repeat_trial_id == "r1"
    assert runs["a"].checkpoint_path == ""  # no Train run on disk here
    assert runs["b"].status == "failed" and "diverged" in runs["b"].error and math.isnan(runs["b"].bleu)
    assert runs["c"].status == "interrupted"
    assert runs["d"].status == "interrupted" and "never started" in runs["d"].error


def test_a_grid_searchs_front_is_repeated_from_its_grid_values(tmp_path):
    """repeat_front with ``sampler.kind: grid`` (search_spaces/ground_truth_synthetic.yaml): the
    members' parameters come back from the trials table as the grid trained them, each repeat a
    valid trial config with the next seed; the repeats themselves run like any sampler's."""
    from pathlib import Path

    import yaml

    from raymt.config.load import validate_config
    from raymt.results.repeats import repeats_to_run
    from raymt.search.load import load_search

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "search_spaces" / "ground_truth_synthetic.yaml").read_text())
    raw["search"]["repeat_front"] = 1
    (tmp_path / "gt.yaml").write_text(yaml.safe_dump(raw))
    _, search, compiled, _ = load_search(tmp_path / "gt.yaml")
    assert search.sampler.kind == "grid" and compiled.trials_to_run(search.num_samples) == 30
    rows = [  # as the grid's trials table holds them: the other branches' columns missing
        {"trial_id": "f", "method": "full", "train.lr": 3e-3, "bleu": 6.0, "storage_mb": 7.8},
        {
            "trial_id": "l",
            "method": "lora",
            "train.lr": 3e-3,
            "lora.r": 8.0,
            "lora.alpha_over_r": 2,
            "lora.target_modules": "all-linear",
            "bleu": 1.4,
            "storage_mb": 0.55,
        },
        {"trial_id": "a", "method": "adapter", "train.lr": 1e-3, "adapter.size": 8.0, "bleu": 0.8, "storage_mb": 0.13},
        {"trial_id": "d", "method": "adapter", "train.lr": 3e-4, "adapter.size": 128.0, "bleu": 0.5, "storage_mb": 1.6},  # dominated
    ]
    trials = pd.DataFrame(rows).assign(status="completed")
    params = {t: compiled.row_params(r) for t, r in trials.set_index("trial_id", drop=False).iterrows()}
    jobs = repeats_to_run(trials, search.objectives, search.repeat_front, {t: member_seed(compiled, p) for t, p in params.items()})
    assert sorted((j.trial_id, j.seed, j.original_seed) for j in jobs) == [("a", 1, 0), ("f", 1, 0), ("l", 1, 0)]
    for job in jobs:
        trial_raw = compiled.to_raw_config(params[job.trial_id])
        trial_raw.setdefault("train", {})["seed"] = job.seed  # as raymt.search.trainable.repeat_trial
        cfg = validate_config(trial_raw, f"repeat of {job.trial_id}")
        assert cfg.train.seed == 1 and cfg.train.lr == trials.set_index("trial_id").loc[job.trial_id, "train.lr"]
    lora = validate_config(compiled.to_raw_config(params["l"]), "lora member")
    assert lora.method.name == "lora" and lora.method.r == 8 and lora.method.target_modules == "all-linear"
