"""The ground-truth table's script (a grid search's results folder -> one CSV row per
configuration) and the sampler replay on it (a lookup objective over the very space the grid
trained)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.ground_truth import ground_truth, main, part_config, seed_fronts, seed_noise, seed_pairs, summary
from benchmarks.sampler_replay import GroundTruth, grid_space, per_configuration, replay, run, with_targets
from raymt.results.files import CONFIG_COPY, HISTORY_FILE, MARKER, TRIALS_FILE
from raymt.search.load import load_search

ROOT = Path(__file__).resolve().parents[2]
TARGET_SETS = ("q_proj+v_proj", "all-linear")


def full_grid_table(seed: int = 0, failed: int = 0) -> pd.DataFrame:
    """Every configuration of search_spaces/ground_truth.yaml's grid with made-up results."""
    rng = np.random.default_rng(seed)
    rows = []
    for lr in (3e-4, 1e-3, 3e-3):
        rows.append({"method": "full", "train.lr": lr, "val_bleu": 20 + rng.normal(), "storage_mb": 8.0})
        for r in (2, 8, 32):
            for i, targets in enumerate(TARGET_SETS):
                row = {"method": "lora", "train.lr": lr, "lora.r": r, "lora.target_modules": targets}
                rows.append({**row, "val_bleu": 10 + r / 4 + i + rng.normal(), "storage_mb": 0.01 * r * (1 + 2 * i)})
        for s in (8, 32, 128):
            rows.append({"method": "adapter", "train.lr": lr, "adapter.size": s, "val_bleu": 12 + s / 20 + rng.normal(), "storage_mb": 0.005 * s})
    df = pd.DataFrame(rows).assign(status="completed", seed=seed)
    df.loc[: failed - 1, "status"] = "failed"
    return df


def test_the_replay_space_is_the_grid_and_every_proposal_is_a_row():
    space = grid_space()
    assert space.grid_size() == 30  # full 3 + LoRA 3 ranks x 2 target sets x 3 + adapter 3 x 3
    assert grid_space(targets=["all-linear"]).grid_size() == 21
    truth = GroundTruth(full_grid_table())
    for name in ("random", "raymt", "tpe"):
        results = replay(name, 0, space, truth, 24)
        assert len(results) == 24 and all(r is not None for r in results)


def test_all_configurations_evaluated_reach_the_whole_front_and_a_failed_one_counts_as_none():
    table = full_grid_table(failed=1)
    truth = GroundTruth(table)
    done = table[table["status"] == "completed"]
    curve = truth.hv_curve([None, *zip(done["val_bleu"], done["storage_mb"])])
    assert curve[0] == 0.0 and curve[-1] == pytest.approx(1.0)
    assert np.all(np.diff(curve) >= -1e-12)
    raw = run(table, ["random", "nsga2"], seeds=2, n_evals=16, log=lambda m: None)
    assert set(raw["sampler"]) == {"random", "nsga2"} and len(raw) == 4
    assert raw[["hv@8", "hv@16"]].le(1.0 + 1e-9).all().all()


def results_folder(path: Path, targets="all-linear", seed: int = 3) -> Path:
    """A finished grid's results folder: trial a (LoRA, 3 epochs, an artefact of 1,234 bytes), b (failed)."""
    trials = pd.DataFrame(
        [
            {"trial_id": "a", "status": "completed", "method": "lora", "train.lr": 1e-3, "lora.r": 8.0, "adapter.size": np.nan, "bleu": 12.0},
            {"trial_id": "b", "status": "failed", "method": "full", "train.lr": 3e-3, "lora.r": np.nan, "adapter.size": np.nan, "bleu": np.nan},
        ]
    ).assign(storage_mb=[0.1, np.nan], best_epoch=[2, np.nan], wall_time_s=[60.0, 5.0], train_time_s=[40.0, np.nan], trainable_params=[1000, np.nan])
    trials["artifact_path"] = ["artifacts/a", ""]
    (path / "artifacts" / "a").mkdir(parents=True)
    (path / "artifacts" / "a" / "adapter.safetensors").write_bytes(b"x" * 1234)
    trials.to_parquet(path / TRIALS_FILE)
    pd.DataFrame({"trial_id": ["a", "a", "a"], "epoch": [1, 2, 3], "bleu": [5.0, 12.0, 11.0]}).to_parquet(path / HISTORY_FILE)
    space = {"method": ["full", "lora"], "methods": {"lora": {"target_modules": targets}}}
    (path / CONFIG_COPY).write_text(
        yaml.safe_dump({"train": {"seed": seed}, "search": {"objectives": {"bleu": "max", "storage_mb": "min"}, "space": space}})
    )
    (path / MARKER).write_text(json.dumps({"name": "gt"}))
    return path


