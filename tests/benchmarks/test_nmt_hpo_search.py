"""The NMT-HPO search benchmark does not rot: its smoke run goes through both engines (a plain
Optuna loop and raymt's real Tuner + OptunaSearch path) and writes its raw numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "nmt-hpo" / "datasets"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not DATA.is_dir(), reason=f"the Zhang & Duh tables are not at {DATA} (../shared absent)")
def test_smoke_run_covers_both_engines(tmp_path):
    out = tmp_path / "nmt.csv"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.nmt_hpo_search", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw = pd.read_csv(out)
    assert set(raw["engine"]) == {"optuna", "tune"}
    hv = raw.filter(like="hv@").stack().dropna()
    assert len(hv) and ((hv > 0) & (hv <= 1 + 1e-9)).all()   # fractions of the true front's hypervolume
    assert "| engine | pair | sampler |" in proc.stdout
