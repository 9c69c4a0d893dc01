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
    history = pd.DataFrame(
        {
            "trial_id": ["t0", "t0", "t1"],
            "epoch": [1, 2, 1],
            "step": [10, 20, 10],
            "bleu": [20.0, 30.0, 28.0],
            "chrf": np.nan,
            "eval_loss": [2.0, 1.5, 1.7],
            "train_loss": [2.5, 1.8, 2.0],
        }
    )
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


@pytest.mark.parametrize("killed_in", ["to_parquet", "to_csv"])
def test_a_crash_while_rewriting_the_results_leaves_every_file_readable(tmp_path, killed_in):
    """A search rewrites its tables after every trial; a driver killed in the middle of that must
    not leave a truncated trials table or front. The writer is SIGKILLed after half a file."""
    import signal
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    write_results(tmp_path, _trials())
    before = {name: (tmp_path / name).read_bytes() for name in ("trials.parquet", "trials.csv", "pareto.csv")}
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import pandas as pd
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_analysis_results import _trials
        from raymt.analysis.results import write_results

        def half_then_die(self, path, *args, **kwargs):
            with open(path, "wb") as fh:
                fh.write(b"PAR1 half a table")
                fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        setattr(pd.DataFrame, {killed_in!r}, half_then_die)
        df = _trials()
        df.loc[0, "bleu"] = 99.0  # a new version that must not half-appear
        write_results({str(tmp_path)!r}, df)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == -signal.SIGKILL
    new = _trials()
    new.loc[0, "bleu"] = 99.0
    loaded = load(tmp_path)  # readable: one whole version or the other, never half of one
    if killed_in == "to_parquet":  # killed on the first file: nothing changed at all
        pd.testing.assert_frame_equal(loaded, _trials(), check_dtype=False)
        assert {name: (tmp_path / name).read_bytes() for name in before} == before
    else:  # the parquet table was replaced whole; the csv files are still the previous ones
        pd.testing.assert_frame_equal(loaded, new, check_dtype=False)
        assert (tmp_path / "trials.csv").read_bytes() == before["trials.csv"]
    assert pd.read_csv(tmp_path / "pareto.csv")["trial_id"].tolist() == ["t1", "t0"]
    litter = [f.name for f in tmp_path.iterdir() if f.name not in before]
    assert len(litter) == 1 and litter[0].startswith(".") and litter[0].endswith(".tmp"), litter
    write_results(tmp_path, _trials())  # the next write sweeps the dead writer's temp file
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(before)
