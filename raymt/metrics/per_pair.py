"""Names of per-pair scores, and their unweighted mean, shared by the worker, the results
table and the report (pure Python: the analysis side must not import Ray or torch).

A multi-pair trial reports ``bleu_<src>-<tgt>`` / ``chrf_<src>-<tgt>`` for every pair (mBART
codes, e.g. ``bleu_en_XX-de_DE``) and ``bleu`` / ``chrf`` = their unweighted mean: the macro
average of multilingual NMT papers (Arivazhagan et al. 2019, "Massively Multilingual Neural
Machine Translation in the Wild"), so a small pair counts as much as a large one in the search
objective, whatever the sampling temperature was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PAIR_METRICS = ("bleu", "chrf")
_PAIR_COLUMN = re.compile(r"^(bleu|chrf)_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)-([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)$")


def pair_key(src_lang: str, tgt_lang: str) -> str:
    """``en_XX-de_DE``: the name of a translation direction in metric and column names."""
    return f"{src_lang}-{tgt_lang}"


def pair_metric(metric: str, pair: str) -> str:
    return f"{metric}_{pair}"


def is_pair_metric(column: str) -> bool:
    return bool(_PAIR_COLUMN.match(str(column)))


def pair_metric_columns(columns: Iterable[str]) -> list[str]:
    """The per-pair score columns among ``columns``, in their order."""
    return [c for c in columns if is_pair_metric(c)]


def pairs_in(columns: Iterable[str]) -> list[str]:
    """The pair keys that have a per-pair BLEU column, in column order."""
    out: list[str] = []
    for column in columns:
        match = _PAIR_COLUMN.match(str(column))
        if match and match.group(1) == "bleu":
            out.append(f"{match.group(2)}-{match.group(3)}")
    return out


def mean_over_pairs(values: Mapping[str, float]) -> float:
    """Unweighted mean of per-pair values (NaN if there are none)."""
    if not values:
        return float("nan")
    return sum(values.values()) / len(values)
