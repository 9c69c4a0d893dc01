"""LoRA through peft: the artefact is peft's own, the targets are checked, the figures hold."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel

from method_helpers import logits, make_base, make_batch, tiny_config, train_steps
from raymt.errors import ConfigError
from raymt.methods import get_method


def test_reference_figures_on_the_default_tiny_model():
    # The offline tiny base: d_model 128, 2+2 layers. r=8 on q/v adapts 6 attention blocks.
    config = tiny_config(d_model=128, encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=1053)
    lora = get_method("lora")
    assert lora.count_trainable(config, {"r": 8}) == 24_576
    assert 0.098e6 < lora.estimate_bytes(config, {"r": 8}) < 0.105e6


def test_artefact_loads_with_plain_peft_and_has_no_model_card(tmp_path):
    lora, batch = get_method("lora"), make_batch()
    model = lora.apply(make_base(), {"r": 4, "target_modules": ["q_proj", "fc1"]})
    train_steps(model, batch, steps=2)
    lora.save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved["r"] == 4 and sorted(saved["target_modules"]) == ["fc1", "q_proj"]
    plain = PeftModel.from_pretrained(make_base(), str(tmp_path))  # no raymt involved
    torch.testing.assert_close(logits(plain, batch), logits(model, batch))


def test_all_linear_adapts_every_layer_linear_but_not_the_head():
    model = get_method("lora").apply(make_base(), {"r": 2, "target_modules": "all-linear"})
    adapted = {name.rsplit(".lora_A", 1)[0] for name, _ in model.named_parameters() if ".lora_A." in name}
    assert len(adapted) == 2 * 6 + 2 * 10
    assert not any("lm_head" in name for name in adapted)


def test_a_misspelt_target_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError) as err:
        get_method("lora").apply(make_base(), {"target_modules": ["q_proj", "vproj"]})
    assert err.value.where == "method.target_modules"
    assert "did you mean 'v_proj'" in str(err.value)


@pytest.mark.parametrize("targets", [[], ["q_proj", "q_proj"], ["q proj"], "all_linear"])
def test_malformed_target_lists_are_refused(targets):
    with pytest.raises(ConfigError):
        get_method("lora").validate_params({"target_modules": targets})


def test_loading_an_artefact_with_the_wrong_method_is_refused(tmp_path):
    lora = get_method("lora")
    lora.save(lora.apply(make_base(), None), tmp_path)
    with pytest.raises(ConfigError, match="LORA adapter, not 'prefix'"):
        get_method("prefix").load(make_base(), tmp_path)


def test_load_state_refuses_an_artefact_of_another_rank(tmp_path):
    lora = get_method("lora")
    lora.save(lora.apply(make_base(), {"r": 4}), tmp_path)
    with pytest.raises(ConfigError, match="do not fit"):
        lora.load_state(lora.apply(make_base(), {"r": 8}), tmp_path)
