"""Reading corpus files: gzip, UTF-8 and line numbering, with errors a user can act on."""

from __future__ import annotations

import gzip
from pathlib import Path

from raymt.errors import DataError


def find_file(base: Path) -> Path | None:
    """``base`` or ``base.gz``, whichever exists; refuses both (which one is the corpus?)."""
    gz = base.with_name(base.name + ".gz")
    plain_exists, gz_exists = base.is_file(), gz.is_file()
    if plain_exists and gz_exists:
        raise DataError(
            f"both {base.name} and {gz.name} exist, so the corpus is ambiguous",
            where=str(base.parent),
            fix=f"delete or rename one of {base.name} / {gz.name}",
        )
    if plain_exists:
        return base
    if gz_exists:
        return gz
    return None


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file (gzipped if it ends in ``.gz``), without line endings.

    Splits on ``\\n`` only, not ``str.splitlines()``: the latter also breaks at U+2028,
    U+0085 and form feeds, which occur inside real sentences and would silently misalign two
    parallel files.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", where=str(path), fix="check data.path and the split/language names") from None
    except IsADirectoryError:
        raise DataError("expected a file, found a folder", where=str(path), fix="point data.path at the corpus file") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"not a valid gzip file ({err})", where=str(path), fix="re-download the file or remove the .gz suffix") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"bytes that are not UTF-8 ({raw[err.start : err.start + 4]!r})",
            where=f"{path}:{line}",
            fix="convert the file to UTF-8, e.g. `iconv -f latin1 -t utf-8`",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is not part of the first sentence
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start an empty last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]
