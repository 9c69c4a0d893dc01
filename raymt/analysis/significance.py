"""A noise-aware Pareto front: which front members are really different in BLEU?

Two fine-tuned models 0.3 BLEU apart on a few hundred dev sentences are often the same
model as far as the data can tell; the front nevertheless lists both, and a user picking
"the best" pays for the larger one. Here front members are compared with paired bootstrap
resampling (Koehn, 2004, EMNLP, "Statistical significance tests for machine translation
evaluation"), using sacrebleu's own implementation (``sacrebleu.significance.PairedTest``
with ``test_type="bs"``, the port of Moses' ``bootstrap-hypothesis-difference-significance.pl``)
on the hypothesis files each trial wrote, against the same references.

Grouping: members are walked from the smallest to the largest storage. The first member
opens a group and is its representative; each next member is tested against the
representative of the open group, and joins it when p >= alpha, else opens a new group.
Testing against the representative rather than the previous neighbour matters because
"indistinguishable" is not transitive: a chain of 0.3-BLEU steps would otherwise merge
models 3 BLEU apart. The *significant front* keeps one representative per group, the
smallest in storage: every other member of its group costs more disk for no BLEU gain the
data can show.

Resampling uses sacrebleu's seed (env ``SACREBLEU_SEED``, default 12345), so results are
reproducible, and the BLEU settings are read back from each trial's
``sacrebleu_signature`` so the test scores exactly what the search scored.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raymt.analysis.pareto import DEFAULT_OBJECTIVES, DEFAULT_STATUSES, pareto_front, validate_objectives
from raymt.errors import ConfigError, DataError
from raymt.object_store import localize

__all__ = [
    "bleu_from_signature",
    "paired_bootstrap",
    "significance_groups",
    "significant_front",
]

_SIGNATURE_KEYS = {"#": "nrefs", "c": "case", "e": "eff", "s": "smooth", "v": "version"}


def bleu_from_signature(signature: str | None) -> Any:
    """A sacrebleu ``BLEU`` configured like the one that produced ``signature``.

    Accepts the long (``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``) and
    the short (``#:1|c:mixed|e:no|tok:13a|s:exp|v:2.6.0``) forms; ``None``/empty gives
    sacrebleu's defaults.
    """
    from sacrebleu.metrics import BLEU

    if signature is None or (isinstance(signature, float) and np.isnan(signature)) or not str(signature).strip():
        return BLEU()
    if "; " in str(signature):  # raymt.metrics.bleu.combined_signature: the pairs were tokenised differently
        raise DataError(
            "the pairs of this multi-pair run were scored with different BLEU tokenizers; one paired "
            "bootstrap over all their sentences would mix them",
            where="sacrebleu_signature",
            fix="compare the trials pair by pair, or set one eval.bleu_tokenize for every pair",
        )
    fields: dict[str, str] = {}
    for part in str(signature).split("|"):
        if ":" not in part:
            continue
        key, value = part.split(":", 1)
        fields[_SIGNATURE_KEYS.get(key.strip(), key.strip())] = value.strip()
    kwargs: dict[str, Any] = {}
    if "tok" in fields:
        from raymt.metrics.bleu import tokenizer_from_signature

        kwargs["tokenize"] = tokenizer_from_signature(f"tok:{fields['tok']}")  # tok:ja-mecab-0.996-IPA -> ja-mecab
    if "case" in fields:
        kwargs["lowercase"] = fields["case"] == "lc"
    if "eff" in fields:
        kwargs["effective_order"] = fields["eff"] == "yes"
    if "smooth" in fields:
        method, _, value = fields["smooth"].partition("[")
        kwargs["smooth_method"] = method
        if value:
            kwargs["smooth_value"] = float(value.rstrip("]"))
    try:
        return BLEU(**kwargs)
    except (ValueError, KeyError, ImportError) as err:
        raise DataError(
            f"cannot rebuild BLEU from the signature {signature!r}: {err}",
            where="sacrebleu_signature",
            fix="install what the tokenizer needs, or score with a tokenizer sacrebleu ships",
        ) from err


def _trial_name(row: Mapping[str, Any] | pd.Series) -> str:
    return str(row.get("trial_id", "?"))


def _read_lines(path: Any, *, where: str, cache: dict[str, list[str]] | None = None) -> list[str]:
    if path is None or (isinstance(path, float) and np.isnan(path)) or str(path) == "":
        raise DataError(
            "no file recorded",
            where=where,
            fix="the trial must write its dev hypotheses/references (one sentence a line) and record their paths in hyps_path/refs_path",
        )
    try:
        path = localize(path)  # a results folder on an object store: this machine's copy
        key = str(Path(path).resolve())
        if cache is not None and key in cache:
            return cache[key]
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(
            f"cannot read {path}: {err.strerror or err}", where=where, fix="check that the results folder was copied with its hypothesis files"
        ) from err
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if cache is not None:
        cache[key] = lines
    return lines


def _system(row: Mapping[str, Any] | pd.Series, cache: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    name = _trial_name(row)
    hyps = _read_lines(row.get("hyps_path"), where=f"trial {name}: hyps_path", cache=cache)
    refs = _read_lines(row.get("refs_path"), where=f"trial {name}: refs_path", cache=cache)
    if len(hyps) != len(refs):
        raise DataError(
            f"{len(hyps)} hypotheses for {len(refs)} references",
            where=f"trial {name}: {row.get('hyps_path')}",
            fix="write exactly one hypothesis per reference line (empty line for an empty output)",
        )
    return hyps, refs


def paired_bootstrap(
    baseline: Mapping[str, Any] | pd.Series,
    system: Mapping[str, Any] | pd.Series,
    *,
    n_samples: int = 1000,
    _cache: dict[str, list[str]] | None = None,
) -> float:
    """p-value of sacrebleu's paired bootstrap test between two trials' BLEU.

    Each argument is a trials-table row (needs ``hyps_path``, ``refs_path``; uses
    ``sacrebleu_signature`` of the baseline). The null hypothesis is "no difference"; a
    small p (< 0.05) says the difference is unlikely to be resampling noise.
    """
    from sacrebleu.significance import PairedTest

    if n_samples < 1:
        raise ConfigError(f"n_samples must be >= 1, got {n_samples}", where="n_samples", fix="use e.g. 1000")
    cache = {} if _cache is None else _cache
    hyps_a, refs_a = _system(baseline, cache)
    hyps_b, refs_b = _system(system, cache)
    if refs_a != refs_b:
        raise DataError(
            f"trials {_trial_name(baseline)} and {_trial_name(system)} were scored on different references",
            where=f"refs_path {baseline.get('refs_path')} vs {system.get('refs_path')}",
            fix="compare only trials evaluated on the same dev set",
        )
    if hyps_a == hyps_b:
        # Identical outputs cannot differ. sacrebleu would return its minimum p = 1/(n+1)
        # here: every resampled difference is 0 and it counts only strictly larger ones.
        return 1.0
    metric = bleu_from_signature(baseline.get("sacrebleu_signature"))
    # PairedTest logs at INFO and may print progress; keep reports quiet.
    logger = logging.getLogger("sacrebleu")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            test = PairedTest(
                [(_trial_name(baseline), hyps_a), (_trial_name(system), hyps_b)],
                {"BLEU": metric},
                references=[refs_a],
                test_type="bs",
                n_samples=n_samples,
            )
            _, scores = test()
    finally:
        logger.setLevel(previous)
    (metric_name,) = [k for k in scores if k != "System"]
    return float(scores[metric_name][1].p_value)


def significance_groups(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    quality: str = "bleu",
    cost: str = "storage_mb",
    alpha: float = 0.05,
    n_samples: int = 1000,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> pd.DataFrame:
    """Front members (ascending ``cost``) with their indistinguishability group.

    Added columns: ``group`` (0, 1, ...), ``representative`` (True for the smallest member
    of each group), ``compared_with`` (the representative tested against; None for
    the first member; for a later representative, the previous one it differed from) and
    ``p_value`` (of that test; NaN for the first member).
    """
    objectives = validate_objectives(objectives, df)
    for column in (quality, cost):
        if column not in df.columns:
            raise ConfigError(
                f"column {column!r} is not in the trials table", where="significance_groups", fix=f"use one of: {', '.join(map(str, df.columns))}"
            )
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}", where="alpha", fix="use e.g. 0.05")
    front = pareto_front(df, objectives, statuses=statuses)
    front = front.sort_values([cost, quality], ascending=[True, False], kind="mergesort").copy()
    groups: list[int] = []
    representative: list[bool] = []
    compared_with: list[Any] = []
    p_values: list[float] = []
    cache: dict[str, list[str]] = {}
    anchor = None
    group = -1
    for _, row in front.iterrows():
        if anchor is None:
            opens, p, against = True, np.nan, None
        else:
            p = paired_bootstrap(anchor, row, n_samples=n_samples, _cache=cache)
            against = _trial_name(anchor)
            opens = p < alpha
        if opens:
            group += 1
            anchor = row
        groups.append(group)
        representative.append(opens)
        compared_with.append(against)
        p_values.append(p)
    front["group"] = pd.Series(groups, index=front.index, dtype="int64")
    front["representative"] = representative
    front["compared_with"] = pd.Series(compared_with, index=front.index, dtype=object)
    front["p_value"] = pd.Series(p_values, index=front.index, dtype=float)
    return front


def significant_front(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    **kwargs: Any,
) -> pd.DataFrame:
    """One representative (the smallest ``cost``) per group of indistinguishable members."""
    groups = significance_groups(df, objectives, **kwargs)
    return groups.loc[groups["representative"]]
