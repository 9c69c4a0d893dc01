"""Bytes on disk: what a trial's artefact really costs, and what it will cost before training.

Storage is one of the two search objectives (``storage_mb``, minimised), so it is measured as
the bytes a user has to keep, not as a parameter count: a LoRA adapter of 25k parameters is
100 kB of tensors *plus* a safetensors header and a JSON config that are a few percent of it.
:func:`artifact_bytes` measures a saved artefact; :func:`safetensors_bytes` predicts the exact
size of a safetensors file from tensor names and shapes alone, which is what every method's
``estimate_bytes`` builds on (``raymt/methods/base.py``), so the estimate is known from the
model config before a trial starts.

Units: ``MB`` here is 10**6 bytes (SI), not MiB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

__all__ = [
    "DTYPE_NAMES",
    "artifact_bytes",
    "dtype_nbytes",
    "mb",
    "safetensors_bytes",
    "safetensors_header",
]

#: torch dtype -> the dtype string safetensors writes in its header, in the writer's layout
#: order (its ``Dtype`` enum, largest first; checked against safetensors 0.8).
DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.int64: "I64",
    torch.float64: "F64",
    torch.float32: "F32",
    torch.int32: "I32",
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_LAYOUT_RANK = {dtype: rank for rank, dtype in enumerate(DTYPE_NAMES)}


def mb(nbytes: int | float) -> float:
    """Bytes -> MB with MB = 10**6 bytes (the unit of the ``storage_mb`` objective)."""
    return nbytes / 1e6


def artifact_bytes(path: str | os.PathLike) -> int:
    """Real bytes of every regular file under ``path`` (recursively); a file counts as itself.

    Everything counts, configs included, because everything is what the user copies around.
    Symbolic links are not followed, so a link into a cache is not counted twice.
    """
    root = Path(path)
    if root.is_file():
        return root.stat().st_size
    if not root.is_dir():
        raise FileNotFoundError(f"no artefact at {root}")
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            file = Path(dirpath, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def dtype_nbytes(dtype: torch.dtype) -> int:
    """Bytes per element of ``dtype``."""
    return torch.empty((), dtype=dtype).element_size()


def safetensors_header(
    tensors: Mapping[str, tuple[torch.dtype, Sequence[int]]],
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The header bytes (length prefix excluded) the safetensors writer produces for ``tensors``.

    Mirrors the reference implementation (safetensors ``tensor.rs``: ``prepare`` + ``serialize``):
    tensors are laid out by dtype (the writer's enum order), then by name; the header is compact JSON
    with ``__metadata__`` first and each tensor's ``data_offsets``, padded with spaces to a
    multiple of 8 bytes. Exactness matters for small adapters, whose header is several percent
    of the file.
    """
    order = sorted(tensors, key=lambda name: (_LAYOUT_RANK[tensors[name][0]], name))
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name in order:
        dtype, shape = tensors[name]
        nbytes = dtype_nbytes(dtype)
        for dim in shape:
            nbytes *= int(dim)
        header[name] = {
            "dtype": DTYPE_NAMES[dtype],
            "shape": [int(dim) for dim in shape],
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return text + b" " * (-len(text) % 8)


def safetensors_bytes(
    tensors: Mapping[str, tuple[torch.dtype, Sequence[int]]],
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Exact size in bytes of the safetensors file holding ``tensors`` (name -> (dtype, shape)).

    8-byte length prefix + padded JSON header + raw tensor data, nothing else.
    """
    data = 0
    for dtype, shape in tensors.values():
        nbytes = dtype_nbytes(dtype)
        for dim in shape:
            nbytes *= int(dim)
        data += nbytes
    return 8 + len(safetensors_header(tensors, metadata)) + data
