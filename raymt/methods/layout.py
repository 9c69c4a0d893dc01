"""Closed-form layout of an mBART model, read from its config alone.

Every method must say how many weights it trains and how many bytes it will write *before*
the model exists (the search ranks trials by storage, and a pre-flight check refuses trials
that would not fit). Both follow from the shapes of the model's linear layers and embeddings,
which for mBART (Liu et al., 2020, TACL, "Multilingual Denoising Pre-training for Neural
Machine Translation") are fixed by a handful of config fields. This module is the one place
that knows them; ``tests/methods/test_method_layout.py`` checks it against real (tiny) and
meta-device (mBART-large-50-sized) models, so a transformers release that renames or reshapes
a weight breaks a test instead of silently skewing the storage objective.

Paths are relative to ``MBartForConditionalGeneration`` (e.g.
``model.encoder.layers.0.self_attn.q_proj``), the names peft and ``state_dict()`` use.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from raymt.errors import ConfigError

__all__ = [
    "ALL_LINEAR",
    "LINEAR_NAMES",
    "SUPPORTED_MODEL_TYPES",
    "LinearSpec",
    "check_module_names",
    "config_dtype",
    "full_param_count",
    "full_state_shapes",
    "layer_linears",
    "linear_input",
    "match_linears",
    "require_supported",
]

#: Model types whose layout this module knows (``PretrainedConfig.model_type``).
SUPPORTED_MODEL_TYPES = ("mbart",)
#: The leaf names of the linear layers inside an encoder or decoder layer.
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
#: peft's shorthand for "every linear layer except the output head".
ALL_LINEAR = "all-linear"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


def check_module_names(names: Sequence[str], field: str = "target_modules") -> None:
    """Reject empty, duplicated or malformed module names (a pydantic validator helper:
    raises ValueError, which the params model reports as a ConfigError on ``field``)."""
    if not names:
        raise ValueError(f"{field} must not be empty")
    for name in names:
        if not _MODULE_NAME.match(name):
            raise ValueError(f"malformed module name {name!r} in {field}")
    if len(set(names)) != len(names):
        raise ValueError(f"{field} lists a module twice")


@dataclass(frozen=True)
class LinearSpec:
    """One ``nn.Linear`` inside an encoder/decoder layer (bias always present in mBART)."""

    path: str
    in_features: int
    out_features: int

    @property
    def leaf(self) -> str:
        return self.path.rsplit(".", 1)[-1]


def require_supported(model_config: Any, where: str = "model") -> None:
    """Refuse configs whose layout is not mBART's, with a message a user can act on."""
    model_type = getattr(model_config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(
            f"model type {model_type!r} is not supported by raymt's fine-tuning methods "
            f"(their parameter counts and storage estimates are written for {', '.join(SUPPORTED_MODEL_TYPES)})",
            where=where,
            fix="use an mBART checkpoint (e.g. facebook/mbart-large-50) or the offline tiny mBART",
        )


def config_dtype(model_config: Any) -> torch.dtype:
    """The dtype weights are stored in: the config's ``dtype`` (``torch_dtype`` before
    transformers 5), float32 when unset (a model built from a config on CPU)."""
    if hasattr(model_config, "dtype"):
        dtype = model_config.dtype
    else:  # transformers < 5 (reading ``dtype`` there is fine, ``torch_dtype`` warns in 5)
        dtype = getattr(model_config, "torch_dtype", None)
    if dtype is None or dtype == "auto":
        return torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."))
    return dtype


def layer_linears(model_config: Any) -> list[LinearSpec]:
    """Every linear layer of every encoder and decoder layer, in module order."""
    require_supported(model_config)
    d = model_config.d_model
    linears: list[LinearSpec] = []

    def attention(prefix: str) -> None:
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            linears.append(LinearSpec(f"{prefix}.{proj}", d, d))

    for i in range(model_config.encoder_layers):
        prefix = f"model.encoder.layers.{i}"
        attention(f"{prefix}.self_attn")
        linears.append(LinearSpec(f"{prefix}.fc1", d, model_config.encoder_ffn_dim))
        linears.append(LinearSpec(f"{prefix}.fc2", model_config.encoder_ffn_dim, d))
    for i in range(model_config.decoder_layers):
        prefix = f"model.decoder.layers.{i}"
        attention(f"{prefix}.self_attn")
        attention(f"{prefix}.encoder_attn")
        linears.append(LinearSpec(f"{prefix}.fc1", d, model_config.decoder_ffn_dim))
        linears.append(LinearSpec(f"{prefix}.fc2", model_config.decoder_ffn_dim, d))
    return linears


def match_linears(model_config: Any, targets: Sequence[str] | str, where: str = "method.target_modules") -> list[LinearSpec]:
    """The linear layers peft selects for ``target_modules`` (same rule as peft: a module
    matches a target when its path equals it or ends with ``"." + target``; ``"all-linear"``
    selects every layer linear, never the output head). A target that matches nothing is a
    user mistake (most likely a typo), reported here rather than as peft's long ValueError."""
    linears = layer_linears(model_config)
    if targets == ALL_LINEAR:
        return linears
    selected = []
    for target in targets:
        hits = [lin for lin in linears if lin.path == target or lin.path.endswith("." + target)]
        if not hits:
            close = difflib.get_close_matches(target, LINEAR_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"target module {target!r} matches no linear layer of this model",
                where=where,
                fix=f"{hint}use names from {list(LINEAR_NAMES)} (optionally qualified, e.g. "
                f"'self_attn.q_proj', 'encoder_attn.v_proj') or {ALL_LINEAR!r}",
            )
        selected.extend(hits)
    unique = {lin.path: lin for lin in selected}
    return [lin for lin in linears if lin.path in unique]


def full_state_shapes(model_config: Any) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor ``save_pretrained`` writes for the full model.

    Tied copies of the shared embedding (encoder/decoder ``embed_tokens``, ``lm_head``) are
    written once, as ``model.shared.weight``, when ``tie_word_embeddings`` is on (mBART's
    default); ``final_logits_bias`` is a buffer but is written too.
    """
    require_supported(model_config)
    d = model_config.d_model
    vocab = model_config.vocab_size
    # MBartLearnedPositionalEmbedding keeps 2 extra rows (an offset fairseq introduced).
    positions = model_config.max_position_embeddings + 2
    shapes: dict[str, tuple[int, ...]] = {
        "final_logits_bias": (1, vocab),
        "model.shared.weight": (vocab, d),
    }
    if not getattr(model_config, "tie_word_embeddings", True):
        shapes["lm_head.weight"] = (vocab, d)
        shapes["model.encoder.embed_tokens.weight"] = (vocab, d)
        shapes["model.decoder.embed_tokens.weight"] = (vocab, d)
    for lin in layer_linears(model_config):
        shapes[f"{lin.path}.weight"] = (lin.out_features, lin.in_features)
        shapes[f"{lin.path}.bias"] = (lin.out_features,)
    norms = []
    for side, n_layers in (("encoder", model_config.encoder_layers), ("decoder", model_config.decoder_layers)):
        norms += [f"model.{side}.layernorm_embedding", f"model.{side}.layer_norm"]
        shapes[f"model.{side}.embed_positions.weight"] = (positions, d)
        for i in range(n_layers):
            layer = f"model.{side}.layers.{i}"
            norms += [f"{layer}.self_attn_layer_norm", f"{layer}.final_layer_norm"]
            if side == "decoder":
                norms.append(f"{layer}.encoder_attn_layer_norm")
    for norm in norms:
        shapes[f"{norm}.weight"] = (d,)
        shapes[f"{norm}.bias"] = (d,)
    return shapes


def full_param_count(model_config: Any) -> int:
    """Parameters of the whole model (tied weights once, the ``final_logits_bias`` buffer not)."""
    total = 0
    for name, shape in full_state_shapes(model_config).items():
        if name == "final_logits_bias":
            continue
        n = 1
        for dim in shape:
            n *= dim
        total += n
    return total


def linear_input(path: str) -> tuple[str, str]:
    """(which tensor a layer linear reads, whose tokens it holds: ``"src"`` or ``"tgt"``).

    The q/k/v projections of one attention read the same normed hidden states; every
    decoder layer's cross-attention keys and values read the same encoder output (source
    tokens); an ``out_proj`` reads the attention output, which SDPA keeps for its own backward. The memory plan (``raymt.plan``) counts a tensor that several injected modules
    keep only once.
    """
    layer, _, leaf = path.rpartition(".")
    if ".encoder_attn" in path and leaf in ("k_proj", "v_proj"):
        return "encoder_output", "src"
    side = "src" if path.startswith("model.encoder.") else "tgt"
    if leaf in ("q_proj", "k_proj", "v_proj") and not layer.endswith("encoder_attn"):
        return f"{layer}.input", side
    if leaf == "out_proj":  # the attention's output, which attention itself keeps for backward
        return f"{layer}.{ATTENTION_OUTPUT}", side
    return path, side


#: Suffix :func:`linear_input` gives the input of an ``out_proj``: a tensor the base model keeps anyway.
ATTENTION_OUTPUT = "attention_output"
