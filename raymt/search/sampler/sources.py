"""Where the default sampler's prior comes from: finished trials of earlier raymt searches.

One mechanism, two spellings in the config: ``search.transfer_from`` names earlier searches'
results folders (or their object-store URIs: another pair, another domain, another base size),
``search.sampler.raymt.related_trials`` names trials tables (parquet / csv) directly. Both are
read here into ``(task, table)`` pairs, one task per source (or per value of a ``task``
column), and become :class:`~raymt.search.sampler.transfer.RelatedTrials`, the related tasks of
:class:`~raymt.search.sampler.cost_aware.CostAwareSampler`'s prior (Salinas et al., 2020).

A table is matched to the new space by parameter name and kind, never silently: the sampler
models a configuration by the space's parameters only, so a column it does not know would be
dropped and a table sharing one parameter with the space would steer the search on that one
alone. Every mismatch is a one-line :class:`~raymt.errors.ConfigError` naming the parameter,
raised while the config is checked (``raymt validate``, before Ray starts):

- every parameter the new space searches is a column of the table (a method's own parameter
  only where the table has trials of that method);
- every parameter an earlier search varied is searched here (a results folder's config says
  which columns are parameters; a bare table's other columns cannot be told from metrics);
- a number is a number and a category a category on both sides, and a category's values in the
  table are choices of the new space.

Rows of a method the new space does not search are not used (their parameters do not exist
here). Docs: docs/samplers.md ("Transfer from earlier searches").
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from raymt.errors import ConfigError, DataError
from raymt.results.columns import METHOD, folder_param_names, is_missing, read_trials_table
from raymt.results.files import TRIALS_FILE
from raymt.results.folder import check_experiment_dir
from raymt.search.space import CompiledSpace, Dist, _label

NUMBER, CATEGORY = "number", "category"


@dataclass(frozen=True)
class SpaceParam:
    """What a table column must be to stand for one parameter of the new space."""

    kind: str  # NUMBER or CATEGORY
    labels: tuple[str, ...] | None  # a category's choices, as the trials table writes them
    method: str | None  # the method whose own parameter it is; None = common


def space_params(compiled: CompiledSpace) -> dict[str, SpaceParam]:
    """The searched parameters of ``compiled``, and ``method`` (its methods: searched when
    several, the one the trials are filtered to when one)."""
    methods = compiled.space.method_list
    out: dict[str, SpaceParam] = {METHOD: SpaceParam(CATEGORY, tuple(methods), None)}

    def param(dist: Dist, method: str | None) -> SpaceParam:
        if dist.choices is not None and not all(map(_is_number, dist.choices)):
            return SpaceParam(CATEGORY, tuple(_label(c) for c in dist.choices), method)
        return SpaceParam(NUMBER, None, method)

    for path, dist in compiled.space.common.items():
        if isinstance(dist, Dist):
            out[path] = param(dist, None)
    for method in methods:
        for name, dist in compiled.space.methods.get(method, {}).items():
            if isinstance(dist, Dist):
                out[f"{method}.{name}"] = param(dist, method)
    return out


def read_related(
    sources: Sequence[tuple[str, str | Path, bool]],
    objectives: Mapping[str, str],
    *,
    params: Mapping[str, SpaceParam] | None = None,
    param_names: Sequence[str] | None = None,
) -> list[tuple[str, pd.DataFrame]]:
    """``(where, source, is a results folder)`` -> ``(task, finished trials)`` pairs, each
    checked against the new space's ``params`` when given (see the module docstring). A source
    is a results folder or its URI (``transfer_from``), or a trials table file (``related_trials``)."""
    tables: list[tuple[str, pd.DataFrame]] = []
    for where, source, is_folder in sources:
        folder = check_experiment_dir(source, role=where) if is_folder else None
        path = folder / TRIALS_FILE if folder is not None else Path(source)
        try:
            df = read_trials_table(path, names=param_names)
        except DataError as err:
            raise DataError(err.message, where=where, fix=err.fix) from None
        earlier = folder_param_names(folder if folder is not None else path.parent)
        if "status" in df.columns:
            df = df[df["status"] == "completed"]
        if params is not None:
            df = check_table(df, params, objectives, where=where, earlier=earlier)
        if "task" in df.columns:
            tables += [(str(task), sub) for task, sub in df.groupby("task")]
        else:
            tables.append((str(source), df))
    return tables


def check_table(
    df: pd.DataFrame, params: Mapping[str, SpaceParam], objectives: Mapping[str, str], *, where: str, earlier: Sequence[str] = ()
) -> pd.DataFrame:
    """``df`` (finished trials of an earlier search) restricted to the methods the new space
    searches, after checking its parameters match ``params``; a mismatch is a ConfigError."""
    fix = "transfer only from searches over the same parameters (same names, numbers vs choices), or change this space"
    missing = [o for o in objectives if o not in df.columns]
    if missing:
        raise ConfigError(f"the earlier trials have no objective column {missing[0]!r}", where=where, fix="use searches with the same objectives")
    if len(params[METHOD].labels or ()) > 1 and METHOD not in df.columns:
        raise ConfigError("the earlier trials have no column 'method', which this space searches", where=where, fix=fix)
    if METHOD in df.columns:
        df = df[df[METHOD].astype(str).isin(params[METHOD].labels or ())]
    methods_there = set(df[METHOD].astype(str)) if METHOD in df.columns else None
    for name, param in params.items():
        if name not in df.columns:
            if param.method is not None and methods_there is not None and param.method not in methods_there:
                continue  # that branch never ran there: nothing to transfer, nothing to mismatch
            raise ConfigError(f"the earlier trials have no column {name!r}, which this space searches", where=where, fix=fix)
        values = [v for v in df[name] if not is_missing(v)]
        if param.method is not None and METHOD in df.columns:
            values = [v for v, m in zip(df[name], df[METHOD].astype(str)) if m == param.method and not is_missing(v)]
        if param.kind == NUMBER and not all(map(_is_number, values)):
            bad = next(v for v in values if not _is_number(v))
            raise ConfigError(f"parameter {name!r} is a number here but {bad!r} in the earlier trials", where=where, fix=fix)
        if param.kind == CATEGORY:
            for v in values:
                label = _label(v) if isinstance(v, (list, tuple)) else str(v)
                if label not in (param.labels or ()):
                    raise ConfigError(
                        f"parameter {name!r} is {v!r} in the earlier trials, not one of this space's choices {list(param.labels or ())}",
                        where=where,
                        fix=fix,
                    )
    for name in _varied(df, earlier):
        if name not in params:
            raise ConfigError(f"the earlier search varied {name!r}, which this space does not search", where=where, fix=fix)
    return df


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _varied(df: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The parameters among ``names`` that take more than one value in ``df``."""
    out = []
    for name in names:
        if name in df.columns and len({repr(v) for v in df[name] if not is_missing(v)}) > 1:
            out.append(name)
    return out


def related_sources(transfer_from: Sequence[str], related_trials: Sequence[Any]) -> list[tuple[str, str | Path, bool]]:
    """Both spellings as ``(where, source, is a results folder)``, in one list."""
    return [(f"search.transfer_from[{i}]", s, True) for i, s in enumerate(transfer_from)] + [
        (f"search.sampler.raymt.related_trials[{i}]", p, False) for i, p in enumerate(related_trials)
    ]
