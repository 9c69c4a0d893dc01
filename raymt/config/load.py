"""YAML -> validated config, with errors a person can act on.

pydantic's errors are thorough but long; a user who mistyped ``lerning_rate`` wants one line:
the file, the dotted field, what is wrong and the fix (with a did-you-mean for unknown keys).
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from raymt.errors import ConfigError


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError("file not found", where=str(path), fix="check the path (shipped spaces live in search_spaces/)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", where=str(path), fix="save the file as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"YAML syntax error: {problem}", where=at, fix="fix the indentation/quoting at that line") from None
    if raw is None:  # empty, or only comments: most likely the wrong or an unsaved file
        raise ConfigError(
            "the file is empty (no settings in it)",
            where=str(path),
            fix="omit the file to run the offline default (`raymt search`, `raymt train`), or start "
            "from a copy of search_spaces/default.yaml; a file holding just {} runs every default",
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"expected a mapping of sections at the top level, got {type(raw).__name__}",
            where=str(path),
            fix="start the file with keys such as 'model:', 'data:', 'method:', 'train:'",
        )
    return raw


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through Optional, Union, Annotated, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at ``loc`` (the loc of an extra key, minus the key itself)."""
    models = [root]
    for part in loc:
        nxt: list[type[BaseModel]] = []
        for model in models:
            if isinstance(part, str) and part in model.model_fields:
                nxt += _models_in(model.model_fields[part].annotation)
            else:  # a union tag or a dict key: keep models whose tag matches, else all
                tagged = [m for m in models if _tag_matches(m, part)]
                nxt += tagged
        if not nxt:
            nxt = [m for m in models if _tag_matches(m, part)]
        models = nxt or models
    keys: list[str] = []
    for model in models:
        keys += [k for k in model.model_fields if k not in keys]
    return keys


def _tag_matches(model: type[BaseModel], tag) -> bool:
    for field in model.model_fields.values():
        if typing.get_origin(field.annotation) is typing.Literal and tag in typing.get_args(field.annotation):
            return True
    return False


def format_validation_error(err: ValidationError, root: type[BaseModel], where: str, prefix: str = "") -> ConfigError:
    """Turn pydantic's first error into one ConfigError line."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    # Drop discriminator tags pydantic inserts (e.g. data.local.path -> data.path)
    field = prefix + ".".join(_strip_tags(root, loc))
    kind = first["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(root, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        fix = f"did you mean {close[0]!r}?" if close else f"remove it; allowed keys here: {', '.join(allowed)}"
        return ConfigError(f"unknown key {key!r}", where=f"{where}: {field}", fix=fix)
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = first.get("input")
    # a whole mapping or a long list (e.g. multi_pair.pairs) would swamp the one line
    got_text = "" if isinstance(got, dict) or got is None or len(repr(got)) > 80 else f" (got {got!r})"
    if kind == "missing":
        return ConfigError("required field is missing", where=f"{where}: {field}", fix="add it (see the shipped examples in search_spaces/)")
    fix = _fix_for(kind, first)
    if " Fix: " in msg:  # a validator that knows the fix says it after " Fix: "
        msg, fix = msg.split(" Fix: ", 1)
    return ConfigError(f"{msg}{got_text}", where=f"{where}: {field}" if field else where, fix=fix)


def _strip_tags(root: type[BaseModel], loc: tuple) -> list[str]:
    out: list[str] = []
    models = [root]
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        matched = [m for m in models if part in m.model_fields]
        if matched:
            out.append(part)
            nxt: list[type[BaseModel]] = []
            for m in matched:
                nxt += _models_in(m.model_fields[part].annotation)
            models = nxt or models
        elif any(_tag_matches(m, part) for m in models):
            models = [m for m in models if _tag_matches(m, part)]  # a union tag: not a user key
        elif "function-after" in str(part) or "[" in str(part):
            continue
        else:
            out.append(part)
    return out


def _fix_for(kind: str, error: dict) -> str:
    ctx = error.get("ctx") or {}
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(ctx.values()), None)
        words = {"greater_than": "above", "greater_than_equal": "at least", "less_than": "below", "less_than_equal": "at most"}
        return f"use a value {words[kind]} {bound}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"give a {kind.split('_')[0]} value"
    if kind == "literal_error":
        return f"use one of {ctx.get('expected', '')}"
    if kind == "union_tag_invalid":
        return f"use one of {ctx.get('expected_tags', '')}"
    return "see the field's description in docs/configuration.md"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None):
    """Load and validate an experiment config; ``None`` gives the offline default."""
    raw = read_yaml(path) if path is not None else {}
    if overrides:
        raw = deep_merge(raw, overrides)
    return validate_config(raw, str(path) if path is not None else "<default config>")


def validate_config(raw: dict[str, Any], where: str):
    from raymt.config.schema import ExperimentConfig
    from raymt.data.multi_pair import check_exclusive_sections

    check_exclusive_sections(raw, where)
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise format_validation_error(err, ExperimentConfig, where) from None
    from raymt.metrics.bleu import check_config_tokenizers

    check_config_tokenizers(cfg, where=f"{where}: eval.bleu_tokenize")  # an optional extra missing: refused before Ray
    return cfg


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
