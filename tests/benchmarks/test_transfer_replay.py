"""Transfer replayed on the ground truth: the second table's space is the first's, a ground-truth
table is read as an earlier search's trials (through the checks of ``search.transfer_from``), and
a prior from a task that ranks configurations alike gets the sampler to the front sooner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.sampler_replay import per_configuration, read_table
from benchmarks.transfer_replay import TABLES, TRANSFER, as_trials_table, rank_agreement, replay_direction, shared, transfer_p
from raymt.errors import ConfigError
from raymt.search.sampler.sources import read_related, space_params

ROOT = Path(__file__).resolve().parents[2]
REAL = read_table(TABLES["real-text en-cs"])
CONFIGURATIONS = len(per_configuration(REAL))


def test_the_synthetic_ground_truth_searches_the_same_space_as_the_real_text_one():
    real, synthetic = (
        yaml.safe_load((ROOT / "search_spaces" / f).read_text())["search"] for f in ("ground_truth.yaml", "ground_truth_synthetic.yaml")
    )
    assert synthetic["space"] == real["space"] and synthetic["sampler"] == real["sampler"]
    assert synthetic["objectives"] == real["objectives"] and synthetic["scheduler"] == real["scheduler"]


def test_a_ground_truth_table_is_read_as_earlier_trials_and_a_mismatch_names_the_parameter(tmp_path):
    from benchmarks.sampler_replay import OBJECTIVES, grid_space

    space = grid_space()
    params = space_params(space)
    path = as_trials_table(REAL, tmp_path / "trials.csv")
    ((_, df),) = read_related([("prior", path, False)], OBJECTIVES, params=params, param_names=space.flat_columns())
    assert len(df) == CONFIGURATIONS and df["bleu"].tolist() == pytest.approx(per_configuration(REAL)["val_bleu"].tolist())
    renamed = pd.read_csv(path).rename(columns={"adapter.size": "adapter.width"})
    renamed.to_csv(tmp_path / "renamed.csv", index=False)
    with pytest.raises(ConfigError, match="adapter.size"):
        read_related([("prior", tmp_path / "renamed.csv", False)], OBJECTIVES, params=params, param_names=space.flat_columns())


def test_a_prior_that_ranks_alike_reaches_the_front_sooner_than_none():
    related = REAL.assign(val_bleu=REAL["val_bleu"] * 3 + 1)  # another scale, the same ranks
    n, rho = rank_agreement(REAL, related)
    assert n == CONFIGURATIONS and rho == pytest.approx(1.0)
    tables, space = shared({"target": REAL, "source": related})
    raw = replay_direction("target", "source", tables, seeds=2, n_evals=16, log=lambda m: None, space=space)
    assert set(raw["sampler"]) == {"raymt", "grid", TRANSFER} and (raw["source"] == "source").all()
    to95 = raw.groupby("sampler")["evals_to_95"].max()
    assert to95[TRANSFER] < raw.loc[raw["sampler"] == "raymt", "evals_to_95"].min()
    assert np.isfinite(transfer_p(raw, 16))


def test_two_tables_are_replayed_on_the_configurations_they_share():
    """A table without the q_proj+v_proj LoRAs (the synthetic one before they were run): both sides
    drop them, and the replayed grid has the all-linear target set only (every proposal is a row of
    both tables)."""
    synthetic = read_table(TABLES["synthetic"])
    all_linear = synthetic[synthetic["lora.target_modules"] != "q_proj+v_proj"]
    tables, space = shared({"real": REAL, "synthetic": all_linear})
    assert (tables["real"]["lora.target_modules"] != "q_proj+v_proj").all()
    assert len(per_configuration(tables["real"])) == len(per_configuration(tables["synthetic"])) < CONFIGURATIONS
    assert space.grid_size() == len(per_configuration(tables["synthetic"]))


def test_the_shipped_tables_share_the_whole_grid():
    tables, space = shared({"real": REAL, "synthetic": read_table(TABLES["synthetic"])})
    assert len(per_configuration(tables["real"])) == len(per_configuration(tables["synthetic"])) == CONFIGURATIONS == 30
    assert space.grid_size() == CONFIGURATIONS
