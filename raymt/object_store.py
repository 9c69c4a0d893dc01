"""Where an experiment lives: a local or shared folder, or an object store (``s3://``, ``gs://``).

Why a mirror and not raymt writing straight to the bucket: the tokenised corpus is opened
memory-mapped by every trial, models are loaded by libraries that want a folder, and result
files are replaced atomically with ``os.replace`` — none of that exists on an object store.
So with a URI ``storage_path`` every process works in a *staging folder* on its own node that
mirrors the URI tree (``$RAYMT_STAGING_DIR``, default ``~/.cache/raymt/staging``, then
``<scheme>/<bucket>/<key...>``), and the object store is the durable copy that any node can
read: the driver uploads the shared data cache once it is built and the result files when it
writes them; a Train worker (or ``raymt report``/``export``/``--resume`` on another machine)
downloads what it needs into its own staging folder on first use. Ray Tune and Ray Train write
their experiment state and checkpoints to the URI themselves (Ray's own pyarrow storage layer).

Everything goes through ``pyarrow.fs`` (the same layer Ray uses), so credentials and endpoints
come from the usual places (``AWS_*`` variables, ``~/.aws``, instance roles; ``AWS_ENDPOINT_URL``
or ``?endpoint_override=`` for MinIO and other S3-compatible stores; Google's application
default credentials) and are never written anywhere by raymt.

A download lands in a temporary folder renamed into place, and every builder of the local
cache does the same, so an entry that exists in a staging folder is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from raymt.results.files import NOT_MIRRORED

#: schemes accepted in ``storage_path`` (pyarrow file systems); ``file://`` is a local folder
OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "abfs", "abfss")

__all__ = [
    "OBJECT_STORE_SCHEMES",
    "check_writable",
    "download",
    "exists",
    "filesystem",
    "is_uri",
    "join",
    "local_form",
    "localize",
    "mirror_experiment",
    "parent_uri",
    "pull_tree",
    "push_tree",
    "staging_path",
    "staging_root",
    "to_uri",
    "upload",
]


def is_uri(path: str | os.PathLike | None) -> bool:
    """True for ``scheme://...`` other than ``file://`` (a local path in URI form)."""
    if path is None:
        return False
    text = str(path)
    return "://" in text and urlsplit(text).scheme.lower() not in ("", "file")


def local_form(path: str | os.PathLike) -> str:
    """``file:///a/b`` -> ``/a/b``; anything else unchanged."""
    text = str(path)
    return urlsplit(text).path if text.startswith("file://") else text


def join(base: str, *parts: str) -> str:
    """Append path parts to a URI, keeping its query (``?endpoint_override=...``) at the end."""
    if not is_uri(base):
        return str(Path(base, *parts))
    u = urlsplit(base)
    path = "/".join([u.path.rstrip("/"), *(p.strip("/") for p in parts if p)])
    return urlunsplit((u.scheme, u.netloc, path, u.query, u.fragment))


def parent_uri(uri: str) -> str:
    """The folder holding ``uri`` (query kept)."""
    u = urlsplit(uri)
    return urlunsplit((u.scheme, u.netloc, u.path.rstrip("/").rsplit("/", 1)[0], u.query, u.fragment))


def filesystem(uri: str):
    """``(pyarrow FileSystem, path inside it)`` for a URI."""
    from pyarrow import fs as pafs

    return pafs.FileSystem.from_uri(uri)


def staging_root() -> Path:
    return Path(os.environ.get("RAYMT_STAGING_DIR") or Path.home() / ".cache" / "raymt" / "staging").expanduser()


def staging_path(uri: str) -> Path:
    """This node's mirror of ``uri``: the same on every node with the same staging root, so
    paths that the driver records stay valid where the results are read again."""
    u = urlsplit(uri)
    parts = [p for p in u.path.split("/") if p and p not in (".", "..")]
    return staging_root().joinpath(u.scheme.lower(), u.netloc or "_", *parts)


def to_uri(path: str | os.PathLike, local_root: Path, uri_root: str) -> str:
    """The URI of a file under ``local_root`` (a staging mirror of ``uri_root``); other paths as they are."""
    try:
        rel = Path(path).resolve().relative_to(local_root.resolve())
    except ValueError:
        return str(path)
    return join(uri_root, *rel.parts)


