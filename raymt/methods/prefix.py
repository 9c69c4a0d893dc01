"""Prefix tuning: learn key/value vectors that every attention step of the decoder attends to.

Li & Liang, 2021, ACL, "Prefix-Tuning: Optimizing Continuous Prompts for Generation". The
model stays frozen; the artefact is ``num_virtual_tokens x (2 * decoder_layers * d_model)``
values. With ``prefix_projection`` the prefix is produced by a two-layer MLP during training
(the paper's reparametrisation for stable optimisation); only its output is stored, as in the
paper, so the artefact size does not depend on the MLP.

What the current stack really does (transformers 5.24 + peft 0.21, checked in
``tests/methods/test_method_prefix.py``): peft feeds the prefix to mBART as a pre-filled
``EncoderDecoderCache``, and it reaches **only the decoder self-attention**. peft deliberately
empties the cross-attention part of that cache (``peft_model.py``: "invalidate the cross
attention cache"), and the mBART encoder takes no cache at all, so unlike the paper there is no
encoder or cross-attention prefix. Decoder positions start after the prefix (the cache length
counts it), in training and in generation alike, so targets must leave ``num_virtual_tokens``
positions free under ``max_position_embeddings``.

**Generation needs a fix that raymt installs.** peft 0.21 hands the prefix to ``generate()``
under the old keyword ``past_key_values``, while transformers 5.24's ``generate()`` passes its
own (empty) cache as ``cache``; mBART's forward then keeps ``cache`` and drops the prefix with
only a FutureWarning, so a prefix-tuned model translates exactly like its base model. Models
returned by :meth:`PrefixMethod.apply` and :meth:`PrefixMethod.load` carry a
``prepare_inputs_for_generation`` that passes the prefix as ``cache`` on the first step (the
test checks every generated step against the teacher-forced forward pass with the prefix).
Loading a prefix artefact with plain ``PeftModel.from_pretrained`` outside raymt gives the bug
back. Generation must use the KV cache (the default): with ``use_cache=False`` peft adds the
prefix to the first step only, so raymt refuses it.
"""

from __future__ import annotations

import os
import types
from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field, model_validator
from safetensors.torch import load_file
from torch import nn

from raymt.errors import ConfigError
from raymt.methods.base import MethodParams
from raymt.methods.layout import require_supported
from raymt.methods.peft_common import ADAPTER_WEIGHTS, PeftMethod
from raymt.methods.prompt import check_virtual_tokens
from raymt.methods.registry import register_method

if TYPE_CHECKING:
    from peft import PrefixTuningConfig

__all__ = ["PrefixMethod", "PrefixParams"]


class PrefixParams(MethodParams):
    """The ``method:`` block of ``name: prefix``."""

    num_virtual_tokens: int = Field(20, ge=1, le=1024, description="Length of the prefix (virtual key/value positions).")
    prefix_projection: bool = Field(
        False, description="Train the prefix through a 2-layer MLP (Li & Liang's reparametrisation); more trainable parameters, same artefact size."
    )
    encoder_hidden_size: int | None = Field(
        None, ge=1, le=65536, description="Hidden size of that MLP (prefix_projection only); defaults to d_model."
    )

    @model_validator(mode="after")
    def _check(self) -> PrefixParams:
        if self.encoder_hidden_size is not None and not self.prefix_projection:
            raise ValueError("encoder_hidden_size only applies with prefix_projection: true")
        return self


