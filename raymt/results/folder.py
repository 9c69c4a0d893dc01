"""Where a search's results live, and finding them again.

A results folder is ``<storage_path>/<name>`` (``-2``, ``-3``, ... when taken). With an object
store it is this machine's staging copy of ``<uri>/<name>`` (raymt.object_store): raymt writes
its files there and uploads them; Ray Tune and Ray Train write their state and checkpoints to
the URI themselves. ``--resume``, ``--warm-start``, ``raymt report`` and ``raymt export`` take
either form and always get a local folder back.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from raymt.errors import ConfigError
from raymt.io import ensure_writable
from raymt.object_store import check_writable, filesystem, is_uri, join, local_form, mirror_experiment, push_tree, staging_path
from raymt.results.files import MARKER, REMOTE_ONLY


def results_dir_for(cfg) -> Path:
    """A fresh folder for a new search: ``<storage>/<name>``, or ``<name>-2``, ... if taken.

    For an object store the name is checked there (the store is the truth) and the returned
    folder is this machine's staging copy of it (raymt.object_store)."""
    if is_uri(cfg.storage_path):
        check_writable(cfg.storage_path)
        name, n = cfg.name, 1
        while not _empty_uri(join(cfg.storage_path, name)):
            n += 1
            name = f"{cfg.name}-{n}"
        local = staging_path(join(cfg.storage_path, name))
        shutil.rmtree(local, ignore_errors=True)  # a stale copy of an experiment deleted from the store
        return local
    root = Path(local_form(cfg.storage_path)).expanduser().resolve()
    ensure_writable(root)
    candidate, n = root / cfg.name, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = root / f"{cfg.name}-{n}"
    return candidate


def _empty_uri(uri: str) -> bool:
    from pyarrow import fs as pafs

    fs, path = filesystem(uri)
    return not fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))


def check_experiment_dir(path: str | Path, *, role: str = "results folder") -> Path:
    """The results folder of an earlier search, as a local folder.

    ``role`` is how the user gave it (``--resume``, ``raymt report RESULTS_DIR``, ...): errors
    name that, not an option the user never passed. An object-store URI is mirrored into this
    machine's staging copy first (result files, the Optuna journal, configs; not Tune's state,
    checkpoints or artefacts, which are read from the store where they are needed)."""
    fix = "pass the results folder printed by an earlier `raymt search` (e.g. raymt_results/default)"
    uri = None
    if is_uri(path):
        uri = str(path)
        try:
            path = mirror_experiment(uri)
        except OSError as err:
            raise ConfigError(
                f"cannot read {uri} ({str(err).strip().splitlines()[0] if str(err).strip() else err})",
                where=role,
                fix="check the URI and your credentials (AWS_* / GOOGLE_APPLICATION_CREDENTIALS)",
            ) from None
    path = Path(local_form(path)).expanduser().resolve()
    shown = uri or str(path)  # a URI is named as given, not as this machine's staging copy
    if not path.exists():
        raise ConfigError(f"{shown} does not exist", where=role, fix=fix)
    if not path.is_dir():
        raise ConfigError(f"{shown} is a file, not a results folder", where=role, fix=fix)
    if not (path / MARKER).exists():
        raise ConfigError(f"{shown} is not a raymt experiment (no {MARKER})", where=role, fix=fix)
    return path


def experiment_uri(results_dir: Path) -> str | None:
    """The object-store URI an experiment's staging folder mirrors (recorded in its marker)."""
    try:
        return json.loads((results_dir / MARKER).read_text()).get("storage_uri")
    except (OSError, ValueError):
        return None


def sync_results(results_dir: Path, uri: str | None) -> None:
    """Upload raymt's own result files to the store (Tune and Train write theirs directly)."""
    if uri:
        push_tree(results_dir, uri, skip=REMOTE_ONLY)


def copy_artifact(src: Path | str, dest: Path) -> None:
    """A trial's artefact folder (local, or a URI on an object store) to ``dest``, atomically."""
    from raymt.object_store import download

    if dest.exists():
        shutil.rmtree(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if is_uri(src):
        download(str(src), tmp)
    else:
        shutil.copytree(src, tmp)
    os.replace(tmp, dest)
