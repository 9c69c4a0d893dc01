"""raymt.analysis must work where Ray is not installed: it must never import it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_analysis_never_imports_ray(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np, pandas as pd
        import raymt.analysis
        from raymt.analysis import front, pareto, plots, report, results, significance
        df = pd.DataFrame({{"trial_id": ["a", "b", "c"], "status": ["completed", "completed", "failed"],
                           "method": ["lora", "full", "lora"], "lr": [1e-4, 1e-5, 1e-3],
                           "bleu": [20.0, 30.0, np.nan], "storage_mb": [2.0, 2000.0, np.nan]}})
        results.write_results({str(tmp_path)!r}, df)
        report.write_report({str(tmp_path)!r}, results.load({str(tmp_path)!r}))
        loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
        assert not loaded, loaded
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert (tmp_path / "report.md").is_file() and (tmp_path / "pareto.png").is_file()
