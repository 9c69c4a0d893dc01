"""What a trial driver imports: it starts once per trial, so its imports sit on every trial's
critical path (BENCHMARKS.md, "Trial efficiency")."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_a_trial_driver_builds_its_trainer_without_importing_the_training_loop(tmp_path):
    """Validating a trial's config and building its TorchTrainer (what every Tune trial driver
    does before ``fit()``) must not import peft or the per-worker loop: that cost ~2-3 s and
    ~140 MB in every trial driver, on every trial's critical path, for a process that only
    hands the loop to Ray Train. The workers still get raymt's loop (by reference)."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from raymt.config.load import validate_config
        from raymt.train.prepare import PreparedExperiment
        from raymt.train.trial import make_trainer

        cfg = validate_config({{"name": "t", "storage_path": {str(tmp_path)!r}, "method": {{"name": "lora"}},
                                "resources": {{"num_workers": 2, "cpus_per_worker": 0.9}}}}, "test")
        trainer = make_trainer(cfg, PreparedExperiment(base_path="base", data_path="data"), name="trial_x",
                               storage_path={str(tmp_path / "trials")!r})
        fn = trainer.train_loop_per_worker
        print(json.dumps({{"heavy": sorted(m for m in ("peft", "raymt.train.worker") if m in sys.modules),
                           "loop": fn.__module__ + "." + fn.__qualname__}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == []
    assert seen["loop"] == "raymt.train.trial.train_loop_per_worker"
