"""Prompt tuning: learn a few input embeddings ("soft prompt") prepended to every source.

Lester et al., 2021, EMNLP, "The Power of Scale for Parameter-Efficient Prompt Tuning". The
whole model stays frozen; the artefact is one ``num_virtual_tokens x d_model`` matrix, the
smallest in the registry (20 tokens of a d_model-1024 mBART: 82 kB). The paper's finding that
it only matches full fine-tuning at very large scale is exactly the kind of trade-off the
search should expose on small translation models.

Implemented by peft. On mBART the prompt goes in front of the *encoder* input only (peft's
seq2seq prompt tuning), so it shifts source positions by ``num_virtual_tokens``: sources must
leave that many positions free under ``max_position_embeddings``. peft would allocate a second,
unused block of prompts for the decoder of a seq2seq model; raymt asks for one block
(``num_transformer_submodules=1``), so every stored value is used.

``init``: ``random`` (peft's default), ``vocab`` (embeddings of randomly sampled vocabulary
tokens) or ``text`` (embeddings of the tokens of ``init_text``, repeated/truncated to
``num_virtual_tokens``); the paper found vocabulary-based initialisations train better than
random ones on small models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from raymt.errors import ConfigError
from raymt.methods.base import MethodParams
from raymt.methods.layout import require_supported
from raymt.methods.peft_common import PeftMethod
from raymt.methods.registry import register_method

if TYPE_CHECKING:
    from peft import PromptTuningConfig

__all__ = ["PromptMethod", "PromptParams", "check_virtual_tokens"]

_INIT = {"random": "RANDOM", "vocab": "SAMPLE_VOCAB", "text": "TEXT"}  # -> peft.PromptTuningInit members


def check_virtual_tokens(model_config: Any, num_virtual_tokens: int) -> None:
    """Virtual tokens take positions of mBART's learned position table; refuse a prompt that
    leaves no room for a sentence."""
    limit = model_config.max_position_embeddings
    if num_virtual_tokens >= limit:
        raise ConfigError(
            f"num_virtual_tokens={num_virtual_tokens} leaves no positions for the sentence (the model has max_position_embeddings={limit})",
            where="method.num_virtual_tokens",
            fix=f"use far fewer virtual tokens than {limit} (typically 10-100)",
        )


class PromptParams(MethodParams):
    """The ``method:`` block of ``name: prompt``."""

    num_virtual_tokens: int = Field(20, ge=1, le=1024, description="Length of the soft prompt.")
    init: Literal["random", "vocab", "text"] = Field(
        "random", description="How the prompt starts: random vectors, embeddings of random vocabulary tokens, or embeddings of init_text."
    )
    init_text: str | None = Field(None, min_length=1, description="Text whose token embeddings start the prompt (init: text).")
    tokenizer: str | None = Field(None, min_length=1, description="Tokenizer (path or hub name) for init_text; defaults to the base model's own.")

    @model_validator(mode="after")
    def _check(self) -> PromptParams:
        if self.init == "text" and self.init_text is None:
            raise ValueError("init: text needs init_text")
        if self.init != "text" and (self.init_text is not None or self.tokenizer is not None):
            raise ValueError("init_text and tokenizer only apply to init: text")
        return self


class PromptMethod(PeftMethod):
    name = "prompt"
    params_cls = PromptParams
    paper = "Lester et al., 2021, EMNLP: The Power of Scale for Parameter-Efficient Prompt Tuning"
    peft_type = "PROMPT_TUNING"

    def peft_config(self, model_config: Any, params: PromptParams) -> PromptTuningConfig:
        from peft import (  # lazily: see raymt.methods.peft_common
            PromptTuningConfig,
            PromptTuningInit,
            TaskType,
        )

        require_supported(model_config)
        check_virtual_tokens(model_config, params.num_virtual_tokens)
        text = params.init == "text"
        tokenizer = params.tokenizer or getattr(model_config, "name_or_path", None) or None
        if text and tokenizer is None:
            raise ConfigError(
                "init: text needs a tokenizer, and this base model was not loaded from a path",
                where="method.tokenizer",
                fix="set method.tokenizer to the directory (or hub name) of the model's tokenizer",
            )
        return PromptTuningConfig(
            task_type=TaskType.SEQ_2_SEQ_LM,
            num_virtual_tokens=params.num_virtual_tokens,
            num_transformer_submodules=1,
            token_dim=model_config.d_model,
            num_layers=model_config.encoder_layers,
            num_attention_heads=model_config.encoder_attention_heads,
            prompt_tuning_init=PromptTuningInit[_INIT[params.init]],
            prompt_tuning_init_text=params.init_text if text else None,
            tokenizer_name_or_path=tokenizer if text else None,
        )

    def adapter_shapes(self, model_config: Any, params: PromptParams) -> dict[str, tuple[int, ...]]:
        return {"prompt_embeddings": (params.num_virtual_tokens, model_config.d_model)}

    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        params = self.validate_params(params)
        require_supported(model_config)
        return params.num_virtual_tokens * model_config.d_model


register_method(PromptMethod)
