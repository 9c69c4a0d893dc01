"""The contract every fine-tuning method fulfils.

A method is all raymt needs to turn a pretrained translation model into one trial's trainable
model and back into an artefact a user keeps: which weights train (:meth:`apply`), what goes to
disk (:meth:`save`), how it comes back (:meth:`load`, :meth:`load_state`) and what it costs
before a single step runs (:meth:`count_trainable`, :meth:`estimate_bytes`). Storage is a search
objective, so the estimate is part of the contract, not a nicety: a trial that would write a
2 GB checkpoint is known to do so before Ray starts, and ``estimate_bytes`` must agree with the
bytes :meth:`save` really writes within 2 % (tested for every registered method).

Life cycle inside a trial worker::

    method = get_method(cfg.method.name)
    model = method.apply(base_model, params)       # freeze / inject; then wrap in DDP if needed
    ... train ...
    method.save(model, epoch_dir)                  # DDP wrapper is fine: it is unwrapped
    method.load_state(model, best_epoch_dir)       # back to the best epoch's weights
    # later, anywhere: method.load(fresh_base, artefact_dir).generate(...)

Artefacts are safetensors + JSON only, never pickles: loading a pickle runs code, and trial
artefacts are exactly the files people pass around.
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from raymt.errors import ConfigError
from raymt.metrics.storage import safetensors_bytes

__all__ = [
    "ArtifactPlan",
    "FineTuneMethod",
    "MethodParams",
    "config_json_text",
    "unwrap_model",
]


class MethodParams(BaseModel):
    """Base of every method's parameter block (the YAML ``method:`` block minus ``name``).

    Frozen so that a params object can be shared between the tuner and the workers without
    one of them changing it under the other.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ArtifactPlan:
    """What :meth:`FineTuneMethod.save` will write, known from the model config alone.

    ``tensors`` maps each tensor name of the weights file to its shape; ``text_files`` holds
    the exact text of each JSON file, built the way the writer builds it, because for a
    100 kB adapter the config and the safetensors header are several percent of the bytes.
    """

    weights_file: str
    tensors: Mapping[str, tuple[int, ...]]
    dtype: torch.dtype
    text_files: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] | None = field(default_factory=lambda: {"format": "pt"})

    def file_bytes(self) -> dict[str, int]:
        """Predicted size of each file of the artefact."""
        sizes = {self.weights_file: safetensors_bytes({name: (self.dtype, shape) for name, shape in self.tensors.items()}, self.metadata)}
        sizes.update({name: len(text.encode("utf-8")) for name, text in self.text_files.items()})
        return sizes

    def nbytes(self) -> int:
        return sum(self.file_bytes().values())

    def num_saved(self) -> int:
        """Number of values stored in the weights file."""
        total = 0
        for shape in self.tensors.values():
            n = 1
            for dim in shape:
                n *= dim
            total += n
        return total


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module under DDP / DataParallel / torch.compile wrappers.

    Saving the wrapper would prefix every name with ``module.`` and make the artefact
    unloadable into a plain model; the worker passes whatever it trains, so unwrap here.
    """
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
            continue
        inner = getattr(model, "_orig_mod", None)  # torch.compile's OptimizedModule
        if isinstance(inner, nn.Module):
            model = inner
            continue
        return model


def config_json_text(data: Mapping[str, Any]) -> str:
    """JSON text of a raymt-written config file (also what the estimate measures)."""
    return json.dumps(dict(data), indent=2, sort_keys=True) + "\n"


class FineTuneMethod(abc.ABC):
    """One way of fine-tuning a pretrained mBART for translation.

    Subclasses set ``name`` (the YAML ``method.name``), ``params_cls`` (a :class:`MethodParams`
    subclass) and ``paper`` (the citation), implement the abstract methods and register
    themselves with :func:`raymt.methods.registry.register_method` in one call at the end of
    their module. Every public method accepts the params as the validated object, a plain
    mapping (e.g. straight from YAML) or ``None`` for the defaults.
    """

    name: ClassVar[str]
    params_cls: ClassVar[type[MethodParams]]
    paper: ClassVar[str]
    #: Whether some trainable parameter can stay out of a forward pass's graph (DDP must then
    #: search for unused parameters after every backward: ``find_unused_parameters=True``).
    #: That search costs a graph traversal per step and, when nothing is unused, makes torch
    #: warn on every run; so a method sets it only when it needs it. The method contract test
    #: checks each registered method's declaration against one real backward pass.
    ddp_find_unused_parameters: ClassVar[bool] = False

    # -- params --------------------------------------------------------------------------
    def validate_params(self, params: MethodParams | Mapping[str, Any] | None = None) -> MethodParams:
        """Validated params; a mistake becomes one ConfigError naming the field."""
        if isinstance(params, self.params_cls):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump()
        try:
            return self.params_cls.model_validate(dict(params or {}))
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(part) for part in first["loc"])
            where = f"method.{loc}" if loc else "method"
            allowed = ", ".join(sorted(self.params_cls.model_fields))
            raise ConfigError(
                f"{first['msg']} (method {self.name!r})",
                where=where,
                fix=f"fields of method {self.name!r}: {allowed or '(none)'}",
            ) from None

    # -- the contract ----------------------------------------------------------------------
    @abc.abstractmethod
    def apply(self, model: nn.Module, params: Any = None) -> nn.Module:
        """Freeze the base and/or inject trainable modules; return the model to train."""

    @abc.abstractmethod
    def save(self, model: nn.Module, out_dir: str | os.PathLike) -> None:
        """Write only what a user must keep for this task, as safetensors + JSON."""

    @abc.abstractmethod
    def load_state(self, model: nn.Module, artifact_dir: str | os.PathLike) -> None:
        """Restore the trainable weights of an already-applied model from an artefact."""

    @abc.abstractmethod
    def load(self, base_model: nn.Module, artifact_dir: str | os.PathLike) -> nn.Module:
        """Base model + artefact -> a model in eval mode, ready for ``generate()``."""

    @abc.abstractmethod
    def count_trainable(self, model_config: Any, params: Any = None) -> int:
        """Trainable parameters, by closed formula from the HF config (before building)."""

    @abc.abstractmethod
    def artifact_plan(self, model_config: Any, params: Any = None) -> ArtifactPlan:
        """The files :meth:`save` will write, from the HF config alone."""

    def estimate_bytes(self, model_config: Any, params: Any = None) -> int:
        """Bytes :meth:`save` will write, from the HF config alone (within 2 %)."""
        return self.artifact_plan(model_config, self.validate_params(params)).nbytes()

    def activation_sites(self, model_config: Any, params: Any = None) -> tuple:
        """Activations the injected modules keep for backward, per token, as
        :class:`raymt.plan.memory.InjectedSite` entries (``raymt plan``'s memory estimate).

        The default, nothing, is right for methods that inject no module on the token path
        (full fine-tuning); a method that does overrides it, or the plan underestimates it.
        """
        return ()

    # -- helpers for subclasses ------------------------------------------------------------
    @staticmethod
    def _artifact_file(artifact_dir: str | os.PathLike, filename: str, method: str) -> Path:
        path = Path(artifact_dir, filename)
        if not path.is_file():
            raise ConfigError(
                f"no {filename} in this directory, so it is not a {method!r} artefact",
                where=str(artifact_dir),
                fix=f"point to the directory a {method!r} trial saved (it holds {filename})",
            )
        return path

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
