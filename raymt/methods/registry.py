"""The registry of fine-tuning methods: one call per method, checked when it is made.

Modelled on peft's ``register_peft_method``: a method module ends with
``register_method(MyMethod)``, and from then on the config schema, the search space and the
contract test (``tests/methods/test_method_contract.py``, parametrised over
:func:`available_methods`) know it. Registration refuses malformed or duplicate names and
incomplete classes at import time, so a broken plug-in fails when it is loaded, not in the
middle of a search.
"""

from __future__ import annotations

import difflib
import re

from pydantic import BaseModel

from raymt.errors import ConfigError
from raymt.methods.base import FineTuneMethod, MethodParams

__all__ = ["available_methods", "get_method", "register_method"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_REGISTRY: dict[str, type[FineTuneMethod]] = {}


def register_method(cls: type[FineTuneMethod]) -> type[FineTuneMethod]:
    """Register a :class:`FineTuneMethod` subclass under ``cls.name``; returns ``cls``
    (usable as a decorator)."""
    where = f"register_method({getattr(cls, '__name__', cls)!r})"
    if not (isinstance(cls, type) and issubclass(cls, FineTuneMethod)):
        raise ConfigError("only FineTuneMethod subclasses can be registered", where=where, fix="subclass raymt.methods.base.FineTuneMethod")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"malformed method name {name!r}",
            where=where,
            fix="set the class attribute `name` to lowercase letters, digits and '_' (starting with a letter, at most 32 characters), e.g. 'lora'",
        )
    if name in _REGISTRY:
        raise ConfigError(
            f"a method named {name!r} is already registered ({_REGISTRY[name].__qualname__})",
            where=where,
            fix="pick another name; an existing method cannot be replaced",
        )
    params_cls = getattr(cls, "params_cls", None)
    if not (isinstance(params_cls, type) and issubclass(params_cls, BaseModel)):
        raise ConfigError("`params_cls` must be a pydantic model", where=where, fix="subclass raymt.methods.base.MethodParams")
    if params_cls.model_config.get("extra") != "forbid":
        raise ConfigError(
            "`params_cls` must forbid unknown fields so typos are caught",
            where=where,
            fix="subclass raymt.methods.base.MethodParams (extra='forbid')",
        )
    if not issubclass(params_cls, MethodParams):
        raise ConfigError("`params_cls` must subclass MethodParams", where=where, fix="subclass raymt.methods.base.MethodParams")
    paper = getattr(cls, "paper", None)
    if not isinstance(paper, str) or not paper.strip():
        raise ConfigError(
            "`paper` must cite where the method comes from", where=where, fix="set `paper` to 'Author et al., year, venue' (or 'none' with a reason)"
        )
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        raise ConfigError(f"the class leaves {', '.join(abstract)} unimplemented", where=where, fix="implement every method of FineTuneMethod")
    _REGISTRY[name] = cls
    return cls


def available_methods() -> list[str]:
    """Names of the registered methods, sorted."""
    return sorted(_REGISTRY)


def get_method(name: str) -> FineTuneMethod:
    """A fresh instance of the method registered as ``name``."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown fine-tuning method {name!r}",
            where="method.name",
            fix=f"{hint}choose one of {', '.join(available_methods())}",
        ) from None
