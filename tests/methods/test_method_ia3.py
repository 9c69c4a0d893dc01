"""(IA)^3 through peft: which activations are rescaled, the formula, and the identity start."""

from __future__ import annotations

import pytest
import torch

from method_helpers import logits, make_base, make_batch, tiny_config
from raymt.errors import ConfigError
from raymt.methods import get_method


def test_default_rescales_keys_values_and_feed_forward_inputs():
    # 6 attention blocks x (k, v) x d_model 64 + 4 fc2 inputs x ffn 128 = 768 + 512.
    ia3 = get_method("ia3")
    assert ia3.count_trainable(tiny_config()) == 1_280
    shapes = ia3.artifact_plan(tiny_config()).tensors
    assert shapes["base_model.model.model.decoder.layers.0.encoder_attn.k_proj.ia3_l"] == (64, 1)
    assert shapes["base_model.model.model.encoder.layers.1.fc2.ia3_l"] == (1, 128)


def test_applied_model_starts_as_the_base_model():
    batch = make_batch()
    torch.testing.assert_close(logits(get_method("ia3").apply(make_base(), None), batch), logits(make_base(), batch))


def test_feedforward_modules_must_be_targets():
    with pytest.raises(ConfigError, match="not in target_modules"):
        get_method("ia3").validate_params({"target_modules": ["k_proj"], "feedforward_modules": ["fc2"]})
