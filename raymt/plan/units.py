"""Memory sizes as people write them ("80GB", "24 GiB", "40g") and as the plan prints them.

GPU memory is sold and shown (nvidia-smi) in binary units: an "80GB" A100/H100 has 80 GiB.
So GB, GiB and G all mean 2**30 bytes here. Storage on disk keeps raymt's SI unit (MB = 10**6
bytes, the ``storage_mb`` objective), printed as GB = 10**9.
"""

from __future__ import annotations

import re

__all__ = ["gib", "parse_memory", "storage"]

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_POWER = {"": 3, "k": 1, "m": 2, "g": 3, "t": 4}  # a bare number is GiB


def parse_memory(value: str | int | float) -> int:
    """Bytes of a memory size: ``"80GB"``, ``"80 GiB"``, ``"81920M"``, ``80`` (GiB)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"a memory size must be positive, got {value}")
        return int(value * 1024**3)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"cannot read {value!r} as a memory size; write e.g. 80GB, 24GiB or 40")
    number = float(match.group(1))
    if number <= 0:
        raise ValueError(f"a memory size must be positive, got {value!r}")
    return int(number * 1024 ** _POWER[match.group(2).lower()])


def gib(nbytes: int | float) -> str:
    """``12.3 GiB`` (memory)."""
    return f"{nbytes / 1024**3:.1f} GiB" if nbytes >= 0.1 * 1024**3 else f"{nbytes / 1024**2:.0f} MiB"


def storage(nbytes: int | float) -> str:
    """``2.44 GB`` / ``37.8 MB`` / ``512 kB`` (SI, as the storage objective)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes / 1e3:.0f} kB"