def exists(path: str | os.PathLike) -> bool:
    """Whether a file or folder is there: a URI on its store, anything else on this machine
    (so callers need not branch on where an experiment lives)."""
    from pyarrow import fs as pafs

    if not is_uri(path):
        return Path(local_form(path)).exists()
    fs, path = filesystem(str(path))
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _is_temp(rel_parts: tuple[str, ...]) -> bool:
    # builders' temp folders (.tmp-*, .build-*, .<key>-*), lock files and atomic-write temps
    return any(p.startswith(".") or p.endswith((".lock", ".tmp", ".partial")) for p in rel_parts)


def _listing(fs, root: str) -> dict[str, tuple[int, float]]:
    """Files under ``root``: relative posix path -> (size, modification time in seconds)."""
    from pyarrow import fs as pafs

    def stamp(entry) -> tuple[int, float]:
        return entry.size, entry.mtime.timestamp() if entry.mtime is not None else 0.0

    info = fs.get_file_info(root)
    if info.type == pafs.FileType.File:
        return {"": stamp(info)}
    if info.type == pafs.FileType.NotFound:
        return {}
    out = {}
    for entry in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if entry.type == pafs.FileType.File:
            out[entry.path[len(root.rstrip("/")) + 1 :]] = stamp(entry)
    return out


def push_tree(local: str | os.PathLike, uri: str, *, skip: tuple[str, ...] = ()) -> int:
    """Upload the files under ``local`` that the URI lacks, holds with another size, or holds
    older than the local file (a rewritten report).

    Temporary files and folders are skipped (a builder may be writing them); so are top-level
    names in ``skip``. Comparisons are exact (no slack): an uploaded file takes the store's
    modification time of its copy (stores keep it to the second, and it is the upload's time),
    as :func:`pull_tree` gives a downloaded one, so a rewrite made within the second of an upload
    is sent again; and an upload that replaces a same-size object never carries that object's
    time, so a reader comparing (size, time) always sees the new version. Returns the number of
    files uploaded.
    """
    from pyarrow import fs as pafs

    local = Path(local)
    fs, root = filesystem(uri)
    remote = _listing(fs, root)
    local_fs = pafs.LocalFileSystem()
    sent = 0
    # os.walk with followlinks: a cache entry may be a symlink to a folder (Path.rglob skips those)
    files = sorted(Path(d, f) for d, _, names in os.walk(local, followlinks=True) for f in names)
    for path in (p for p in files if p.is_file()):
        rel = path.relative_to(local)
        if rel.parts[0] in skip or _is_temp(rel.parts):
            continue
        key = rel.as_posix()
        st = path.stat()
        there = remote.get(key)
        if there is not None and there[0] == st.st_size and there[1] >= st.st_mtime:
            continue
        fs.create_dir(f"{root}/{rel.parent.as_posix()}".rstrip("/."), recursive=True)
        replaced = there[1] if there is not None and there[0] == st.st_size else None
        stamp = _upload(fs, local_fs, path, f"{root}/{key}", replaced)
        sent += 1
        now = path.stat()
        if stamp is not None and (now.st_mtime_ns, now.st_size) == (st.st_mtime_ns, st.st_size):
            os.utime(path, (stamp, stamp))  # unless it changed while uploading: then it goes up again
    return sent


#: how long an upload waits for the store's clock to pass the time of the object it replaces
STORE_CLOCK_WAIT_S = 5.0


def _upload(fs, local_fs, path: Path, remote_path: str, replaced: float | None) -> float | None:
    """Copy one file; returns the store's time of the copy. ``replaced``: the time of a same-size
    object it overwrites; while the store's clock (to the second) still gives that time, the copy
    is made again, so the new version never looks like the old one."""
    from pyarrow import fs as pafs

    deadline = time.monotonic() + STORE_CLOCK_WAIT_S
    while True:
        pafs.copy_files(str(path), remote_path, source_filesystem=local_fs, destination_filesystem=fs)
        info = fs.get_file_info(remote_path).mtime
        stamp = info.timestamp() if info is not None else None
        if replaced is None or stamp is None or stamp > replaced or time.monotonic() > deadline:
            return stamp
        time.sleep(0.2)


