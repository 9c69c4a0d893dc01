"""Full fine-tuning: every weight trains and the whole model is the artefact.

The reference point of every parameter-efficient method (e.g. Liu et al., 2020, TACL, who
fine-tune all of mBART for translation): usually the best BLEU and always the largest
storage, 2.8 MB on the tiny mBART and 2.44 GB (float32) for mBART-large-50. It anchors the
right end of the Pareto front.

The artefact is ``save_pretrained``'s own (``model.safetensors``, ``config.json``,
``generation_config.json``), so ``MBartForConditionalGeneration.from_pretrained(dir)`` opens it
without raymt. mBART ties the encoder/decoder token embeddings and the LM head to
``model.shared``: they are stored once; the ``final_logits_bias`` buffer is stored too.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from safetensors.torch import load_file
from torch import nn
from transformers import GenerationConfig

from raymt.errors import ConfigError
from raymt.methods.base import ArtifactPlan, FineTuneMethod, MethodParams, unwrap_model
from raymt.methods.layout import config_dtype, full_param_count, full_state_shapes, require_supported
from raymt.methods.registry import register_method

__all__ = ["FullMethod", "FullParams"]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
GENERATION_CONFIG = "generation_config.json"


class FullParams(MethodParams):
    """The ``method:`` block of ``name: full``: nothing to choose."""


class FullMethod(FineTuneMethod):
    name = "full"
    params_cls = FullParams
    paper = "Liu et al., 2020, TACL: Multilingual Denoising Pre-training for Neural Machine Translation (mBART; full fine-tuning baseline)"

    def apply(self, model: nn.Module, params: Any = None) -> nn.Module:
        self.validate_params(params)
        require_supported(model.config)
        for param in model.parameters():
            param.requires_grad_(True)
        return model

    def save(self, model: nn.Module, out_dir: str | os.PathLike) -> None:
        unwrap_model(model).save_pretrained(str(out_dir))

    def load_state(self, model: nn.Module, artifact_dir: str | os.PathLike) -> None:
        inner = unwrap_model(model)
        path = self._artifact_file(artifact_dir, WEIGHTS, self.name)
        device = next(inner.parameters()).device
        state = load_file(str(path), device=str(device))
        own = inner.state_dict()
        wrong = [k for k, v in state.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
        if wrong:
            raise ConfigError(
                f"the artefact's weights do not fit this model (first difference: {wrong[0]!r})",
                where=str(artifact_dir),
                fix="load it into the same architecture it was trained from (same config)",
            )
        result = inner.load_state_dict(state, strict=False)
        # Keys missing from the file must be tied copies of a stored tensor (embed_tokens,
        # lm_head -> model.shared), which loading the stored one already updated.
        stored = {id(p) for name, p in inner.named_parameters(remove_duplicate=False) if name in state}
        params = dict(inner.named_parameters(remove_duplicate=False))
        untied = [k for k in result.missing_keys if k not in params or id(params[k]) not in stored]
        if untied:
            raise ConfigError(
                f"the artefact has no value for {untied[0]!r}",
                where=str(artifact_dir),
                fix="re-save the model with this method's save() (a partial checkpoint cannot be restored)",
            )

    def load(self, base_model: nn.Module, artifact_dir: str | os.PathLike) -> nn.Module:
        self.load_state(base_model, artifact_dir)
        base_model.eval()
        return base_model

    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        self.validate_params(params)
        return full_param_count(model_config)

    def artifact_plan(self, model_config: Any, params: Any = None) -> ArtifactPlan:
        self.validate_params(params)
        require_supported(model_config)
        dtype = config_dtype(model_config)
        # config.json as save_pretrained writes it: dtype and architectures filled in.
        config = copy.deepcopy(model_config)
        config.dtype = str(dtype).removeprefix("torch.")
        config.architectures = ["MBartForConditionalGeneration"]
        generation = GenerationConfig.from_model_config(model_config)
        return ArtifactPlan(
            weights_file=WEIGHTS,
            tensors=full_state_shapes(model_config),
            dtype=dtype,
            text_files={
                CONFIG: config.to_json_string(use_diff=True),
                GENERATION_CONFIG: generation.to_json_string(use_diff=True),
            },
        )


register_method(FullMethod)
