"""benchmarks/gpu.py: its FLOP count (the MFU's numerator) and its CPU smoke form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.gpu import forward_flops, model_config  # noqa: E402


def test_forward_flops_count_every_matmul_of_mbart():
    """Against torch's own FLOP counter on the toy mBART (eager attention, whose matmuls it sees),
    with different source and target lengths."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import MBartForConditionalGeneration

    config = model_config(cpu=True)
    config._attn_implementation = "eager"
    model = MBartForConditionalGeneration(config)
    ids, labels = torch.randint(4, 1000, (3, 12)), torch.randint(4, 1000, (3, 9))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    assert counter.get_total_flops() == forward_flops(config, 3, 12, 9)


def test_the_cpu_smoke_form_runs_the_three_methods(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--cpu", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_smoke.json").read_text())
    assert [r["method"] for r in result["rows"]] == ["lora", "adapter", "full"]
    for row in result["rows"]:
        assert row["tokens_per_s"] > 0 and row["plan_bytes"] > 0 and row["loss"] == row["loss"]
    assert "| full |" in out.stdout
