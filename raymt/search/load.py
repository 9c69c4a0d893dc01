"""Loading a search YAML and checking it whole: the config, the space, its points, objectives.

Everything here runs before Ray starts and imports neither Ray nor torch's sampler stack, so
``raymt validate`` and a notebook can check a space on any machine.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import ValidationError

from raymt.config.load import deep_merge, format_validation_error, read_yaml, validate_config
from raymt.errors import ConfigError
from raymt.search.config import SearchConfig
from raymt.search.sampler.candidates import ReplayTrial
from raymt.results.columns import method_param_name
from raymt.search.space import CompiledSpace, Dist

DEFAULT_SPACE = "default.yaml"


def default_space_path() -> Path:
    """``search_spaces/default.yaml`` of the working directory, else of raymt's checkout."""
    here = Path("search_spaces") / DEFAULT_SPACE
    if here.exists():
        return here
    return Path(__file__).resolve().parents[2] / "search_spaces" / DEFAULT_SPACE


def load_search(path: str | Path | None, overrides: dict | None = None):
    """Config + search section + compiled space, all validated; no Ray involved.

    The file is validated once as a whole (its ``search:`` section is a typed part of the
    experiment config); then every branch of the space and every extreme value once (the
    validated trial configs are kept on the compiled space for the checks against the model).
    """
    path = Path(path) if path is not None else default_space_path()
    raw = read_yaml(path)
    if overrides:
        raw = deep_merge(raw, overrides)
    cfg = validate_config(raw, str(path))
    search = cfg.search or SearchConfig()
    compiled = CompiledSpace(search.space, raw, where=f"{path}: search.space", grid=search.grid_values)
    compiled.validate(validate_config)
    check_points(compiled, search.points_to_evaluate, where=f"{path}: search.points_to_evaluate")
    check_transfer(search, compiled)
    return cfg, search, compiled, raw


def check_transfer(search: SearchConfig, compiled: CompiledSpace) -> None:
    """The earlier searches a prior is taken from exist and match the space (name and kind of
    every parameter), checked before Ray: the sampler reads them only when the search starts."""
    from raymt.search.sampler.sources import read_related, related_sources, space_params

    sources = related_sources(search.transfer_from, search.sampler.raymt.related_trials if search.sampler.kind == "raymt" else [])
    if sources:
        read_related(sources, search.objectives, params=space_params(compiled), param_names=compiled.flat_columns())


def parse_search(raw: dict | None, where: str) -> SearchConfig:
    """The ``search:`` section alone (``raymt report`` needs only its objectives; the rest of a
    finished search's config may name files this machine does not have)."""
    try:
        return SearchConfig.model_validate(raw or {})
    except ValidationError as err:
        raise format_validation_error(err, SearchConfig, where, prefix="search.") from None


def check_points(compiled: CompiledSpace, points: list[dict], *, where: str) -> None:
    """Every ``points_to_evaluate`` entry must use the space's names, only its own branch's
    parameters, and values inside their ranges (or equal to what the space fixes). Optuna would
    find a bad value only when the searcher asks for the point, inside Tune, after Ray has
    started (the search dies with a traceback), and it silently ignores a name it does not know."""
    fixed: dict[str, tuple[str | None, object]] = {}  # column -> (method or None, constant)
    for path, dist in compiled.space.common.items():
        fixed[path] = (None, dist)
    for method in compiled.space.method_list:
        for param, dist in compiled.space.methods.get(method, {}).items():
            fixed[method_param_name(method, param)] = (method, dist)
    for i, point in enumerate(points):

        def propose(name, dist, point=point, i=i):
            if name not in point:  # left to the sampler: any value of the branch will do here
                return dist.to_external_repr(dist.low if hasattr(dist, "low") else 0)
            value = point[name]
            try:
                ok = dist._contains(dist.to_internal_repr(value))
            except (ValueError, TypeError):
                ok = False
            if not ok:
                span = f"choices {list(dist.choices)}" if hasattr(dist, "choices") else f"range [{dist.low:g}, {dist.high:g}]"
                raise ConfigError(
                    f"point {i + 1} sets {name}: {value!r}, outside its {span}",
                    where=f"{where}[{i}].{name}",
                    fix="use a value inside the space, or widen search.space",
                )
            return value

        replay = ReplayTrial(propose)
        compiled.define_by_run(replay)
        method = replay.params.get("method", compiled.space.method_list[0])
        for name, value in point.items():
            if name in replay.params or name == "method":
                continue
            if name not in fixed:
                close = difflib.get_close_matches(name, list(fixed), n=1, cutoff=0.6)
                raise ConfigError(
                    f"point {i + 1} sets {name}, which this space does not have",
                    where=f"{where}[{i}].{name}",
                    fix=f"did you mean {close[0]!r}?" if close else f"use the space's parameter names: {', '.join(sorted(fixed))}",
                )
            owner, constant = fixed[name]
            if owner is not None and owner != method:
                raise ConfigError(
                    f"point {i + 1} sets {name}, a parameter of the {owner} branch, but its method is {method}",
                    where=f"{where}[{i}].{name}",
                    fix=f"drop {name} or set method: {owner}",
                )
            if not isinstance(constant, Dist) and value != constant:
                raise ConfigError(
                    f"point {i + 1} sets {name}: {value!r}, but the space fixes it at {constant!r}",
                    where=f"{where}[{i}].{name}",
                    fix="drop it from the point, or make it a search dimension",
                )
