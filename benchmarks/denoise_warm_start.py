"""Denoising warm start on the default task: what the stage costs and what it changes.

    python -m benchmarks.denoise_warm_start [--seeds 0 1] [--steps 300] [--method lora]

The default search's task (synthetic medical domain, 2000 pairs, 3 epochs, 2 DDP workers) with
the default space's LoRA point (r=8 on all linear layers, lr 2e-3), run as Ray Train trials
with ``init.stage: none`` and ``init.stage: denoise`` for each seed (``train.seed``). The stage
does not depend on ``train.seed``, so it is built once and every later denoise trial reuses it:
the table shows the build cost and the reuse cost separately. One seed is noisy: read BLEU
differences against the spread across seeds. Raw rows: benchmarks/out/denoise_warm_start.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="./raymt_results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--method", default="lora")
    args = parser.parse_args(argv)

    import pandas as pd

    from raymt.config.load import validate_config
    from raymt.runtime import init_ray
    from raymt.train.prepare import prepare_experiment
    from raymt.train.trial import run_trial

    method = {"name": "lora", "r": 8, "alpha": 16, "target_modules": "all-linear"} if args.method == "lora" else {"name": args.method}

    def config(stage: str, seed: int):
        return validate_config(
            {
                "name": "bench-denoise",
                "storage_path": args.storage,
                "model": {"name_or_path": "tiny", "max_length": 48},
                "data": {"source": "synthetic", "domain": "medical", "train_size": 2000, "valid_size": 200, "test_size": 200, "lexicon_size": 20},
                "train": {"epochs": 3, "batch_size": 32, "lr": 2e-3, "warmup_ratio": 0.1, "seed": seed},
                "eval": {"max_samples": 200},
                "method": method,
                "resources": {"num_workers": 2, "cpus_per_worker": 0.95, "trial_cpus": 0.1},
                "init": {"stage": stage, "denoise": {"steps": args.steps}},
            },
            "benchmark",
        )

    prepared = prepare_experiment(config("denoise", args.seeds[0]), log=lambda m: None)
    init_ray(num_cpus=2, log=lambda m: None)
    rows = []
    for seed in args.seeds:
        for stage in ("none", "denoise"):
            t0 = time.perf_counter()
            metrics, _ = run_trial(config(stage, seed), prepared, name=f"bench-{stage}-{seed}-{int(time.time())}")
            rows.append(
                {
                    "seed": seed,
                    "init_stage": stage,
                    "bleu": metrics["bleu"],
                    "chrf": metrics["chrf"],
                    "eval_loss": metrics["eval_loss"],
                    "init_built": metrics["init_built"],
                    "init_build_s": metrics["init_build_s"],
                    "init_wait_s": metrics["init_wait_s"],
                    "trial_wall_s": time.perf_counter() - t0,
                    "train_time_s": metrics["train_time_s"],
                }
            )
    df = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    df.to_csv(OUT / "denoise_warm_start.csv", index=False)
    summary = (
        df.groupby("init_stage")
        .agg(
            trials=("bleu", "size"),
            bleu_mean=("bleu", "mean"),
            bleu_min=("bleu", "min"),
            bleu_max=("bleu", "max"),
            eval_loss_mean=("eval_loss", "mean"),
            trial_wall_s_mean=("trial_wall_s", "mean"),
        )
        .reset_index()
    )
    (OUT / "denoise_warm_start.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    warm = df[df["init_stage"] == "denoise"]
    built, reused = warm[warm["init_built"]], warm[~warm["init_built"]]
    print(f"\ndenoising warm start, {args.method}, {args.steps} stage steps, seeds {args.seeds}, {os.cpu_count()} cores")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"\nstage built once: {built['init_build_s'].sum():.1f} s; "
        f"reused by {len(reused)} trial(s) at {reused['init_wait_s'].mean() if len(reused) else float('nan'):.3f} s each"
    )
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
