"""The learning-curve replay benchmark: its storage formula, its data loading and its smoke run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("lc_replay_under_test", ROOT / "benchmarks" / "lc_replay.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


lc = _load_benchmark()


@pytest.mark.parametrize("family", ["bloom", "xglm"])
def test_lora_parameter_formula_matches_peft(family):
    """params = 4 * d * r * layers for peft's LoRA on BLOOM's query_key_value and XGLM's q/v."""
    import torch
    from peft import LoraConfig, get_peft_model

    d, layers, rank = 64, 3, 4
    if family == "bloom":
        from transformers import BloomConfig, BloomForCausalLM

        model = BloomForCausalLM(BloomConfig(vocab_size=50, hidden_size=d, n_layer=layers, n_head=4))
        targets = ["query_key_value"]  # peft's default for bloom
    else:
        from transformers import XGLMConfig, XGLMForCausalLM

        model = XGLMForCausalLM(XGLMConfig(vocab_size=50, d_model=d, num_layers=layers, attention_heads=4, ffn_dim=128, max_position_embeddings=32))
        targets = ["q_proj", "v_proj"]
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=8, target_modules=targets))
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    assert sum(p.numel() for p in trainable) == lc.lora_params(d, layers, rank)
    # and peft keeps them in float32, the 4 bytes per parameter the benchmark assumes
    assert {p.dtype for p in trainable} == {torch.float32}
    assert lc.adapter_mb(d, layers, rank) == lc.lora_params(d, layers, rank) * 4 / 1e6


def test_runs_load_with_exact_adapter_sizes():
    if not lc.DATA_PATH.is_file():
        pytest.skip(f"NMTLC data not present at {lc.DATA_PATH}")
    runs = lc.load_runs()
    assert len(runs) == 321
    assert {r.group for r in runs} == {"fr-en", "zh-en"}
    sizes = sorted({round(r.storage_mb, 6) for r in runs})
    # BLOOMZ-560m rank 2: 4 * 1024 * 2 * 24 params * 4 bytes; XGLM-2.9B rank 64 the largest.
    assert sizes[0] == pytest.approx(0.786432) and sizes[-1] == pytest.approx(4 * 2048 * 64 * 48 * 4 / 1e6)
    assert len(sizes) == 11  # 6 models x 3 ranks, with coinciding d*layers*rank products
    assert all(len(r.curve) >= 7 for r in runs)


def test_log_hypervolume_sees_the_loss_of_a_small_front_point():
    # Two front points: 0.8 MB at 6 BLEU, 2.5 MB at 10 BLEU, in a 0.8-100 MB space.
    ref = {"log": [0.0, 2.2], "linear": [0.0, 110.0]}
    both = [(6.0, 0.8), (10.0, 2.5)]
    lost = [(10.0, 2.5)]
    log_frac = lc.hypervolume_2d(lost, ref["log"], log_cost=True) / lc.hypervolume_2d(both, ref["log"], log_cost=True)
    lin_frac = lc.hypervolume_2d(lost, ref["linear"], log_cost=False) / lc.hypervolume_2d(both, ref["linear"], log_cost=False)
    assert log_frac < 0.95  # losing the smallest adapter shows on a log axis ...
    assert lin_frac > 0.99  # ... and is nearly invisible on a linear one


@pytest.mark.slow
def test_smoke_run_writes_numbers_and_mo_asha_keeps_more_front(tmp_path):
    out = tmp_path / "lc.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.lc_replay", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(out)
    trials = pd.read_csv(tmp_path / "lc_trials.csv")
    assert set(df["scheduler"]) == {"none", "asha", "mo_asha", "mo_asha_bands"}
    none = df[df.scheduler == "none"].iloc[0]
    assert none["compute_saved"] == 0 and none["hv_log_frac"] == 1.0 and none["early_stopped"] == 0
    row = df.set_index("scheduler")
    assert (row.loc[["asha", "mo_asha"], "compute_saved"] > 0.3).all()
    # the storage-aware scheduler keeps at least the hypervolume of single-metric ASHA
    assert row.loc["mo_asha", "hv_log_frac"] >= row.loc["asha", "hv_log_frac"]
    # per-trial rows agree with the summary: early-stopped trials ran fewer checkpoints
    stopped = trials[trials.early_stopped]
    assert (stopped.checkpoints < stopped.checkpoints_full).all()
    assert stopped.groupby("scheduler").size().to_dict() == row.loc[row.early_stopped > 0, "early_stopped"].to_dict()
    assert proc.stdout.rstrip().splitlines()[-1].startswith("saved = checkpoints not run")  # table last
    # the Ray-free driver (lc_replay_ground_truth uses it) takes the decisions Tune's replay took
    runs = lc.smoke_subset([r for r in lc.load_runs() if r.group == lc.SMOKE_GROUP], per_group=24)
    for spec in lc.scheduler_specs(["none", "asha", "mo_asha", "mo_asha_bands"], [3.0], [3.0], "bleu_best"):
        tuned = trials[trials.scheduler == spec.label].set_index("run_id")[["checkpoints", "early_stopped"]].sort_index()
        direct = lc.replay_in_process(runs, spec, seed=0).set_index("run_id")[["checkpoints", "early_stopped"]].sort_index()
        pd.testing.assert_frame_equal(direct, tuned, check_dtype=False)