def _prepare_inputs_with_prefix(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """peft's ``prepare_inputs_for_generation``, with the prefix passed the way transformers 5
    reads it (bound to a prefix-tuned PeftModel as an instance attribute)."""
    if kwargs.get("use_cache") is False:
        raise ConfigError(
            "prefix tuning cannot generate with use_cache=False (peft 0.21 on transformers 5 applies "
            "the prefix correctly to the first generated token only)",
            where="generate(use_cache=False)",
            fix="generate with the KV cache (use_cache=True, the default)",
        )
    inputs = type(self).prepare_inputs_for_generation(self, *args, **kwargs)
    # peft adds a fresh prefix cache whenever it cannot tell the first step (it looks for
    # `past_key_values`, which transformers 5 no longer passes); only the first step, when
    # generate's own cache is still empty, may take it.
    prefix = inputs.pop("past_key_values", None)
    cache = kwargs.get("cache")
    first_step = cache is None or cache.get_seq_length() == 0
    if prefix is not None and first_step:
        inputs["cache"] = prefix
    return inputs


def _install_generation_fix(peft_model: nn.Module) -> None:
    peft_model.prepare_inputs_for_generation = types.MethodType(_prepare_inputs_with_prefix, peft_model)


class PrefixMethod(PeftMethod):
    name = "prefix"
    params_cls = PrefixParams
    paper = "Li & Liang, 2021, ACL: Prefix-Tuning: Optimizing Continuous Prompts for Generation"
    peft_type = "PREFIX_TUNING"

    def apply(self, model: nn.Module, params: Any = None) -> nn.Module:
        # The check peft makes (it would raise a bare ValueError); reading the modules' flags
        # avoids transformers' deprecated `is_gradient_checkpointing` property.
        if any(getattr(module, "gradient_checkpointing", False) for module in model.modules()):
            raise ConfigError(
                "prefix tuning does not work with gradient checkpointing (peft refuses it: the prefix is a cache)",
                where="train.gradient_checkpointing",
                fix="turn gradient checkpointing off for prefix-tuning trials",
            )
        peft_model = super().apply(model, params)
        _install_generation_fix(peft_model)
        return peft_model

    def load(self, base_model: nn.Module, artifact_dir: str | os.PathLike) -> nn.Module:
        peft_model = super().load(base_model, artifact_dir)
        _install_generation_fix(peft_model)
        return peft_model

    def peft_config(self, model_config: Any, params: PrefixParams) -> PrefixTuningConfig:
        from peft import (  # lazily: see raymt.methods.peft_common
            PrefixTuningConfig,
            TaskType,
        )

        require_supported(model_config)
        check_virtual_tokens(model_config, params.num_virtual_tokens)
        return PrefixTuningConfig(
            task_type=TaskType.SEQ_2_SEQ_LM,
            num_virtual_tokens=params.num_virtual_tokens,
            # The cache peft builds is indexed by decoder layer; say so rather than let peft
            # use num_hidden_layers (= encoder_layers for mBART).
            num_layers=model_config.decoder_layers,
            token_dim=model_config.d_model,
            num_attention_heads=model_config.decoder_attention_heads,
            num_transformer_submodules=2,
            prefix_projection=params.prefix_projection,
            encoder_hidden_size=params.encoder_hidden_size or model_config.d_model,
        )

    def adapter_shapes(self, model_config: Any, params: PrefixParams) -> dict[str, tuple[int, ...]]:
        flat = 2 * model_config.decoder_layers * model_config.d_model  # (key, value) per decoder layer
        return {"prompt_embeddings": (params.num_virtual_tokens, flat)}

    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        params = self.validate_params(params)
        require_supported(model_config)
        d, flat = model_config.d_model, 2 * model_config.decoder_layers * model_config.d_model
        if not params.prefix_projection:
            return params.num_virtual_tokens * flat
        hidden = params.encoder_hidden_size or d
        return params.num_virtual_tokens * d + (d * hidden + hidden) + (hidden * flat + flat)

    def load_state(self, model: nn.Module, artifact_dir: str | os.PathLike) -> None:
        """Restore the prefix; with ``prefix_projection`` the MLP is dropped.

        The artefact holds the prefix the MLP produced, not the MLP (it is not needed at
        inference and Li & Liang discard it too), and the MLP cannot be recovered from its
        output. So a projected model is switched to training the stored prefix directly: the
        function it computes is unchanged, its trainable parameters become the prefix only.
        Build the optimizer after this call.
        """
        peft_model = self._peft_model(model)
        encoder = peft_model.prompt_encoder["default"]
        if not getattr(encoder, "prefix_projection", False):
            return super().load_state(model, artifact_dir)
        path = self._artifact_file(artifact_dir, ADAPTER_WEIGHTS, self.name)
        old = encoder.embedding.weight
        state = load_file(str(path), device=str(old.device))
        self._check_keys(peft_model, state, artifact_dir)
        prefix = state["prompt_embeddings"]
        encoder.prefix_projection = False
        del encoder.transform
        encoder.embedding = nn.Embedding(*prefix.shape, device=old.device, dtype=old.dtype)
        with torch.no_grad():
            encoder.embedding.weight.copy_(prefix)


register_method(PrefixMethod)
