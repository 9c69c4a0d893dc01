"""Bottleneck adapters: small residual MLPs inserted after sub-blocks of a frozen model.

Houlsby et al., 2019, ICML, "Parameter-Efficient Transfer Learning for NLP". Each adapter is
``h + W_up(act(W_down(LayerNorm(h))))`` with a bottleneck of ``size`` units, applied to the
output of a sub-block before the layer adds its residual, as in the paper. Placement, as in the
paper (two per layer): after the self-attention and after the feed-forward block of every
encoder and decoder layer. The paper's model had no cross-attention; an adapter after the
decoder's cross-attention is optional (``cross_attention: true``), off by default so the
default matches the paper's placement. The up-projection starts at zero, so the applied model
is exactly the base model until the first update (the paper's near-identity initialisation,
made exact); the down-projection keeps ``nn.Linear``'s default initialisation so the first
gradients of the up-projection are not zero.

Trainable (and stored) values per adapter: ``2 * d_model * size + size + 3 * d_model``; with
``E`` encoder and ``D`` decoder layers there are ``2 * (E + D)`` adapters (+ ``D`` with
cross-attention). On the tiny mBART (d_model 128, 2+2 layers) ``size=16`` gives 35,968.

Why our own module: peft 0.21 has no bottleneck tuner, and AdapterHub's ``adapters`` package
pins an older transformers. The adapters are registered as children of the sub-block they
follow (``...self_attn.raymt_adapter``, ``...fc2.raymt_adapter``) and run from a forward hook
on that sub-block; the hook is a module-level function that finds the adapter on the module
itself, so ``deepcopy``, DDP (the parameters are ordinary submodules used in every forward)
and ``generate()`` with a KV cache (adapters are position-wise) all work unchanged, and the
base model's parameter names stay those of ``from_pretrained``.

Artefact: ``adapter_model.safetensors`` (the adapter weights, named as in the model) and
``raymt_adapter_config.json`` (the params, to rebuild the adapters on a fresh base model).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from safetensors.torch import load_file, save
from torch import nn

import raymt
from raymt.errors import ConfigError
from raymt.io import atomic_write_bytes, atomic_write_text
from raymt.methods.base import ArtifactPlan, FineTuneMethod, MethodParams, config_json_text, unwrap_model
from raymt.methods.layout import config_dtype, require_supported
from raymt.methods.registry import register_method

__all__ = ["ADAPTER_ATTR", "AdapterMethod", "AdapterParams", "BottleneckAdapter"]

WEIGHTS = "adapter_model.safetensors"
CONFIG = "raymt_adapter_config.json"
#: Attribute under which an adapter hangs on the sub-block it follows.
ADAPTER_ATTR = "raymt_adapter"

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


class AdapterParams(MethodParams):
    """The ``method:`` block of ``name: adapter``."""

    size: int = Field(16, ge=1, le=16384, description="Bottleneck width; storage grows linearly with it.")
    activation: Literal["relu", "gelu", "silu", "tanh"] = Field("relu", description="Non-linearity between the down- and up-projection.")
    cross_attention: bool = Field(False, description="Also put an adapter after each decoder cross-attention (not in Houlsby et al.).")


class BottleneckAdapter(nn.Module):
    """``h + up(act(down(LayerNorm(h))))``, exactly the identity at initialisation.

    Computes in its own dtype (float32 on a half-precision base, like peft's adapters) and
    returns the input's dtype.
    """

    def __init__(self, d_model: int, size: int, activation: str, *, dtype: torch.dtype, device: Any = None):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, dtype=dtype, device=device)
        self.down = nn.Linear(d_model, size, dtype=dtype, device=device)
        self.act = _ACTIVATIONS[activation]()
        self.up = nn.Linear(size, d_model, dtype=dtype, device=device)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = hidden.to(self.up.weight.dtype)
        return (x + self.up(self.act(self.down(self.norm(x))))).to(hidden.dtype)


def _adapt_attention(module: nn.Module, args: Any, output: tuple) -> tuple:
    # MBartAttention returns (attn_output, attn_weights).
    return (getattr(module, ADAPTER_ATTR)(output[0]), *output[1:])


def _adapt_output(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return getattr(module, ADAPTER_ATTR)(output)


def _sites(model_config: Any, params: AdapterParams) -> list[tuple[str, bool]]:
    """(path of the sub-block an adapter follows, whether it is an attention block)."""
    sites: list[tuple[str, bool]] = []
    for i in range(model_config.encoder_layers):
        sites += [(f"model.encoder.layers.{i}.self_attn", True), (f"model.encoder.layers.{i}.fc2", False)]
    for i in range(model_config.decoder_layers):
        sites.append((f"model.decoder.layers.{i}.self_attn", True))
        if params.cross_attention:
            sites.append((f"model.decoder.layers.{i}.encoder_attn", True))
        sites.append((f"model.decoder.layers.{i}.fc2", False))
    return sites


def _storage_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class AdapterMethod(FineTuneMethod):
    name = "adapter"
    params_cls = AdapterParams
    paper = "Houlsby et al., 2019, ICML: Parameter-Efficient Transfer Learning for NLP"

    def apply(self, model: nn.Module, params: Any = None) -> nn.Module:
        params = self.validate_params(params)
        require_supported(model.config)
        if any(name.endswith(ADAPTER_ATTR) for name, _ in model.named_modules()):
            raise ConfigError("this model already has adapters", where="method", fix="apply the adapter method to a fresh base model")
        base = next(model.parameters())
        dtype = _storage_dtype(base.dtype)
        for param in model.parameters():
            param.requires_grad_(False)
        for path, is_attention in _sites(model.config, params):
            block = model.get_submodule(path)
            adapter = BottleneckAdapter(model.config.d_model, params.size, params.activation, dtype=dtype, device=base.device)
            block.add_module(ADAPTER_ATTR, adapter)
            block.register_forward_hook(_adapt_attention if is_attention else _adapt_output)
        model.raymt_adapter_params = params
        return model

    def save(self, model: nn.Module, out_dir: str | os.PathLike) -> None:
        inner = unwrap_model(model)
        params = getattr(inner, "raymt_adapter_params", None)
        if params is None:
            raise TypeError("'adapter' expects the model returned by its apply()")
        tensors = {}
        for name, tensor in self._adapter_state(inner).items():
            if hasattr(tensor, "full_tensor"):  # DTensor under FSDP2
                tensor = tensor.full_tensor()
            tensors[name] = tensor.detach().to("cpu").contiguous()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / WEIGHTS, save(tensors, metadata={"format": "pt"}))
        atomic_write_text(out / CONFIG, self._config_text(inner.config, params))

    def load_state(self, model: nn.Module, artifact_dir: str | os.PathLike) -> None:
        inner = unwrap_model(model)
        own = self._adapter_state(inner)
        if not own:
            raise TypeError("'adapter' expects the model returned by its apply()")
        path = self._artifact_file(artifact_dir, WEIGHTS, self.name)
        state = load_file(str(path), device=str(next(iter(own.values())).device))
        expected = {k: tuple(v.shape) for k, v in own.items()}
        found = {k: tuple(v.shape) for k, v in state.items()}
        if expected != found:
            differing = sorted(set(expected) ^ set(found)) or sorted(k for k in expected if expected[k] != found[k])
            raise ConfigError(
                f"the artefact's adapters do not fit this model (first difference: {differing[0]!r})",
                where=str(artifact_dir),
                fix="apply 'adapter' with the params in raymt_adapter_config.json, on the same base model",
            )
        inner.load_state_dict(state, strict=False)

    def load(self, base_model: nn.Module, artifact_dir: str | os.PathLike) -> nn.Module:
        config_path = self._artifact_file(artifact_dir, CONFIG, self.name)
        try:
            saved = json.loads(config_path.read_text())
            if saved.get("method") != self.name:
                raise ValueError(f"it describes method {saved.get('method')!r}")
            params = self.params_cls.model_validate(saved["params"])
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f"unreadable adapter config ({err})",
                where=str(config_path),
                fix="point to a directory written by the 'adapter' method's save()",
            ) from None
        model = self.apply(base_model, params)
        self.load_state(model, artifact_dir)
        model.eval()
        return model

    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        params = self.validate_params(params)
        require_supported(model_config)
        return len(_sites(model_config, params)) * self._per_adapter(model_config.d_model, params.size)

    def activation_sites(self, model_config: Any, params: Any = None) -> tuple:
        """Per adapter: its norm's input and statistics, the norm's output (the down
        projection's input) and the activation's output (the up projection's input)."""
        from raymt.plan.memory import InjectedSite

        params = self.validate_params(params)
        d = model_config.d_model
        return tuple(
            InjectedSite("src" if path.startswith("model.encoder.") else "tgt", 2 * d + params.size + 2) for path, _ in _sites(model_config, params)
        )

    def artifact_plan(self, model_config: Any, params: Any = None) -> ArtifactPlan:
        params = self.validate_params(params)
        require_supported(model_config)
        d, s = model_config.d_model, params.size
        shapes = {}
        for path, _ in _sites(model_config, params):
            prefix = f"{path}.{ADAPTER_ATTR}"
            shapes.update(
                {
                    f"{prefix}.norm.weight": (d,),
                    f"{prefix}.norm.bias": (d,),
                    f"{prefix}.down.weight": (s, d),
                    f"{prefix}.down.bias": (s,),
                    f"{prefix}.up.weight": (d, s),
                    f"{prefix}.up.bias": (d,),
                }
            )
        return ArtifactPlan(
            weights_file=WEIGHTS,
            tensors=shapes,
            dtype=_storage_dtype(config_dtype(model_config)),
            text_files={CONFIG: self._config_text(model_config, params)},
        )

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _per_adapter(d_model: int, size: int) -> int:
        return 2 * d_model * size + size + 3 * d_model  # down + up + LayerNorm, with biases

    @staticmethod
    def _adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
        marker = f".{ADAPTER_ATTR}."
        return {k: v for k, v in model.state_dict().items() if marker in k}

    def _config_text(self, model_config: Any, params: AdapterParams) -> str:
        return config_json_text(
            {
                "method": self.name,
                "params": params.model_dump(mode="json"),
                "base_model_name_or_path": getattr(model_config, "name_or_path", None) or None,
                "raymt_version": raymt.__version__,
            }
        )


register_method(AdapterMethod)
