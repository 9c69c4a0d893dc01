"""Storage estimates and trainable counts beyond the default params of the contract test.

* non-default params and a bfloat16 base: the estimate still matches the bytes written;
* mBART-large-50 dimensions, on the meta device (nothing allocated): the closed formulas match
  the parameters a real application creates and the tensors it would save, so the estimate a
  user sees before a large run is right too.
"""

from __future__ import annotations

import copy

import pytest
import torch
from peft import PeftModel, get_peft_model_state_dict
from transformers import MBartForConditionalGeneration

from method_helpers import large_config, make_base, tiny_config
from raymt.methods import available_methods, get_method
from raymt.methods.adapter import AdapterMethod
from raymt.metrics.storage import artifact_bytes

VARIANTS = [
    ("lora", {"r": 4, "alpha": 8, "target_modules": "all-linear"}),
    ("lora", {"r": 16, "target_modules": ["self_attn.q_proj", "encoder_attn.v_proj", "fc1"]}),
    ("adapter", {"size": 8, "activation": "gelu", "cross_attention": True}),
    ("ia3", {"target_modules": ["q_proj", "out_proj", "fc1", "fc2"], "feedforward_modules": ["fc1", "fc2"]}),
    ("prefix", {"num_virtual_tokens": 7, "prefix_projection": True, "encoder_hidden_size": 48}),
    ("prompt", {"num_virtual_tokens": 3, "init": "vocab"}),
]


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_estimate_and_count_hold_for_non_default_params(tmp_path, name, params):
    method, config = get_method(name), tiny_config()
    estimate = method.estimate_bytes(copy.deepcopy(config), params)
    model = method.apply(make_base(config), params)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == method.count_trainable(config, params)
    method.save(model, tmp_path)
    real = artifact_bytes(tmp_path)
    assert abs(estimate - real) <= 0.02 * real, (estimate, real)


@pytest.mark.parametrize("name", available_methods())
def test_estimate_follows_a_bfloat16_base(tmp_path, name):
    # The full model is stored in bfloat16 (half the bytes); peft and raymt adapters of a
    # half-precision base are kept in float32, and the estimate says so.
    method = get_method(name)
    config = tiny_config(dtype="bfloat16")
    estimate = method.estimate_bytes(copy.deepcopy(config), None)
    model = method.apply(make_base(config).to(torch.bfloat16), None)
    method.save(model, tmp_path)
    real = artifact_bytes(tmp_path)
    assert abs(estimate - real) <= 0.02 * real, (estimate, real)
    plan = method.artifact_plan(config)
    assert plan.dtype == (torch.bfloat16 if name == "full" else torch.float32)


def _meta_saved_shapes(name, model) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors the method would save, read off a meta-device model."""
    if name == "adapter":
        return {k: tuple(v.shape) for k, v in AdapterMethod._adapter_state(model).items()}
    assert isinstance(model, PeftModel)
    config = model.peft_config["default"]
    if config.is_prompt_learning:  # what get_prompt_embedding_to_save computes (minus .cpu())
        tokens = model.prompt_tokens["default"][: config.num_virtual_tokens].unsqueeze(0)
        return {"prompt_embeddings": tuple(model.prompt_encoder["default"](tokens).shape[1:])}
    return {k: tuple(v.shape) for k, v in get_peft_model_state_dict(model).items()}


@pytest.mark.parametrize("name", available_methods())
def test_mbart_large_counts_and_layout_match_a_meta_model(name):
    method, config = get_method(name), large_config()
    with torch.device("meta"):
        model = method.apply(MBartForConditionalGeneration(config), None)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == method.count_trainable(config)
    plan = method.artifact_plan(config)
    if name != "full":  # the full layout is checked against a meta model in test_method_layout.py
        assert dict(plan.tensors) == _meta_saved_shapes(name, model)
    # Headers and JSON are counted, and are small next to the weights at this scale.
    weights = 4 * plan.num_saved()
    assert weights < method.estimate_bytes(config) <= 1.02 * weights


def test_mbart_large_reference_figures():
    config = large_config()
    full = get_method("full").estimate_bytes(config)
    lora = get_method("lora").estimate_bytes(config, {"r": 8})
    assert 2.444e9 < full < 2.446e9  # 610.9M float32 parameters + final_logits_bias
    assert get_method("lora").count_trainable(config, {"r": 8}) == 1_179_648  # 36 attention blocks x 2 x 8 x 2048
    assert 4.71e6 < lora < 4.76e6
