"""LoRA: train a low-rank update ``W + (alpha / r) * B @ A`` beside frozen linear layers.

Hu et al., 2022, ICLR, "LoRA: Low-Rank Adaptation of Large Language Models". The artefact
holds only A and B (``r * (in + out)`` values per adapted layer), which is why LoRA sits far
to the left of the storage axis: on the tiny mBART (d_model 128, 2+2 layers) r=8 on q/v is
24.6k parameters, 0.10 MB, against 2.8 MB for the full model.

Implemented by peft. peft has no default target modules for mBART (it has them for BART), so
the targets are always passed explicitly; the default, q and v projections, is the paper's
choice and adapts the encoder-decoder cross-attention as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from raymt.methods.base import MethodParams
from raymt.methods.layout import ALL_LINEAR, ATTENTION_OUTPUT, check_module_names, linear_input, match_linears
from raymt.methods.peft_common import PeftMethod
from raymt.methods.registry import register_method

if TYPE_CHECKING:
    from peft import LoraConfig

__all__ = ["LoraMethod", "LoraParams"]


class LoraParams(MethodParams):
    """The ``method:`` block of ``name: lora``."""

    r: int = Field(8, ge=1, le=4096, description="Rank of the update; storage grows linearly with it.")
    alpha: float = Field(16.0, gt=0, description="Scale numerator: the update is multiplied by alpha / r.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA branch input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="Linear layers to adapt: leaf names (q_proj, k_proj, v_proj, out_proj, fc1, fc2), "
        "optionally qualified (self_attn.q_proj, encoder_attn.v_proj), or 'all-linear'.",
    )

    @field_validator("target_modules")
    @classmethod
    def _check_targets(cls, value: list[str] | str) -> list[str] | str:
        if not isinstance(value, str):
            check_module_names(value)
        return value


class LoraMethod(PeftMethod):
    name = "lora"
    params_cls = LoraParams
    paper = "Hu et al., 2022, ICLR: LoRA: Low-Rank Adaptation of Large Language Models"
    peft_type = "LORA"

    def peft_config(self, model_config: Any, params: LoraParams) -> LoraConfig:
        from peft import LoraConfig, TaskType  # lazily: see raymt.methods.peft_common

        targets = params.target_modules
        if targets == ALL_LINEAR:
            # What peft itself turns "all-linear" into (every linear but the output head).
            targets = sorted({lin.leaf for lin in match_linears(model_config, ALL_LINEAR)})
        else:
            match_linears(model_config, targets)  # a target matching nothing is a ConfigError
        return LoraConfig(
            task_type=TaskType.SEQ_2_SEQ_LM,
            r=params.r,
            lora_alpha=params.alpha,
            lora_dropout=params.dropout,
            target_modules=list(targets),
            bias="none",
        )

    def adapter_shapes(self, model_config: Any, params: LoraParams) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for lin in match_linears(model_config, params.target_modules):
            shapes[f"base_model.model.{lin.path}.lora_A.weight"] = (params.r, lin.in_features)
            shapes[f"base_model.model.{lin.path}.lora_B.weight"] = (lin.out_features, params.r)
        return shapes

    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        params = self.validate_params(params)
        return sum(params.r * (lin.in_features + lin.out_features) for lin in match_linears(model_config, params.target_modules))

    def activation_sites(self, model_config: Any, params: Any = None) -> tuple:
        """Per adapted linear: the branch input ``dropout(x)`` kept for ``A``'s gradient (with
        its dropout mask), and ``A x`` (r values) kept for ``B``'s. Without dropout the branch
        reads ``x`` itself, which the q/k/v of one attention share (kept once) and which for
        ``out_proj`` is the attention output the base keeps anyway."""
        from raymt.plan.memory import InjectedSite

        params = self.validate_params(params)
        sites, seen = [], set()
        for lin in match_linears(model_config, params.target_modules):
            tensor, side = linear_input(lin.path)
            if params.dropout > 0:
                sites.append(InjectedSite(side, lin.in_features + params.r, masks=lin.in_features))
            else:
                kept = tensor in seen or tensor.endswith(ATTENTION_OUTPUT)
                sites.append(InjectedSite(side, params.r + (0 if kept else lin.in_features)))
                seen.add(tensor)
        return tuple(sites)


register_method(LoraMethod)
