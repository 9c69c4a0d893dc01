"""Results folder: write, read back, and refuse folders that are not experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raymt.analysis.results import hyperparameter_columns, load, load_history, write_results
from raymt.errors import DataError


def _trials():
    return pd.DataFrame(
        {
            "trial_id": ["t0", "t1", "t2", "t3"],
            "status": ["completed", "completed", "early_stopped", "failed"],
            "method": ["full", "lora", "lora", "adapter"],
            "lr": [1e-4, 3e-4, 1e-3, 5e-4],
            "lora_r": [np.nan, 8.0, 16.0, np.nan],
            "lora_targets": [None, "q_proj,v_proj", "q_proj,v_proj", None],
            "adapter_size": [np.nan, np.nan, np.nan, 64.0],
            "bleu": [30.0, 28.0, 29.0, np.nan],
            "storage_mb": [2000.0, 5.0, 1.0, np.nan],
            "error": [None, None, None, "CUDA out of memory | tried to allocate 2 GiB\nTraceback..."],
        }
    )


def test_write_then_load_round_trips_and_writes_the_front(tmp_path):
    history = pd.DataFrame({"trial_id": ["t0", "t0", "t1"], "epoch": [1, 2, 1], "step": [10, 20, 10],
                            "bleu": [20.0, 30.0, 28.0], "chrf": np.nan, "eval_loss": [2.0, 1.5, 1.7],
                            "train_loss": [2.5, 1.8, 2.0]})
    written = write_results(tmp_path, _trials(), history)
    assert set(written) == {"trials", "trials_csv", "pareto", "history"}
    loaded = load(tmp_path)
    pd.testing.assert_frame_equal(loaded, _trials(), check_dtype=False)
    assert np.isnan(loaded.loc[0, "lora_r"])  # not-applicable parameters stay NaN
    pareto = pd.read_csv(tmp_path / "pareto.csv")
    assert list(pareto["trial_id"]) == ["t1", "t0"]  # the early-stopped t2 (1 MB) is not on it
    csv = pd.read_csv(tmp_path / "trials.csv")
    assert list(csv.columns) == list(_trials().columns)
    pd.testing.assert_frame_equal(load_history(tmp_path), history, check_dtype=False)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_load_refuses_a_folder_that_is_not_an_experiment(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a raymt experiment.*notes.txt"):
        load(tmp_path)
    (tmp_path / "trials.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read trials.parquet"):
        load(tmp_path)


def test_bad_tables_are_refused(tmp_path):
    with pytest.raises(DataError, match="status"):
        write_results(tmp_path, _trials().drop(columns="status"))
    with pytest.raises(DataError, match="unknown trial status"):
        write_results(tmp_path, _trials().assign(status="done"))
    with pytest.raises(DataError, match="history"):
        write_results(tmp_path, _trials(), pd.DataFrame({"x": [1]}))


def test_missing_history_is_an_empty_long_table(tmp_path):
    write_results(tmp_path, _trials())
    history = load_history(tmp_path)
    assert history.empty and {"trial_id", "epoch", "bleu"} <= set(history.columns)


def test_hyperparameter_columns_are_everything_but_results():
    cols = hyperparameter_columns(_trials().assign(prefix_len=np.nan))
    assert cols == ["method", "lr", "lora_r", "lora_targets", "adapter_size", "prefix_len"]
