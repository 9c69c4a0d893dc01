"""Plumbing shared by the methods that peft implements (LoRA, IA3, prefix and prompt tuning).

Their artefact is peft's own format (``adapter_model.safetensors`` + ``adapter_config.json``),
so ``PeftModel.from_pretrained(base, artefact_dir)`` loads a raymt result without raymt. Each
subclass builds the exact ``PeftConfig`` it applies (:meth:`PeftMethod.peft_config`) and
names, by closed formula, the tensors peft will write (:meth:`PeftMethod.adapter_shapes`);
the estimate serialises that same config the way peft does, so the JSON file is predicted to
the byte.

peft is imported inside the methods that use it, never at module level: validating a config
imports every method (to check its parameters), and importing peft drags in transformers'
modelling stack (~2-3 s on a 2-core machine). Every Tune trial driver validates its sampled
config and does nothing else with a model, so a module-level import put those seconds on every
trial's critical path.
"""

from __future__ import annotations

import abc
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from safetensors.torch import load_file
from torch import nn

from raymt.errors import ConfigError
from raymt.methods.base import ArtifactPlan, FineTuneMethod, MethodParams, unwrap_model
from raymt.methods.layout import config_dtype, require_supported

if TYPE_CHECKING:
    from peft import PeftConfig, PeftModel

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "PeftMethod", "adapter_dtype"]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
_MODEL_CARD = "README.md"


def adapter_dtype(model_config: Any) -> torch.dtype:
    """The dtype peft stores its trainable weights in.

    peft's ``autocast_adapter_dtype`` (on by default) keeps adapters of a float16/bfloat16
    base in float32 for stable training, so their artefact is float32 too.
    """
    dtype = config_dtype(model_config)
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class PeftMethod(FineTuneMethod):
    """A method whose trainable part is one peft adapter named ``default``."""

    #: The ``peft_type`` peft writes into ``adapter_config.json`` (e.g. ``"LORA"``).
    peft_type: ClassVar[str]

    @abc.abstractmethod
    def peft_config(self, model_config: Any, params: MethodParams) -> PeftConfig:
        """The complete peft config ``apply`` uses, with every field peft would otherwise
        infer from the model set explicitly (so the estimate sees the same JSON)."""

    @abc.abstractmethod
    def adapter_shapes(self, model_config: Any, params: MethodParams) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every tensor in ``adapter_model.safetensors``."""

    # -- contract ----------------------------------------------------------------------------
    def apply(self, model: nn.Module, params: Any = None) -> nn.Module:
        params = self.validate_params(params)
        require_supported(model.config)
        from peft import get_peft_model

        return get_peft_model(model, self.peft_config(model.config, params))

    def save(self, model: nn.Module, out_dir: str | os.PathLike) -> None:
        peft_model = self._peft_model(model)
        out = Path(out_dir)
        had_card = (out / _MODEL_CARD).exists()
        peft_model.save_pretrained(str(out), safe_serialization=True)
        if not had_card:
            # peft writes a model card; it is not needed to load the adapter, so not kept.
            (out / _MODEL_CARD).unlink(missing_ok=True)

    def load_state(self, model: nn.Module, artifact_dir: str | os.PathLike) -> None:
        peft_model = self._peft_model(model)
        path = self._artifact_file(artifact_dir, ADAPTER_WEIGHTS, self.name)
        device = next(p.device for p in peft_model.parameters() if p.requires_grad)
        state = load_file(str(path), device=str(device))
        self._check_keys(peft_model, state, artifact_dir)
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(peft_model, state)

    def load(self, base_model: nn.Module, artifact_dir: str | os.PathLike) -> nn.Module:
        self._artifact_file(artifact_dir, ADAPTER_WEIGHTS, self.name)
        config_path = self._artifact_file(artifact_dir, ADAPTER_CONFIG, self.name)
        peft_type = json.loads(config_path.read_text()).get("peft_type")
        if peft_type != self.peft_type:
            raise ConfigError(
                f"this artefact holds a {peft_type} adapter, not {self.name!r}",
                where=str(config_path),
                fix="load it with the method it was trained with (see the trial's `method` column)",
            )
        from peft import PeftModel

        model = PeftModel.from_pretrained(base_model, str(artifact_dir), is_trainable=False)
        model.eval()
        return model

    def artifact_plan(self, model_config: Any, params: Any = None) -> ArtifactPlan:
        params = self.validate_params(params)
        require_supported(model_config)
        return ArtifactPlan(
            weights_file=ADAPTER_WEIGHTS,
            tensors=self.adapter_shapes(model_config, params),
            dtype=adapter_dtype(model_config),
            text_files={ADAPTER_CONFIG: self._adapter_config_text(model_config, params)},
        )

    # -- helpers -----------------------------------------------------------------------------
    def _saved_peft_config(self, model_config: Any, params: MethodParams) -> PeftConfig:
        """The config as peft edits it just before writing ``adapter_config.json``."""
        config = self.peft_config(model_config, params)
        if config.base_model_name_or_path is None:
            config.base_model_name_or_path = getattr(model_config, "name_or_path", None) or None
        config.inference_mode = True
        return config

    def _adapter_config_text(self, model_config: Any, params: MethodParams) -> str:
        # Same steps as peft.config.PeftConfigMixin.save_pretrained.
        output = self._saved_peft_config(model_config, params).to_dict()
        for key, value in output.items():
            if isinstance(value, set):
                output[key] = list(value)
        return json.dumps(output, indent=2, sort_keys=True)

    def _peft_model(self, model: nn.Module) -> PeftModel:
        from peft import PeftModel

        inner = unwrap_model(model)
        if not isinstance(inner, PeftModel):
            raise TypeError(f"{self.name!r} expects the model returned by its apply() (a peft PeftModel), got {type(inner).__name__}")
        return inner

    def _check_keys(self, peft_model: PeftModel, state: dict[str, torch.Tensor], artifact_dir: Any) -> None:
        from peft import get_peft_model_state_dict

        expected = {name: tuple(t.shape) for name, t in get_peft_model_state_dict(peft_model).items()}
        found = {name: tuple(t.shape) for name, t in state.items()}
        if expected != found:
            differing = sorted(set(expected) ^ set(found)) or sorted(k for k in expected if expected[k] != found.get(k))
            raise ConfigError(
                f"the artefact's weights do not fit this model (first difference: {differing[0]!r})",
                where=str(artifact_dir),
                fix="apply the method with the params the artefact was trained with, on the same base model",
            )
