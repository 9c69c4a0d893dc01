"""The trials table's parameter columns: the names a user writes in a search space.

One vocabulary everywhere: a searched parameter is called by its config path, as the space
writes it, in ``points_to_evaluate``, in Optuna's study, in the trials table and in the report:
``train.lr``, ``augment.word_dropout.ratio``, ``init.stage``; a method's own parameter is
``<method>.<param>`` (``lora.r``, ``lora.alpha_over_r``, ``adapter.size``: the space writes
``methods: {lora: {r: ...}}``); the branch is ``method``.

raymt 0.1 flattened the names (``lr``, ``lora_r``, ``aug_word_dropout``, ``init_stage``).
Tables and points written with them are still read, with a deprecation warning, for one release:
:func:`legacy_spelling` gives a name's old spelling, and the old columns of a table are renamed
on load.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import yaml

from raymt.errors import DataError, RaymtDeprecationWarning
from raymt.results.files import CONFIG_COPY

#: the branch variable's name (a column and an Optuna parameter like the others)
METHOD = "method"
#: a warm start that is fixed, not searched, still shows in the table under this name
INIT_STAGE = "init.stage"


def is_missing(value) -> bool:
    """A cell with no value: None, NaN, or pandas' ``<NA>`` / ``NaT`` (the table's integer
    columns are nullable: a LoRA trial's ``adapter.size`` is ``<NA>``, not NaN)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array is a value
        return False


def method_param_name(method: str, param: str) -> str:
    """The name of a method's own parameter: ``lora.r``."""
    return f"{method}.{param}"


def legacy_spelling(name: str) -> str:
    """The raymt 0.1 spelling of a parameter name (``train.lr`` -> ``lr``, ``lora.r`` ->
    ``lora_r``, ``augment.word_dropout.ratio`` -> ``aug_word_dropout``)."""
    parts = name.split(".")
    if parts[0] == "train" and len(parts) > 1:
        return "_".join(parts[1:])
    if parts[0] == "augment" and len(parts) == 3 and parts[2] == "ratio":
        return f"aug_{parts[1]}"
    return "_".join(parts)


def legacy_renames(present: Iterable[str], names: Iterable[str]) -> dict[str, str]:
    """Old spelling -> name, for the ``names`` whose old spelling is among ``present`` (and
    whose new one is not)."""
    present = set(present)
    out: dict[str, str] = {}
    for name in names:
        old = legacy_spelling(name)
        if old != name and old in present and name not in present:
            out[old] = name
    return out


def deprecation_note(renames: dict[str, str], what: str) -> str:
    pairs = ", ".join(f"{old} -> {new}" for old, new in renames.items())
    return (
        f"{what} uses raymt 0.1's parameter names; read as the names of the search space ({pairs}). "
        "The old names are read in this release only: write the new ones"
    )


def space_param_names(search_raw: dict | None) -> list[str]:
    """The parameter names of a search space given as raw YAML (the ``search:`` mapping), read
    without validating it (an old results folder's config, on a machine without its data)."""
    space = (search_raw or {}).get("space") or {}
    names = [METHOD, *(space.get("common") or {})]
    for method, params in (space.get("methods") or {}).items():
        names += [method_param_name(method, p) for p in (params or {})]
    return names


def folder_param_names(results_dir: Path) -> list[str]:
    """The parameter names of the search whose results are in ``results_dir`` (from its config
    copy; none when the folder has no readable config)."""
    try:
        raw = yaml.safe_load((Path(results_dir) / CONFIG_COPY).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    return space_param_names(raw.get("search")) if isinstance(raw, dict) else []


def upgrade_columns(df: pd.DataFrame, names: Sequence[str], *, where: str) -> pd.DataFrame:
    """``df`` with raymt 0.1's parameter columns renamed to ``names`` (a warning says which)."""
    renames = legacy_renames(df.columns, [*names, INIT_STAGE])
    if not renames:
        return df
    warnings.warn(deprecation_note(renames, where), RaymtDeprecationWarning, stacklevel=2)
    return df.rename(columns=renames)


def read_trials_table(path: str | Path, names: Sequence[str] | None = None) -> pd.DataFrame:
    """A trials table (parquet or CSV), old parameter columns renamed to ``names`` (default:
    the names of the search in the results folder holding the table)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist", where=str(path), fix="point to a trials.parquet/.csv of an earlier search")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pyarrow and pandas raise several unrelated types for a bad file
        raise DataError(f"cannot read {path}: {exc}", where=str(path), fix="give a parquet or csv trials table") from exc
    return upgrade_columns(df, folder_param_names(path.parent) if names is None else names, where=str(path))