def test_ground_truth_table_from_a_results_folder(tmp_path):
    results_folder(tmp_path)
    df = ground_truth(tmp_path, test=False)
    a = df[df["trial_id"] == "a"].iloc[0]
    assert [a["val_bleu_epoch1"], a["val_bleu_epoch2"], a["val_bleu_epoch3"]] == [5.0, 12.0, 11.0]
    assert a["val_bleu_final"] == 11.0 and a["val_bleu"] == 12.0 and a["seed"] == 3
    assert a["storage_bytes"] == 1234
    assert a["lora.target_modules"] == "all-linear"  # fixed by the space: the trials table leaves it empty
    assert pd.isna(df[df["trial_id"] == "b"].iloc[0]["lora.target_modules"])  # not a LoRA
    assert df[df["trial_id"] == "b"].iloc[0]["status"] == "failed"


def test_a_configuration_of_several_seeds_counts_as_their_mean_and_a_failed_seed_is_left_out():
    table = pd.concat([full_grid_table(seed=0), full_grid_table(seed=1, failed=1)], ignore_index=True)
    per = per_configuration(table)
    assert len(per) == 30 and per["seeds"].tolist() == [1] + [2] * 29
    first, second = table[table["seed"] == 0], table[table["seed"] == 1]
    assert per["val_bleu"].iloc[1] == pytest.approx((first["val_bleu"].iloc[1] + second["val_bleu"].iloc[1]) / 2)
    assert per["val_bleu"].iloc[0] == pytest.approx(first["val_bleu"].iloc[0])  # seed 1 of it failed
    assert per["val_bleu_sd"].iloc[1] == pytest.approx(np.std([first["val_bleu"].iloc[1], second["val_bleu"].iloc[1]], ddof=1))
    truth = GroundTruth(table)
    assert len(truth.rows) == 30 and not truth.failed
    qv = {"method": "lora", "train.lr": 3e-4, "lora.r": 2, "lora.target_modules": "q_proj+v_proj"}  # the table's second row
    assert truth.lookup(qv)["val_bleu"] == pytest.approx(per["val_bleu"].iloc[1])


def test_a_table_made_before_the_target_set_was_searched_reads_as_all_linear():
    old = full_grid_table()
    old = old[old["lora.target_modules"] != "q_proj+v_proj"].drop(columns=["lora.target_modules"])
    read = with_targets(old)
    assert set(read.loc[read["method"] == "lora", "lora.target_modules"]) == {"all-linear"}
    assert read.loc[read["method"] != "lora", "lora.target_modules"].isna().all()
    truth = GroundTruth(old)
    assert truth.lookup({"method": "lora", "train.lr": 3e-3, "lora.r": 8, "lora.target_modules": "all-linear"}) is not None


def test_a_part_of_the_grid_runs_with_another_seed_or_one_target_set_only(tmp_path):
    space = yaml.safe_load((ROOT / "search_spaces" / "ground_truth.yaml").read_text())

    def load(raw: dict):
        (tmp_path / "part.yaml").write_text(yaml.safe_dump(raw))
        return load_search(tmp_path / "part.yaml")

    seed = part_config(space, seed=1)
    cfg, _, compiled, _ = load(seed)
    assert cfg.train.seed == 1 and cfg.name == "ground_truth_seed1" and compiled.grid_size() == 30
    assert space["name"] == "ground_truth" and "seed" not in space["train"]  # the space itself is not changed
    cfg, search, compiled, _ = load(part_config(space, targets="q_proj,v_proj"))
    assert cfg.name == "ground_truth_targets-q_proj-v_proj" and compiled.grid_size() == 9  # 3 ranks x 3 lrs
    assert search.space.method_list == ["lora"] and search.grid_values["lora.target_modules"] == [["q_proj", "v_proj"]]
    assert compiled.grid["train.lr"] == [3.0e-4, 1.0e-3, 3.0e-3]  # the file's other grid values are kept
    with pytest.raises(Exception, match="lora.target_modules"):
        load(part_config(space, targets="k_proj"))


