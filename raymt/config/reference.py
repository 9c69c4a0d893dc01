"""The configuration reference (docs/configuration.md), rendered from the typed schema itself.

Why generated: a hand-written reference drifts from the schema; error messages point users to
this file, so it must say exactly what the validator accepts. Regenerate with

    python -m raymt.config.reference > docs/configuration.md

(a test fails when the committed file is stale).
"""

from __future__ import annotations

import typing

from pydantic import BaseModel


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    return text or str(annotation).replace("typing.", "")


def _section(title: str, model: type[BaseModel], lines: list[str], nested: list) -> None:
    lines += [
        f"## {title}",
        "",
        (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        ann = field.annotation
        sub = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        default = (
            "(required)" if field.is_required() else ("(see below)" if sub is not None or field.default_factory is not None else repr(field.default))
        )
        desc = (field.description or "").replace("|", "\\|")
        kind = _type_name(ann).replace("|", "\\|")
        lines.append(f"| `{name}` | `{kind}` | {default} | {desc} |")
        if sub is not None:
            nested.append((f"{title}.{name}" if title != "top level" else name, sub))
    lines.append("")


def render_reference() -> str:
    from raymt.config.schema import AugmentEntry, ExperimentConfig
    from raymt.data.augment import available_operators, get_operator
    from raymt.data.config import HFData, LocalData, SyntheticData
    from raymt.data.multi_pair import MultiPairConfig, PairConfig
    from raymt.methods import available_methods, get_method
    from raymt.search.config import SearchConfig
    from raymt.search.sampler.options import GPOptions, GridOptions, NSGA2Options, RaymtSamplerOptions, SamplerConfig, TPEOptions
    from raymt.search.scheduler.options import ASHAConfig, MOASHAConfig, NoSchedulerConfig
    from raymt.search.space import SpaceConfig

    lines = [
        "# Configuration reference",
        "",
        "Generated from raymt's schema by `python -m raymt.config.reference`; every key below is",
        "validated before any Ray work starts. An experiment YAML has the top-level keys; a search",
        "space adds `search`.",
        "",
    ]
    queue: list = [("top level", ExperimentConfig)]
    while queue:
        title, model = queue.pop(0)
        _section(title, model, lines, queue)
    for source, model in (("synthetic", SyntheticData), ("local", LocalData), ("hf", HFData)):
        _section(f"data (source: {source})", model, lines, [])
    _section("multi_pair", MultiPairConfig, lines, [])  # optional, so not reached through the queue
    _section("multi_pair.pairs[]", PairConfig, lines, [])
    for name in available_methods():
        _section(f"method: {name}", get_method(name).params_cls, lines, [])
    _section("augment.<operator>", AugmentEntry, lines, [])
    for name in available_operators():
        _section(f"augment.{name}.params", get_operator(name).params_cls, lines, [])
    _section("search", SearchConfig, lines, [])
    _section("search.space", SpaceConfig, lines, [])
    _section("search.sampler", SamplerConfig, lines, [])
    for kind, model in (("raymt", RaymtSamplerOptions), ("tpe", TPEOptions), ("nsga2", NSGA2Options), ("gp", GPOptions), ("grid", GridOptions)):
        _section(f"search.sampler.{kind}", model, lines, [])
    for kind, model in (("none", NoSchedulerConfig), ("asha", ASHAConfig), ("mo_asha", MOASHAConfig)):
        _section(f"search.scheduler (kind: {kind})", model, lines, [])
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
