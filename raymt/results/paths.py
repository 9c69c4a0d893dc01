"""Paths in a results folder's files, relative to the folder: a copied, moved or downloaded
folder works on its own.

On disk, the trials table's path columns and ``prepared.json`` say where things are relative
to the experiment folder (``artifacts/3f2a9c1e``, ``references.txt``); in memory, after
:func:`absolute_paths`, they are paths on this machine, so every reader (export, the
significance tests, the report) opens them as they are. Tables written by raymt 0.1 hold
absolute paths: a path that points into the folder the table came from (``.../artifacts/<id>``)
is read from *this* folder when it has the file, never silently from the original.

The base model is the one thing a search needs that lives outside its folder (the cache, shared
by searches). :func:`locate_base` finds it (the recorded place, the original folder's relative
place, ``--base``, ``RAYMT_BASE``) or says which model is missing and how to point at it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from raymt.errors import DataError
from raymt.io import atomic_write_text
from raymt.object_store import is_uri, localize
from raymt.results.files import ARTIFACTS_DIR, HYPS_DIR, PREPARED, REFERENCES, SOURCES, TRIALS_DIR

#: the trials table's columns that hold a path
PATH_COLUMNS = ("checkpoint_path", "artifact_path", "hyps_path", "refs_path")
#: where a path of prepared.json is written relative to: the folder as it was (a copy on the same
#: machine still finds the cache through it)
WRITTEN_AT = "written_at"
#: the environment variable that points at the base model of a moved results folder or export
BASE_ENV = "RAYMT_BASE"
_TOP = (ARTIFACTS_DIR, TRIALS_DIR, HYPS_DIR, REFERENCES, SOURCES)


def _is_path(value) -> bool:
    return isinstance(value, str) and bool(value) and not is_uri(value)


def relative_to(value, folder: Path):
    """``value`` relative to ``folder`` when it is a local path inside it; otherwise unchanged."""
    if not _is_path(value) or not os.path.isabs(value):
        return value
    try:
        return Path(value).resolve().relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return value


def resolve_in(value, folder: Path):
    """A path of a results folder's file as a path on this machine (URIs and "" unchanged).

    Relative: under ``folder``. Absolute (raymt 0.1): the same file in ``folder`` when the path
    runs through one of the folder's own subfolders (``artifacts/``, ``trials/``, ...) and the
    copy has it; else the path as written."""
    if not _is_path(value):
        return value
    if not os.path.isabs(value):
        return str(Path(folder) / value)
    parts = Path(value).parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] in _TOP:
            here = Path(folder).joinpath(*parts[i:])
            if here.exists():
                return str(here)
            break
    return value


def relative_paths(df: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The table as written to disk: its path columns relative to ``folder``."""
    out = df.copy()
    for col in PATH_COLUMNS:
        if col in out.columns:
            out[col] = [relative_to(v, folder) for v in out[col]]
    return out


def absolute_paths(df: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The table as read from ``folder``: its path columns as paths on this machine."""
    out = df.copy()
    for col in PATH_COLUMNS:
        if col in out.columns:
            out[col] = [resolve_in(v, folder) for v in out[col]]
    return out


def _map_paths(prepared: Mapping, fn) -> dict:
    out = dict(prepared)
    for key in ("base_path", "data_path", "init_text"):
        if out.get(key):
            out[key] = fn(out[key])
    for key in ("augment_pools", "pair_data"):
        if isinstance(out.get(key), dict):
            out[key] = {k: fn(v) for k, v in out[key].items()}
    return out


def write_prepared(folder: Path, prepared: Mapping) -> Path:
    """``prepared.json``: the shared cache's paths relative to the experiment folder (``../``
    when the cache is beside it), and the folder they were written at."""
    folder = Path(folder).resolve()

    def rel(value):
        return os.path.relpath(value, folder) if _is_path(value) and os.path.isabs(value) else value

    record = {**_map_paths(prepared, rel), WRITTEN_AT: str(folder)}
    return atomic_write_text(folder / PREPARED, json.dumps(record, indent=1))


def read_prepared(folder: Path) -> dict:
    """``prepared.json`` of a results folder with its paths resolved on this machine: under the
    folder where it is now, else where it was written (a copy beside the original), else as
    recorded (raymt 0.1 wrote absolute paths). A path found nowhere is named where it was written."""
    folder = Path(folder)
    try:
        raw = json.loads((folder / PREPARED).read_text())
    except FileNotFoundError:
        raise DataError(f"no {PREPARED}", where=str(folder), fix="pass the results folder of a raymt search") from None
    written_at = raw.pop(WRITTEN_AT, None)

    def find(value):
        if not _is_path(value) or os.path.isabs(value):
            return value
        here = os.path.normpath(folder.resolve() / value)
        if os.path.exists(here) or not written_at:
            return here
        return os.path.normpath(Path(written_at) / value)  # found there, or named as it was

    return _map_paths(raw, find)


def locate_base(recorded: str, *, override: str | os.PathLike | None = None, where: str) -> str:
    """The base model as a local folder: ``override`` (``--base``), else ``$RAYMT_BASE``, else
    ``recorded`` (a URI is fetched). ``where`` names the file that recorded it."""
    chosen = override or os.environ.get(BASE_ENV)
    if chosen:
        if not Path(chosen).is_dir():
            raise DataError(
                f"the base model given is not a folder: {chosen}",
                where="--base" if override else BASE_ENV,
                fix="point at the base model's folder (config.json, weights)",
            )
        return str(chosen)
    if is_uri(recorded):
        return localize(recorded)
    if Path(recorded).is_dir():
        return str(recorded)
    raise DataError(
        f"the base model the trials were trained on is not on this machine: {recorded} (outside the results folder: the search's cache)",
        where=f"{where}: base_path",
        fix=f"copy that folder here too and pass --base PATH, or set {BASE_ENV}=PATH",
    )
