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