def test_a_part_of_the_grid_is_appended_to_the_table_without_reading_its_rows_again(tmp_path, capsys):
    out = tmp_path / "table.csv"
    old = results_folder(tmp_path / "old")
    main([str(old), "--out", str(out), "--no-test"])
    before = pd.read_csv(out).drop(columns=["lora.target_modules"])  # a table of the days before the target set
    before.loc[before["trial_id"] == "a", "test_bleu"] = 7.5  # scored then: kept, not read again
    before.to_csv(out, index=False)
    new = tmp_path / "new"
    new.mkdir()
    results_folder(new, targets=["q_proj", "v_proj"], seed=1)
    pd.read_parquet(new / TRIALS_FILE).assign(trial_id=["c", "d"], status=["completed", "interrupted"]).to_parquet(new / TRIALS_FILE)
    main([str(old), str(new), "--out", str(out), "--no-test", "--append"])
    assert sorted(pd.read_csv(out)["trial_id"]) == ["a", "b", "c"]  # d was cut short by Ctrl-C: not a result yet
    pd.read_parquet(new / TRIALS_FILE).assign(status=["completed", "failed"]).to_parquet(new / TRIALS_FILE)  # resumed
    main([str(old), str(new), "--out", str(out), "--no-test", "--append"])
    df = pd.read_csv(out).set_index("trial_id")
    assert sorted(df.index) == ["a", "b", "c", "d"]
    assert df.loc["a", "test_bleu"] == 7.5 and df.loc["a", "lora.target_modules"] == "all-linear"
    assert df.loc["c", "lora.target_modules"] == "q_proj+v_proj" and df.loc["c", "seed"] == 1
    out = capsys.readouterr().out
    assert "4 trials (2 completed)" in out
    assert "| LoRA r=8 all-linear | 12.00 (nan) | 1,234 |" in out and "| LoRA r=8 q_proj+v_proj | 12.00 (nan) | 1,234 |" in out


def test_the_summary_shows_each_seed_beside_the_mean():
    rows = [
        {"method": "full", "train.lr": 1e-3, "seed": s, "val_bleu": v, "test_bleu": 5.0 + s, "storage_bytes": 800, "status": "completed"}
        for s, v in ((1, 4.0), (0, 3.0))
    ]
    rows.append({**rows[0], "train.lr": 3e-3, "status": "failed"})
    text = summary(pd.DataFrame(rows).assign(**{"lora.r": np.nan, "lora.target_modules": None, "adapter.size": np.nan}))
    assert text.splitlines()[0] == "| configuration | lr 0.001 | storage (bytes) |"  # a failed run adds no column
    assert text.splitlines()[2] == "| full | 3.50 [3.00, 4.00] (5.50) | 800 |"


def test_seed_noise_pairs_the_two_seeds_of_each_configuration_and_compares_their_fronts():
    first = full_grid_table(seed=0).assign(test_bleu=lambda d: d["val_bleu"] - 1)
    second = first.assign(seed=1)
    # seed 1: the cheapest LoRA loses 3 BLEU on validation and 0.5 on test; one adapter fails
    cheap = (second["method"] == "lora") & (second["lora.r"] == 2) & (second["lora.target_modules"] == "q_proj+v_proj") & (second["train.lr"] == 3e-3)
    second.loc[cheap, "val_bleu"] -= 3.0
    second.loc[cheap, "test_bleu"] -= 0.5
    second.loc[(second["method"] == "adapter") & (second["adapter.size"] == 8) & (second["train.lr"] == 3e-4), "status"] = "failed"
    table = pd.concat([first, second], ignore_index=True)
    pairs = seed_pairs(table)
    assert len(pairs) == 29  # the failed seed leaves its configuration out
    row = pairs[(pairs["configuration"] == "LoRA r=2 q_proj+v_proj") & (pairs["train.lr"] == 3e-3)].iloc[0]
    assert row["val_a"] - row["val_b"] == pytest.approx(3.0) and row["test_a"] - row["test_b"] == pytest.approx(0.5)
    text = seed_noise(table)
    assert text.splitlines()[0] == "29 configurations completed at seeds 0 and 1 (26 PEFT)"
    val = next(line for line in text.splitlines() if line.startswith("| validation |"))
    assert "| 3.00 (LoRA r=2 q_proj+v_proj at lr 0.003: " in val  # the largest gap, named
    assert f"| {np.sqrt(9 / 29 / 2):.2f} |" in val  # pooled sd: one gap of 3 among 29
    fronts = seed_fronts(table)
    assert "LoRA r=2 q_proj+v_proj at lr 0.003" in fronts["seed 0"] and "LoRA r=2 q_proj+v_proj at lr 0.003" not in fronts["seed 1"]
    assert "the two seeds' fronts have different members: only seed 0: LoRA r=2 q_proj+v_proj at lr 0.003" in text
    same = seed_fronts(pd.concat([first, first.assign(seed=1)], ignore_index=True))
    assert same["seed 0"] == same["seed 1"] == same["mean"]
    assert "too few" in seed_noise(first)  # one seed: nothing to compare
    unscored = table.assign(test_bleu=np.where(table["seed"] == 1, np.nan, table["test_bleu"]))  # seed 1 not scored on test
    assert "| test | 0 | - | - | - | - | - |" in seed_noise(unscored) and seed_fronts(unscored, "test")["seed 0"] == []
