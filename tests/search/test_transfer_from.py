"""``search.transfer_from``: finished trials of earlier raymt searches become the related tasks
of the default sampler's prior, and a table that does not match the space by parameter name and
kind is a one-line error naming the parameter, raised while the config is checked (never a
silent drop of the columns the sampler does not know)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from raymt.errors import ConfigError
from raymt.results.files import CONFIG_COPY, MARKER, TRIALS_FILE
from raymt.search.config import SearchConfig
from raymt.search.load import load_search
from raymt.search.sampler.registry import make_sampler
from raymt.search.sampler.sources import read_related, space_params
from raymt.search.space import CompiledSpace

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}
SPACE = {
    "method": ["full", "lora", "adapter"],
    "common": {"train.lr": {"log_uniform": [3e-4, 3e-3]}},
    "methods": {
        "lora": {"r": {"choices": [2, 8, 32]}, "target_modules": {"choices": [["q_proj", "v_proj"], "all-linear"]}},
        "adapter": {"size": {"choices": [8, 32, 128]}},
    },
}


def compiled(space=SPACE) -> CompiledSpace:
    return CompiledSpace(SearchConfig.model_validate({"space": space}).space, {})


def earlier_trials(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Finished trials of an earlier search over SPACE, as its trials table holds them."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        method = ["full", "lora", "adapter"][i % 3]
        row = {"trial_id": f"t{i}", "status": "completed", "method": method, "train.lr": float(10 ** rng.uniform(-3.5, -2.5))}
        row["lora.r"] = int(rng.choice([2, 8, 32])) if method == "lora" else np.nan
        row["lora.target_modules"] = str(rng.choice(["q_proj+v_proj", "all-linear"])) if method == "lora" else None
        row["adapter.size"] = int(rng.choice([8, 32, 128])) if method == "adapter" else np.nan
        row["bleu"] = float(rng.uniform(10, 30))
        row["storage_mb"] = 100.0 if method == "full" else float(rng.uniform(0.1, 2))
        rows.append(row)
    return pd.DataFrame(rows)


def results_folder(path, trials: pd.DataFrame, space=SPACE):
    path.mkdir(parents=True)
    (path / MARKER).write_text(json.dumps({"raymt": "test", "name": path.name}))
    (path / CONFIG_COPY).write_text(yaml.safe_dump({"name": path.name, "search": {"space": space}}))
    trials.to_parquet(path / TRIALS_FILE)
    return path


def check(folder, space=SPACE):
    c = compiled(space)
    return read_related([("search.transfer_from[0]", folder, True)], OBJECTIVES, params=space_params(c), param_names=c.flat_columns())


def test_an_earlier_search_over_the_same_space_becomes_a_related_task_of_the_prior(tmp_path):
    folder = results_folder(tmp_path / "de-en", earlier_trials())
    c = compiled()
    sampler = make_sampler(
        SearchConfig().sampler,
        objectives=OBJECTIVES,
        space_fn=c.define_by_run,
        param_names=c.flat_columns(),
        space_params=space_params(c),
        transfer_from=[str(folder)],
    )
    assert sampler._related is not None and sampler._related.tasks == [str(folder)]


def test_a_table_sharing_only_the_learning_rate_is_refused_naming_the_parameter(tmp_path):
    only_lr = earlier_trials()[["trial_id", "status", "train.lr", "bleu", "storage_mb"]]
    with pytest.raises(ConfigError, match="no column 'method', which this space searches") as err:
        check(results_folder(tmp_path / "a", only_lr, space={"method": "lora", "common": SPACE["common"]}))
    assert err.value.where == "search.transfer_from[0]"
    no_rank = earlier_trials().drop(columns=["lora.r"])
    with pytest.raises(ConfigError, match="no column 'lora.r', which this space searches"):
        check(results_folder(tmp_path / "b", no_rank))


def test_a_parameter_the_earlier_search_varied_and_this_space_lacks_is_refused(tmp_path):
    df = earlier_trials().assign(**{"train.warmup_ratio": np.linspace(0.0, 0.2, 12)})
    space = {**SPACE, "common": {**SPACE["common"], "train.warmup_ratio": {"uniform": [0.0, 0.2]}}}
    with pytest.raises(ConfigError, match="varied 'train.warmup_ratio', which this space does not search"):
        check(results_folder(tmp_path / "a", df, space=space))


def test_a_parameter_of_another_kind_or_an_unknown_choice_is_refused(tmp_path):
    df = earlier_trials()
    df["adapter.size"] = df["adapter.size"].map(lambda v: None if pd.isna(v) else f"w{int(v)}")
    with pytest.raises(ConfigError, match=r"'adapter.size' is a number here but 'w\d+' in the earlier trials"):
        check(results_folder(tmp_path / "a", df))
    df = earlier_trials()
    df.loc[df["method"] == "lora", "lora.target_modules"] = "q_proj"
    with pytest.raises(ConfigError, match=r"'lora.target_modules' is 'q_proj' in the earlier trials, not one of this space's choices"):
        check(results_folder(tmp_path / "b", df))


def test_a_branch_the_earlier_search_never_ran_and_methods_this_space_lacks_are_fine(tmp_path):
    lora_and_full = earlier_trials()
    lora_and_full = lora_and_full[lora_and_full["method"] != "adapter"].drop(columns=["adapter.size"])
    (task, table), *rest = check(results_folder(tmp_path / "a", lora_and_full))
    assert not rest and set(table["method"]) == {"full", "lora"}
    lora_only = {"method": "lora", "common": SPACE["common"], "methods": {"lora": SPACE["methods"]["lora"]}}
    (_, table), *_ = check(results_folder(tmp_path / "b", earlier_trials()), space=lora_only)
    assert set(table["method"]) == {"lora"}  # rows of methods this space does not search are not used


def test_transfer_needs_the_default_sampler():
    with pytest.raises(ValidationError, match="transfer_from needs sampler kind raymt"):
        SearchConfig.model_validate({"space": SPACE, "transfer_from": ["x"], "sampler": {"kind": "tpe"}})


def test_a_mismatch_or_a_missing_folder_is_found_when_the_config_is_loaded(tmp_path):
    """``raymt validate`` / ``raymt search`` refuse it before Ray starts, naming the field."""
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_search(None, {"search": {"transfer_from": [str(tmp_path / "nope")]}})
    assert err.value.where == "search.transfer_from[0]"
    only_lr = earlier_trials()[["trial_id", "status", "method", "train.lr", "bleu", "storage_mb"]]
    with pytest.raises(ConfigError, match="no column 'train.warmup_ratio', which this space searches"):  # default.yaml searches it
        load_search(None, {"search": {"transfer_from": [str(results_folder(tmp_path / "a", only_lr))]}})
