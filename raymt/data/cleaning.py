"""Pair filters and the report of what each one removed.

Counting every drop matters: a silent filter that removes 40% of a corpus (say, because the
length ratio is wrong for a language pair with long compounds) looks to the user like a bad
model, not like a data problem. The report says which filter removed how much, per split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from raymt.data.config import CleaningConfig
from raymt.data.splits import Pair

FILTER_NAMES = ("empty", "max_words", "length_ratio")


@dataclass
class CleaningReport:
    """What happened to each split between the files and the training loop."""

    read: dict[str, int] = field(default_factory=dict)  # pairs read, per split
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> filter -> pairs
    carved: dict[str, int] = field(default_factory=dict)  # held-out split -> pairs taken from train
    overlap_dropped: int = 0  # train pairs dropped because their source is in a carved split
    capped: int = 0  # train pairs left out by max_train_pairs
    kept: dict[str, int] = field(default_factory=dict)  # final pairs, per split
    notes: list[str] = field(default_factory=list)

    def total_dropped(self, split: str) -> int:
        return sum(self.dropped.get(split, {}).values())

    def to_dict(self) -> dict:
        return {
            "read": dict(self.read),
            "dropped": {k: dict(v) for k, v in self.dropped.items()},
            "carved": dict(self.carved),
            "overlap_dropped": self.overlap_dropped,
            "capped": self.capped,
            "kept": dict(self.kept),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few human-readable lines, for logs and the experiment report."""
        lines = []
        for split in ("train", "validation", "test"):
            if split not in self.kept:
                continue
            parts = [f"{split}: {self.kept[split]} pairs"]
            if split in self.carved:
                parts.append(f"carved from train ({self.carved[split]})")
            else:
                parts.append(f"read {self.read.get(split, 0)}")
            drops = {k: v for k, v in self.dropped.get(split, {}).items() if v}
            if drops:
                parts.append("dropped " + ", ".join(f"{k}={v}" for k, v in drops.items()))
            lines.append("; ".join(parts))
        if self.overlap_dropped:
            lines.append(f"train: dropped {self.overlap_dropped} pairs duplicating a carved held-out source")
        if self.capped:
            lines.append(f"train: left out {self.capped} pairs (max_train_pairs)")
        lines.extend(self.notes)
        return "\n".join(lines)


def _filters(cfg: CleaningConfig) -> list[tuple[str, Callable[[int, int, Pair], bool]]]:
    """(name, rejects) pairs; ``rejects(n_src_words, n_tgt_words, pair)`` is True to drop."""
    out: list[tuple[str, Callable[[int, int, Pair], bool]]] = []
    if cfg.drop_empty:
        out.append(("empty", lambda ns, nt, p: ns == 0 or nt == 0))
    if cfg.max_words is not None:
        limit = cfg.max_words
        out.append(("max_words", lambda ns, nt, p: ns > limit or nt > limit))
    if cfg.max_length_ratio is not None:
        ratio = cfg.max_length_ratio
        out.append(("length_ratio", lambda ns, nt, p: max(ns, nt) > ratio * max(1, min(ns, nt))))
    return out


def clean_pairs(pairs: list[Pair], cfg: CleaningConfig) -> tuple[list[Pair], dict[str, int]]:
    """Keep the pairs no filter rejects; a dropped pair is counted by the first filter that
    rejects it, so the counts add up to the number of pairs removed."""
    filters = _filters(cfg)
    counts = {name: 0 for name in FILTER_NAMES}
    kept: list[Pair] = []
    for pair in pairs:
        ns, nt = len(pair[0].split()), len(pair[1].split())
        for name, rejects in filters:
            if rejects(ns, nt, pair):
                counts[name] += 1
                break
        else:
            kept.append(pair)
    return kept, counts
