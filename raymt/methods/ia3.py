"""(IA)^3: learn one scaling vector per adapted layer and multiply activations by it.

Liu et al., 2022, NeurIPS, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper
than In-Context Learning". The paper rescales attention keys and values and the inner
feed-forward activations; for mBART that is ``k_proj`` and ``v_proj`` (outputs scaled, one
value per model dimension; this covers the decoder's cross-attention too) and ``fc2`` (its
*input* scaled, one value per feed-forward dimension). The result is the smallest artefact of
the registry that still touches every layer, a useful anchor at the low end of the storage
axis. Vectors start at 1, so the applied model is the base model until it trains.

Implemented by peft (``IA3Config``); peft has no IA3 defaults for mBART, so both module
lists are passed explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from raymt.methods.base import MethodParams
from raymt.methods.layout import check_module_names, linear_input, match_linears
from raymt.methods.peft_common import PeftMethod
from raymt.methods.registry import register_method

if TYPE_CHECKING:
    from peft import IA3Config

__all__ = ["IA3Method", "IA3Params"]


class IA3Params(MethodParams):
    """The ``method:`` block of ``name: ia3``."""

    target_modules: list[str] = Field(
        default_factory=lambda: ["k_proj", "v_proj", "fc2"],
        description="Linear layers to rescale (leaf or qualified names, as for LoRA).",
    )
    feedforward_modules: list[str] = Field(
        default_factory=lambda: ["fc2"],
        description="Those of target_modules whose input (not output) is rescaled: the "
        "feed-forward output projections. Must be a subset of target_modules.",
    )

    @model_validator(mode="after")
    def _check(self) -> IA3Params:
        check_module_names(self.target_modules)
        if self.feedforward_modules:
            check_module_names(self.feedforward_modules, "feedforward_modules")
        extra = sorted(set(self.feedforward_modules) - set(self.target_modules))
        if extra:
            raise ValueError(f"feedforward_modules {extra} are not in target_modules")
        return self


class IA3Method(PeftMethod):
    name = "ia3"
    params_cls = IA3Params
    paper = "Liu et al., 2022, NeurIPS: Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning"
    peft_type = "IA3"

    def peft_config(self, model_config: Any, params: IA3Params) -> IA3Config:
        from peft import IA3Config, TaskType  # lazily: see raymt.methods.peft_common

        match_linears(model_config, params.target_modules)  # typos -> ConfigError
        return IA3Config(
            task_type=TaskType.SEQ_2_SEQ_LM,
            target_modules=list(params.target_modules),
            feedforward_modules=list(params.feedforward_modules),
        )

    def _vectors(self, model_config: Any, params: IA3Params) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for lin in match_linears(model_config, params.target_modules):
            feedforward = any(lin.path == ff or lin.path.endswith("." + ff) for ff in params.feedforward_modules)
            # peft's shapes: (1, in) scales the input, (out, 1) the output.
            shape = (1, lin.in_features) if feedforward else (lin.out_features, 1)
            shapes[f"base_model.model.{lin.path}.ia3_l"] = shape
        return shapes

    def adapter_shapes(self, model_config: Any, params: IA3Params) -> dict[str, tuple[int, ...]]:
        return self._vectors(model_config, params)

    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        params = self.validate_params(params)
        return sum(a * b for a, b in self._vectors(model_config, params).values())

    def activation_sites(self, model_config: Any, params: Any = None) -> tuple:
        """Per rescaled linear: the tensor the scaling vector multiplies, kept for its
        gradient (the linear's output, or its input for a feed-forward module)."""
        from raymt.plan.memory import InjectedSite

        params = self.validate_params(params)
        sites = []
        for lin in match_linears(model_config, params.target_modules):
            feedforward = any(lin.path == ff or lin.path.endswith("." + ff) for ff in params.feedforward_modules)
            sites.append(InjectedSite(linear_input(lin.path)[1], lin.in_features if feedforward else lin.out_features))
        return tuple(sites)


register_method(IA3Method)
