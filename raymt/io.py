"""Atomic writes for every result file raymt produces.

A search runs for hours and is killed in ways nobody chooses (pre-emption, OOM killer,
Ctrl-C, a node lost). If ``trials.parquet`` or ``report.md`` were written in place, a kill
mid-write would leave a truncated file that looks valid to a quick glance and breaks the
next ``raymt report``. Every writer here therefore writes a temporary file *in the same
folder* (``os.replace`` is only atomic within one file system), flushes it to disk with
``fsync``, and renames it over the target: a reader sees the old file or the new one, never
half of one. The folder is fsynced too so the rename itself survives a power cut.

A process killed with SIGKILL cannot remove its own temporary file. Temporary names carry
the host name and process id (``.<name>.<host>.<pid>.<random>.tmp``), and the next write to
the same target removes the leftovers of dead processes on this host, so a crash leaves no
litter once the experiment writes again; files from other hosts on a shared folder are
never touched, because their process ids mean nothing here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only; keeps `import raymt.io` light
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "atomic_savefig",
    "atomic_to_csv",
    "atomic_to_parquet",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "remove_stale_temps",
]

_TMP_SUFFIX = ".tmp"


def _host_tag() -> str:
    # Dots would make the name ambiguous to parse; keep only the first label.
    return socket.gethostname().split(".")[0].replace("/", "_") or "host"


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files left next to ``target`` by killed processes of this host.

    Only files named like ours, for this target, from this host, whose process is gone are
    removed; returns the paths removed.
    """
    target = Path(target)
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    prefix = _temp_prefix(target)
    host = _host_tag()
    for candidate in target.parent.glob(f"{glob.escape(prefix)}*{_TMP_SUFFIX}"):
        rest = candidate.name[len(prefix) : -len(_TMP_SUFFIX)]
        parts = rest.split(".")
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _current_umask() -> int:
    # Python < 3.13 has no os.getumask(); reading it with os.umask() would briefly change
    # it for every thread, so read Linux's /proc instead and assume the usual 022 elsewhere.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _final_mode(target: Path) -> int:
    # mkstemp creates 0600 files; a result file should get the permissions a plain
    # open() would give it (or keep the ones the file it replaces had).
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some platforms/file systems cannot open folders; the data is synced
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``path``, on any exception it is removed.

    The caller writes the complete file to the yielded path (by any means: a library's
    ``to_parquet``, ``savefig``, ``open``). The parent folder is created if missing.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent,
        prefix=f"{_temp_prefix(target)}{_host_tag()}.{os.getpid()}.",
        suffix=_TMP_SUFFIX,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(
                f"atomic_write({str(target)!r}): the temporary file {tmp} was removed before "
                "it could be renamed; write to the yielded path, do not move it"
            )
        os.chmod(tmp, _final_mode(target))
        _fsync_path(tmp)
        os.replace(tmp, target)
        _fsync_path(target.parent, directory=True)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation); returns the path."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
    return Path(path)


def atomic_to_parquet(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """``df.to_parquet`` through a temp file; ``kwargs`` go to pandas (index=False by default)."""
    kwargs.setdefault("index", False)
    with atomic_write(path) as tmp:
        df.to_parquet(tmp, **kwargs)
    return Path(path)


def atomic_to_csv(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """``df.to_csv`` through a temp file; ``kwargs`` go to pandas (index=False by default)."""
    kwargs.setdefault("index", False)
    with atomic_write(path) as tmp:
        df.to_csv(tmp, **kwargs)
    return Path(path)


def atomic_savefig(fig: Figure, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """``fig.savefig`` through a temp file; the format comes from ``path``'s extension.

    The temp file ends in ``.tmp``, so the format is passed explicitly: matplotlib would
    otherwise guess it from the temp name.
    """
    target = Path(path)
    if "format" not in kwargs:
        suffix = target.suffix.lstrip(".").lower()
        if not suffix:
            raise ValueError(
                f"atomic_savefig: cannot tell the image format of {str(target)!r}; give the path an extension such as .png or pass format="
            )
        kwargs["format"] = suffix
    with atomic_write(target) as tmp:
        fig.savefig(tmp, **kwargs)
    return target


def ensure_writable(root: Path, where: str = "storage_path") -> Path:
    """Create ``root`` and prove it is writable, or stop with an error naming the field.

    Checked before any Ray work: a search that only finds out at its first checkpoint has
    already spent the compute of a whole trial.
    """
    from raymt.errors import ConfigError

    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"cannot write to {root} ({err.strerror or err})",
            where=where,
            fix="choose a folder you can write to (on a multi-node cluster: shared storage)",
        ) from None
    return root