def pull_tree(uri: str, local: str | os.PathLike, *, skip: tuple[str, ...] = ()) -> int:
    """Download the files under ``uri`` that ``local`` lacks, holds with another size, or
    holds older than the store's copy (a file written here and uploaded may come back once).

    Each file is written to a temporary name and renamed, so a reader never sees half a file;
    it gets the store's modification time, so :func:`push_tree` does not send it back.
    Returns the number of files downloaded.
    """
    from pyarrow import fs as pafs

    local = Path(local)
    fs, root = filesystem(uri)
    local_fs = pafs.LocalFileSystem()
    got = 0
    for key, (size, mtime) in sorted(_listing(fs, root).items()):
        parts = tuple(key.split("/"))
        if not key or parts[0] in skip or _is_temp(parts):
            continue
        dest = local.joinpath(*parts)
        # exact: a file this function fetched carries the store's time (no second-rounding slack,
        # which could hide a rewrite made within it)
        if dest.is_file() and dest.stat().st_size == size and dest.stat().st_mtime >= mtime:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pafs.copy_files(f"{root}/{key}", tmp, source_filesystem=fs, destination_filesystem=local_fs)
            os.utime(tmp, (mtime, mtime))
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        got += 1
    return got


def upload(local: str | os.PathLike, uri: str) -> None:
    """One file or a whole folder to ``uri`` (overwriting)."""
    from pyarrow import fs as pafs

    fs, path = filesystem(uri)
    local = Path(local)
    if local.is_dir():
        fs.create_dir(path, recursive=True)
    else:
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pafs.copy_files(str(local), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def download(uri: str, local: str | os.PathLike) -> Path:
    """A file or folder at ``uri`` to ``local``, through a temporary name renamed into place."""
    from pyarrow import fs as pafs

    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(uri)
    local = Path(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=local.parent, prefix=f".{local.name}.dl-"))
    try:
        target = tmp / "x"
        if info.type == pafs.FileType.Directory:
            target.mkdir()
        pafs.copy_files(path, str(target), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        for key, (_, mtime) in _listing(fs, path).items():  # the store's times: push_tree must not send them back
            with contextlib.suppress(FileNotFoundError):
                os.utime(target.joinpath(*key.split("/")) if key else target, (mtime, mtime))
        try:
            os.rename(target, local)
        except OSError:
            if not local.exists():  # another process put it there first: theirs is as good
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return local


def localize(path: str | os.PathLike) -> str:
    """A local path for ``path``: itself when local, else this node's staging copy, downloaded
    on first use (one download per node: other processes wait on a file lock)."""
    if not is_uri(path):
        return local_form(path)
    from filelock import FileLock

    uri = str(path)
    local = staging_path(uri)
    if local.exists():
        return str(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(local.parent / f".{local.name}.lock")):
        if not local.exists():
            download(uri, local)
    return str(local)


def mirror_experiment(uri: str) -> Path:
    """This machine's copy of an experiment's result files on a store (tables, report, configs,
    Optuna journal, hypotheses), brought up to date; returns the local folder."""
    uri = uri.rstrip("/")
    local = staging_path(uri)
    pull_tree(uri, local, skip=NOT_MIRRORED)
    return local


def check_writable(uri: str, where: str = "storage_path") -> None:
    """Reach the store and write one small object there, or stop with an error naming the field.

    Run before Ray starts: a wrong bucket or missing credentials must not cost a trial."""
    from raymt.errors import ConfigError

    scheme = urlsplit(uri).scheme.lower()
    if scheme not in OBJECT_STORE_SCHEMES:
        raise ConfigError(
            f"{uri!r}: unknown storage scheme {scheme!r}",
            where=where,
            fix=f"use a folder or one of {', '.join(s + '://' for s in OBJECT_STORE_SCHEMES)}",
        )
    probe = join(uri, f".write-test-{os.getpid()}")
    try:
        fs, root = filesystem(uri)
        fs.create_dir(root, recursive=True)
        _, probe_path = filesystem(probe)
        with fs.open_output_stream(probe_path) as out:
            out.write(b"ok")
        fs.delete_file(probe_path)
    except Exception as err:  # pyarrow raises OSError/ArrowInvalid/ValueError by backend
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"cannot write to {uri} ({text})",
            where=where,
            fix="check the bucket name and your credentials (AWS_* / GOOGLE_APPLICATION_CREDENTIALS; "
            "AWS_ENDPOINT_URL for S3-compatible stores), or use a shared folder",
        ) from None
