"""The memory plan's arithmetic: activation counts against what autograd really saves, and the
phases (sharding, checkpointing, precision, evaluation) moving the way they must."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "methods"))
from method_helpers import large_config, tiny_config

from raymt.methods import get_method
from raymt.plan.memory import ModelShape, TrainingSetup, activation_bytes, estimate_memory


class _Cfg:
    """The two fields method_footprint reads from a trial config."""

    def __init__(self, name, params):
        self.method = type("M", (), {"name": name, "params": get_method(name).validate_params(params)})()


def _footprint(name, params, model_config):
    from raymt.plan.build import method_footprint

    return method_footprint(_Cfg(name, params), model_config)[0]


def _saved_bytes(model, batch) -> int:
    """Bytes of every tensor autograd keeps for backward (each storage once, weights excluded)."""
    seen: dict[int, int] = {}

    def pack(x):
        storage = x.untyped_storage()
        seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        model(**batch)
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    return sum(n for ptr, n in seen.items() if ptr not in weights)


CASES = [
    ("full", {}, False),
    ("full", {}, True),
    ("lora", {"r": 8, "dropout": 0.05}, False),
    ("lora", {"r": 8, "dropout": 0.0, "target_modules": "all-linear"}, False),
    ("lora", {"r": 8}, True),
    ("adapter", {"size": 16}, False),
    ("ia3", {}, False),
]


@pytest.mark.parametrize("name,params,checkpointing", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_activation_counts_match_what_autograd_saves(name, params, checkpointing):
    """12+12 layers (as mBART-large), small widths: the formula counts the tensors torch keeps.
    With gradient checkpointing the layer being recomputed in backward is not visible here,
    so only what stays saved is compared."""
    config = tiny_config(d_model=64, encoder_layers=12, decoder_layers=12, encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=300, dropout=0.1)
    torch.manual_seed(0)
    from transformers import MBartForConditionalGeneration

    model = MBartForConditionalGeneration(config).train()
    if checkpointing:
        model.gradient_checkpointing_enable()
    model = get_method(name).apply(model, params)
    b, s, t = 4, 14, 11
    batch = {
        "input_ids": torch.randint(4, 300, (b, s)),
        "attention_mask": torch.ones(b, s, dtype=torch.long),
        "labels": torch.randint(4, 300, (b, t)),
    }
    log_softmax = b * t * 300 * 4  # counted in the logits part of the plan, not in the activations
    real = _saved_bytes(model, batch) - log_softmax
    parts = activation_bytes(
        ModelShape.from_config(config),
        _footprint(name, params, config),
        TrainingSetup(batch_size=b, src_len=s, tgt_len=t, gradient_checkpointing=checkpointing),
    )
    estimate = sum(v for k, v in parts.items() if k != "recomputed")
    assert abs(estimate / real - 1) < 0.03, (parts, real)


def _large(name="full", params=None, **setup):
    config = large_config()
    values = dict(batch_size=16, src_len=128, tgt_len=128, device="gpu", precision="bf16", world_size=2, eval_batch_size=32)
    values.update(setup)
    return ModelShape.from_config(config), _footprint(name, params or {}, config), TrainingSetup(**values)


def test_fsdp_shards_the_states_and_ddp_doubles_the_gradients():
    shape, fp, setup = _large()
    ddp = estimate_memory(shape, fp, replace(setup, strategy="ddp"))
    fsdp = estimate_memory(shape, fp, replace(setup, strategy="fsdp"))
    p = fp.total_params
    assert ddp.parts["train"]["weights"] == p * 4 and ddp.parts["train"]["ddp_buckets"] == p * 4
    assert fsdp.parts["train"]["weights"] == pytest.approx(p * 4 / 2, abs=4)
    assert fsdp.parts["train"]["adamw_states"] == pytest.approx(p * 8 / 2, abs=8)
    assert "ddp_buckets" not in fsdp.parts["train"]
    assert fsdp.phases["train"] < ddp.phases["train"]
    # FSDP gathers the whole model for generation and on rank 0 for the checkpoint
    assert fsdp.parts["evaluate"]["fsdp_gathered_model"] == p * 4
    assert fsdp.parts["checkpoint"]["gathered_state_dict"] == p * 4


def test_a_restart_restores_fsdp_shards_rank_by_rank_and_ddp_reads_the_whole_artefact():
    """After a killed worker, FSDP reads each rank's own shards (no whole artefact, no whole
    optimizer state): its restore stays below training; without FSDP the whole artefact is read
    into the whole loaded model."""
    shape, fp, setup = _large(device="cpu", precision="fp32")
    p, t = fp.total_params, fp.trainable_params
    fsdp = estimate_memory(shape, fp, replace(setup, strategy="fsdp"))
    restore = fsdp.parts["restore"]
    assert restore["weights"] == fsdp.parts["train"]["weights"] and restore["adamw_states"] == fsdp.parts["train"]["adamw_states"]
    # torch allocates the moments by a zero step: zero gradients and the step's temporaries
    assert restore["init_gradients"] == pytest.approx(t * 4 / 2, abs=4) and restore["adamw_step"] == fsdp.parts["optimizer_step"]["adamw_step"]
    assert "loaded_model" not in restore and fsdp.phases["restore"] < fsdp.phases["train"]
    ddp = estimate_memory(shape, fp, replace(setup, strategy="ddp"))
    assert ddp.parts["restore"] == {"loaded_model": p * 4, "artifact_read": t * 4}


def test_checkpointing_and_autocast_shrink_activations_not_states():
    shape, fp, setup = _large("lora", {"r": 16})
    plain = estimate_memory(shape, fp, replace(setup, precision="fp32"))
    ckpt = estimate_memory(shape, fp, replace(setup, precision="fp32", gradient_checkpointing=True))
    bf16 = estimate_memory(shape, fp, setup)
    assert ckpt.parts["train"]["activations"] < plain.parts["train"]["activations"] / 4
    assert bf16.parts["train"]["activations"] < plain.parts["train"]["activations"]
    assert ckpt.parts["train"]["weights"] == plain.parts["train"]["weights"]
    # a frozen base has no gradients or moments beyond the adapter's
    assert plain.parts["train"]["adamw_states"] == 8 * fp.trainable_params


def test_the_vocabulary_makes_logits_and_the_eval_pass_large():
    """mBART-50's 250k-entry vocabulary: three float32 copies of batch x length x vocab in
    backward, two in the evaluation loss pass, which grows with eval.batch_size."""
    shape, fp, setup = _large("lora")
    est = estimate_memory(shape, fp, setup)
    assert est.parts["train"]["logits"] == 3 * 16 * 128 * 250054 * 4
    bigger = estimate_memory(shape, fp, replace(setup, eval_batch_size=64))
    assert bigger.phases["evaluate"] > est.phases["evaluate"] + 16 * 128 * 250054 * 4


def test_cpu_ignores_autocast_and_adds_the_process_baseline():
    from raymt.plan.memory import CPU_PROCESS_BASELINE

    shape, fp, setup = _large(device="cpu")
    est = estimate_memory(shape, fp, setup)
    assert est.baseline == CPU_PROCESS_BASELINE
    assert "autocast_weight_cache" not in est.parts["train"]
    assert est.peak == CPU_PROCESS_BASELINE + max(est.phases.values())


@pytest.mark.parametrize(
    "text,expected",
    [("80GB", 80 * 2**30), ("24 GiB", 24 * 2**30), ("81920M", 80 * 2**30), ("40", 40 * 2**30), (16, 16 * 2**30), ("1.5g", int(1.5 * 2**30))],
)
def test_memory_sizes_read_as_gpu_vendors_write_them(text, expected):
    from raymt.plan.units import parse_memory

    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-3GB", "0", "80 GBs"])
def test_unreadable_memory_sizes_are_refused(bad):
    from raymt.plan.units import parse_memory

    with pytest.raises(ValueError):
        parse_memory(bad)
