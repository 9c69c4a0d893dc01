"""The closed-form mBART layout agrees with real models (tiny on CPU, large on the meta device).

Every count and storage estimate of the methods is built on this layout; if a transformers
release renames or reshapes a weight, these tests fail before any estimate drifts.
"""

from __future__ import annotations

import json
import struct

import pytest
import torch
from torch import nn
from transformers import BartConfig, MBartForConditionalGeneration

from method_helpers import large_config, make_base, tiny_config
from raymt.errors import ConfigError
from raymt.methods.layout import (
    ALL_LINEAR,
    config_dtype,
    full_param_count,
    full_state_shapes,
    layer_linears,
    match_linears,
)


def _header(path) -> dict:
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    header.pop("__metadata__", None)
    return {name: tuple(info["shape"]) for name, info in header.items()}


@pytest.mark.parametrize("tied", [True, False])
def test_full_state_shapes_are_what_save_pretrained_writes(tmp_path, tied):
    config = tiny_config(tie_word_embeddings=tied)
    make_base(config).save_pretrained(tmp_path)
    assert full_state_shapes(config) == _header(tmp_path / "model.safetensors")


def test_layer_linears_are_the_models_linear_layers():
    config = tiny_config(encoder_layers=3, decoder_layers=1, encoder_ffn_dim=96, decoder_ffn_dim=80)
    model = make_base(config)
    real = {
        name: (module.in_features, module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and ".layers." in name
    }
    assert {lin.path: (lin.in_features, lin.out_features) for lin in layer_linears(config)} == real


def test_large_model_layout_matches_a_meta_device_model():
    config = large_config()
    with torch.device("meta"):
        model = MBartForConditionalGeneration(config)
    shared = model.model.shared.weight
    saved = {
        name: tuple(tensor.shape)
        for name, tensor in model.state_dict(keep_vars=True).items()
        if name == "model.shared.weight" or tensor is not shared
    }
    assert full_state_shapes(config) == saved
    assert full_param_count(config) == sum(p.numel() for p in model.parameters()) == 610_879_488


def test_target_matching_follows_peft_rules():
    config = tiny_config()  # 2 encoder + 2 decoder layers

    def paths(targets):
        return [lin.path for lin in match_linears(config, targets)]

    assert len(paths(["q_proj"])) == 6  # encoder self, decoder self and cross attention
    assert len(paths(["self_attn.q_proj"])) == 4
    assert paths(["encoder_attn.v_proj"]) == [
        "model.decoder.layers.0.encoder_attn.v_proj",
        "model.decoder.layers.1.encoder_attn.v_proj",
    ]
    assert paths(["model.encoder.layers.1.fc1"]) == ["model.encoder.layers.1.fc1"]
    assert len(paths(ALL_LINEAR)) == 2 * 6 + 2 * 10
    assert len(paths(["q_proj", "self_attn.q_proj"])) == 6  # overlaps count once


def test_a_target_matching_nothing_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError) as err:
        match_linears(tiny_config(), ["q_prj"])
    assert "did you mean 'q_proj'" in str(err.value)


def test_other_architectures_are_refused_clearly():
    with pytest.raises(ConfigError, match="not supported"):
        layer_linears(BartConfig())


def test_storage_dtype_comes_from_the_config():
    assert config_dtype(tiny_config()) == torch.float32
    assert config_dtype(tiny_config(dtype="bfloat16")) == torch.bfloat16
    assert config_dtype(tiny_config(dtype=torch.float16)) == torch.float16
