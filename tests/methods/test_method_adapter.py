"""Houlsby bottleneck adapters: placement, identity start, the closed formula, and robustness
of the hook design (deepcopy, reloading, mismatched artefacts)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from method_helpers import logits, make_base, make_batch, tiny_config, train_steps
from raymt.errors import ConfigError
from raymt.methods import get_method
from raymt.methods.adapter import ADAPTER_ATTR, BottleneckAdapter


def _adapter_sites(model) -> list[str]:
    return sorted(name.removesuffix(f".{ADAPTER_ATTR}") for name, m in model.named_modules() if isinstance(m, BottleneckAdapter))


def test_adapters_follow_self_attention_and_feed_forward_of_every_layer():
    model = get_method("adapter").apply(make_base(), {"size": 4})
    sites = _adapter_sites(model)
    assert sites == sorted(
        [f"model.{side}.layers.{i}.{block}" for side in ("encoder", "decoder") for i in range(2) for block in ("self_attn", "fc2")]
    )
    with_cross = get_method("adapter").apply(make_base(), {"size": 4, "cross_attention": True})
    assert set(_adapter_sites(with_cross)) - set(sites) == {
        "model.decoder.layers.0.encoder_attn",
        "model.decoder.layers.1.encoder_attn",
    }


def test_applied_model_starts_as_the_base_model():
    batch = make_batch()
    reference = logits(make_base(), batch)
    adapted = get_method("adapter").apply(make_base(), {"size": 8})
    torch.testing.assert_close(logits(adapted, batch), reference)


def test_count_on_the_default_tiny_model_matches_the_formula():
    # d_model 128, 2+2 layers, size 16: 8 adapters x (2*128*16 + 16 + 3*128) = 35,968.
    config = tiny_config(d_model=128, encoder_ffn_dim=256, decoder_ffn_dim=256)
    method = get_method("adapter")
    model = method.apply(make_base(config), {"size": 16})
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 35_968
    assert method.count_trainable(config, {"size": 16}) == 35_968
    assert method.count_trainable(config, {"size": 16, "cross_attention": True}) == 35_968 + 2 * 4_496


def test_a_deep_copy_owns_and_uses_its_own_adapters():
    batch = make_batch()
    model = get_method("adapter").apply(make_base(), {"size": 8})
    train_steps(model, batch, steps=2)
    clone = copy.deepcopy(model)
    torch.testing.assert_close(logits(clone, batch), logits(model, batch))
    before = logits(model, batch)
    with torch.no_grad():
        clone.model.encoder.layers[0].fc2.raymt_adapter.up.bias.add_(1.0)
    torch.testing.assert_close(logits(model, batch), before)  # the original is untouched
    assert not torch.allclose(logits(clone, batch), before)  # the clone runs its own adapter


def test_applying_twice_is_refused():
    model = get_method("adapter").apply(make_base(), None)
    with pytest.raises(ConfigError, match="already has adapters"):
        get_method("adapter").apply(model, None)


def test_artefact_of_other_params_is_refused_by_load_state(tmp_path):
    method = get_method("adapter")
    method.save(method.apply(make_base(), {"size": 8}), tmp_path)
    other = method.apply(make_base(), {"size": 16})
    with pytest.raises(ConfigError, match="do not fit"):
        method.load_state(other, tmp_path)


def test_load_refuses_an_artefact_of_another_method(tmp_path):
    lora = get_method("lora")
    lora.save(lora.apply(make_base(), None), tmp_path)
    with pytest.raises(ConfigError, match="raymt_adapter_config.json"):
        get_method("adapter").load(make_base(), tmp_path)
    (tmp_path / "raymt_adapter_config.json").write_text(json.dumps({"method": "lora", "params": {}}))
    with pytest.raises(ConfigError, match="unreadable adapter config"):
        get_method("adapter").load(make_base(), tmp_path)


def test_config_records_the_params_needed_to_rebuild(tmp_path):
    method = get_method("adapter")
    method.save(method.apply(make_base(), {"size": 8, "activation": "tanh"}), tmp_path)
    saved = json.loads((tmp_path / "raymt_adapter_config.json").read_text())
    assert saved["method"] == "adapter"
    assert saved["params"] == {"size": 8, "activation": "tanh", "cross_attention": False}
