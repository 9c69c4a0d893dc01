"""One vocabulary: the space's names everywhere, and raymt 0.1's names still read (with a warning)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from raymt.analysis.results import load
from raymt.cli import main
from raymt.errors import RaymtDeprecationWarning
from raymt.results.columns import legacy_renames, legacy_spelling, read_trials_table, space_param_names
from raymt.results.files import CONFIG_COPY, MARKER, TRIALS_FILE
from raymt.search.load import load_search

SPACE = {
    "method": ["lora", "adapter"],
    "common": {"train.lr": {"log_uniform": [1.0e-4, 1.0e-2]}, "augment.word_dropout.ratio": {"choices": [0.0, 0.5]}},
    "methods": {"lora": {"r": {"choices": [4, 8]}, "alpha_over_r": {"choices": [1, 2]}}, "adapter": {"size": {"choices": [8, 16]}}},
}


@pytest.mark.parametrize(
    "name, old",
    [
        ("train.lr", "lr"),
        ("train.warmup_ratio", "warmup_ratio"),
        ("lora.r", "lora_r"),
        ("lora.alpha_over_r", "lora_alpha_over_r"),
        ("adapter.size", "adapter_size"),
        ("augment.word_dropout.ratio", "aug_word_dropout"),
        ("init.stage", "init_stage"),
        ("init.denoise.steps", "init_denoise_steps"),
        ("multi_pair.temperature", "multi_pair_temperature"),
        ("method", "method"),
    ],
)
def test_legacy_spelling(name, old):
    assert legacy_spelling(name) == old


def test_names_of_a_space_as_written():
    assert space_param_names({"space": SPACE}) == ["method", "train.lr", "augment.word_dropout.ratio", "lora.r", "lora.alpha_over_r", "adapter.size"]
    # a new name already present wins over an old one (nothing to rename)
    assert legacy_renames(["lr", "train.lr", "lora_r"], ["train.lr", "lora.r"]) == {"lora_r": "lora.r"}


def test_the_space_names_are_the_names_of_points_optuna_and_the_table(tmp_path):
    path = tmp_path / "s.yaml"
    point = {"method": "lora", "train.lr": 1e-3, "lora.r": 8, "augment.word_dropout.ratio": 0.5}
    path.write_text(yaml.safe_dump({"search": {"space": SPACE, "points_to_evaluate": [point]}}, sort_keys=False))
    _, search, compiled, _ = load_search(path)
    assert search.points_to_evaluate == [point]
    assert compiled.flat_columns() == space_param_names({"space": SPACE})
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    names = set()
    for _ in range(12):
        trial = study.ask()
        compiled.define_by_run(trial)
        names |= set(trial.params)
        study.tell(trial, 0.0)
    assert names == set(compiled.flat_columns())


def test_old_point_names_still_work_with_one_warning(tmp_path):
    path = tmp_path / "s.yaml"
    old = {"method": "lora", "lr": 1e-3, "lora_r": 8, "lora_alpha_over_r": 2, "aug_word_dropout": 0.5}
    path.write_text(yaml.safe_dump({"search": {"space": SPACE, "points_to_evaluate": [old, {"method": "adapter", "adapter_size": 16}]}}))
    with pytest.warns(RaymtDeprecationWarning, match="lr -> train.lr") as caught:
        _, search, _, _ = load_search(path)
    assert len([w for w in caught if issubclass(w.category, RaymtDeprecationWarning)]) == 1
    assert search.points_to_evaluate == [
        {"method": "lora", "train.lr": 1e-3, "lora.r": 8, "lora.alpha_over_r": 2, "augment.word_dropout.ratio": 0.5},
        {"method": "adapter", "adapter.size": 16},
    ]


def test_the_cli_tells_a_deprecation_in_one_line(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"search": {"space": SPACE, "points_to_evaluate": [{"method": "lora", "lora_r": 4}]}}))
    assert main(["validate", str(path)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("raymt: deprecated: search.points_to_evaluate") and "lora_r -> lora.r" in lines[0]


def old_results_folder(tmp_path):
    """A raymt 0.1 results folder: the space in search_config.yaml, the table with flat names."""
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / CONFIG_COPY).write_text(yaml.safe_dump({"name": "old", "search": {"space": SPACE}}))
    (folder / MARKER).write_text(json.dumps({"raymt": "0.1.0", "name": "old"}))
    pd.DataFrame(
        {
            "trial_id": ["a", "b"],
            "status": ["completed", "completed"],
            "method": ["lora", "adapter"],
            "lr": [1e-3, 2e-3],
            "lora_r": [8.0, float("nan")],
            "lora_alpha_over_r": [2.0, float("nan")],
            "adapter_size": [float("nan"), 16.0],
            "aug_word_dropout": [0.0, 0.5],
            "init_stage": ["none", "none"],
            "bleu": [20.0, 21.0],
            "storage_mb": [0.1, 0.2],
        }
    ).to_parquet(folder / TRIALS_FILE)
    return folder


def test_an_old_results_folder_loads_with_the_new_names(tmp_path):
    folder = old_results_folder(tmp_path)
    with pytest.warns(RaymtDeprecationWarning, match="lora_r -> lora.r"):
        df = load(folder)
    assert {"train.lr", "lora.r", "lora.alpha_over_r", "adapter.size", "augment.word_dropout.ratio", "init.stage"} <= set(df.columns)
    assert not {"lr", "lora_r", "adapter_size", "aug_word_dropout", "init_stage"} & set(df.columns)
    assert df.loc[df["method"] == "adapter", "adapter.size"].item() == 16.0
    # a table read for another search (a related task, a warm start) takes that search's names
    with pytest.warns(RaymtDeprecationWarning):
        other = read_trials_table(folder / TRIALS_FILE, names=["method", "train.lr"])
    assert "train.lr" in other.columns and "lora_r" in other.columns


def test_a_new_results_folder_loads_without_a_warning(tmp_path, recwarn):
    folder = old_results_folder(tmp_path)
    df = pd.read_parquet(folder / TRIALS_FILE).rename(columns={"lr": "train.lr", "lora_r": "lora.r"})
    df.drop(columns=["lora_alpha_over_r", "adapter_size", "aug_word_dropout", "init_stage"]).to_parquet(folder / TRIALS_FILE)
    load(folder)
    assert not [w for w in recwarn if issubclass(w.category, RaymtDeprecationWarning)]
