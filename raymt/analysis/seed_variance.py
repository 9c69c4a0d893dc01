"""Seed variance of the front: which front members still differ once the seed is counted.

On small MT tasks two fine-tuning seeds of one configuration can be as far apart as two methods
(BENCHMARKS.md: 1.8 BLEU), so a front read from one run per configuration can rank members by
luck. ``search.repeat_front: K`` re-runs every front member with K more seeds
(:mod:`raymt.search.repeat`, recorded in ``repeats.csv`` by :mod:`raymt.results.repeats`); here
each member gets its mean ± sd over seeds (the original run counts as one seed) and the members
are grouped by a test that counts that variance.

The test: Welch's t-test (Welch, 1947, Biometrika, "The generalization of 'Student's' problem
when several different population variances are involved"; unequal variances, two-sided,
``alpha`` = 0.05) on the per-seed BLEU of two members, the comparison of score distributions
over seeds that Reimers & Gurevych (2017, EMNLP, "Reporting Score Distributions Makes a
Difference") recommend over comparing single runs. It is run on the test split's BLEU when
every member has it for two seeds or more (data no choice used), else on the validation BLEU
(each seed's best epoch: selected on that split, so biased upwards alike for every member).
Grouping walks the members from the smallest to the largest storage and tests each against the
representative of the open group, as :mod:`raymt.analysis.significance` does for the paired
bootstrap (non-transitive "indistinguishable" cannot chain). With two seeds a member has one
degree of freedom: only large, steady differences come out significant, which is the honest
answer from that little data.

Works on DataFrames only (no Ray, no search).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from raymt.analysis.report import markdown_table

__all__ = ["SEED_COLUMNS", "seed_groups", "seed_summary", "seed_values", "seed_variance_section", "welch_p"]

#: the columns each repeated front member gets in the trials table
SEED_COLUMNS = ("bleu_mean", "bleu_sd", "n_seeds", "test_bleu_mean", "test_bleu_sd", "test_n_seeds")
#: a repeat's status when it ran to its end (the others carry ``error``)
COMPLETED = "completed"


def seed_values(trials: pd.DataFrame, repeats: pd.DataFrame, column: str = "bleu") -> dict[str, list[float]]:
    """Repeated trial id -> its ``column`` per seed: the original run first, then each
    completed repeat with a value (a repeat that failed, or was not scored, adds nothing)."""
    out: dict[str, list[float]] = {}
    if repeats is None or repeats.empty:
        return out
    by_id = trials.set_index(trials["trial_id"].astype(str))
    done = repeats[repeats["status"].astype(str) == COMPLETED] if "status" in repeats else repeats.iloc[0:0]
    for trial_id in dict.fromkeys(repeats["trial_id"].astype(str)):
        values = []
        if trial_id in by_id.index and column in by_id.columns:
            values.append(by_id.at[trial_id, column])
        if column in done.columns:
            values += list(done.loc[done["trial_id"].astype(str) == trial_id, column])
        out[trial_id] = [float(v) for v in pd.to_numeric(pd.Series(values, dtype=object), errors="coerce") if pd.notna(v)]
    return out


def _sd(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def seed_summary(trials: pd.DataFrame, repeats: pd.DataFrame) -> pd.DataFrame:
    """One row per repeated trial (index ``trial_id``) with :data:`SEED_COLUMNS`: mean, sample
    sd (ddof 1; NaN with one seed) and the number of seeds of validation and test BLEU."""
    rows = {}
    val, test = seed_values(trials, repeats, "bleu"), seed_values(trials, repeats, "test_bleu")
    for trial_id, values in val.items():
        t = test.get(trial_id, [])
        rows[trial_id] = {
            "bleu_mean": float(np.mean(values)) if values else math.nan,
            "bleu_sd": _sd(values),
            "n_seeds": len(values),
            "test_bleu_mean": float(np.mean(t)) if t else math.nan,
            "test_bleu_sd": _sd(t),
            "test_n_seeds": len(t),
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(SEED_COLUMNS)).rename_axis("trial_id")


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of Welch's t-test between two members' per-seed scores (NaN when either has
    fewer than two seeds). With no spread on either side the t statistic is undefined: equal
    means give p = 1, different ones p = 0 (every seed of one beats every seed of the other)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.var(a) == 0 and np.var(b) == 0:
        return 1.0 if float(np.mean(a)) == float(np.mean(b)) else 0.0
    from scipy.stats import ttest_ind

    return float(ttest_ind(a, b, equal_var=False).pvalue)


def seed_groups(trials: pd.DataFrame, repeats: pd.DataFrame, *, cost: str = "storage_mb", alpha: float = 0.05) -> tuple[pd.DataFrame, str]:
    """The repeated members (ascending ``cost``) with their group by Welch's t-test, and the
    split it was run on ("test" or "validation"). Columns: ``group`` (0, 1, ...; <NA> for a
    member with one seed, which cannot be tested), ``representative``, ``compared_with`` and
    ``p_value`` (of that test), besides the trials table's own."""
    test = seed_values(trials, repeats, "test_bleu")
    val = seed_values(trials, repeats, "bleu")
    on_test = bool(test) and all(len(v) >= 2 for v in test.values()) and set(test) == set(val)
    values, split = (test, "test") if on_test else (val, "validation")
    members = trials[trials["trial_id"].astype(str).isin(values)].copy()
    if cost in members.columns:
        members = members.sort_values(cost, kind="mergesort")
    groups, reps, against, p_values = [], [], [], []
    anchor: str | None = None
    group = -1
    for trial_id in members["trial_id"].astype(str):
        if len(values[trial_id]) < 2:
            groups.append(pd.NA)
            reps.append(False)
            against.append(None)
            p_values.append(math.nan)
            continue
        p = math.nan if anchor is None else welch_p(values[anchor], values[trial_id])
        opens = anchor is None or p < alpha
        if opens:
            group += 1
        groups.append(group)
        reps.append(opens)
        against.append(anchor)
        p_values.append(p)
        if opens:
            anchor = trial_id
    members["group"] = pd.array(groups, dtype="Int64")
    members["representative"] = reps
    members["compared_with"] = pd.Series(against, index=members.index, dtype=object)
    members["p_value"] = pd.Series(p_values, index=members.index, dtype=float)
    return members, split


def _mean_sd(mean, sd, n) -> str:
    if pd.isna(mean):
        return ""
    if pd.isna(sd):
        return f"{mean:.2f} (n={int(n)})"
    return f"{mean:.2f} ± {sd:.2f} (n={int(n)})"


def seed_variance_section(
    trials: pd.DataFrame,
    repeats: pd.DataFrame,
    *,
    test_groups: pd.DataFrame | None = None,
    seconds: Mapping[str, float] | None = None,
    alpha: float = 0.05,
) -> str:
    """The report's "Seed variance of the front" section ("" without repeats).

    ``test_groups``: the paired-bootstrap grouping of the front on the test sentences
    (:func:`raymt.analysis.held_out.test_significance`), shown next to the seed grouping.
    ``seconds``: the repeats' timings (``repeat_front_s``, ``repeat_test_scoring_s``)."""
    if repeats is None or repeats.empty:
        return ""
    summary = seed_summary(trials, repeats)
    members, split = seed_groups(trials, repeats, alpha=alpha)
    per_member = summary.reindex(members["trial_id"].astype(str))
    for col in SEED_COLUMNS:
        members[col] = per_member[col].to_numpy()
    k = int(repeats.groupby("trial_id").size().max())
    parts = [
        f"Each front member was trained again with {k} more seed(s) (`search.repeat_front: {k}`; `train.seed` + 1, + 2, ..., "
        "everything else as the member; each seed's BLEU is its best epoch on validation, as in the search). "
        "The original run counts as one seed; ± is the sample standard deviation over seeds; every run is in repeats.csv. "
        f"Groups: Welch's t-test (unequal variances, two-sided, alpha = {alpha}; Welch 1947; as Reimers & Gurevych 2017 "
        f"recommend for comparing seeds) on the per-seed **{split}** BLEU, each member (smallest storage first) against "
        "the representative of the open group; a member joins the group when p >= alpha."
    ]
    if len(members):
        boot = {}
        if test_groups is not None and len(test_groups) and "group" in test_groups:
            boot = dict(zip(test_groups["trial_id"].astype(str), test_groups["group"]))
        table = pd.DataFrame(
            {
                "trial_id": members["trial_id"].astype(str),
                "method": members["method"] if "method" in members else "",
                "storage_mb": pd.to_numeric(members.get("storage_mb"), errors="coerce") if "storage_mb" in members else np.nan,
                "bleu (this run)": pd.to_numeric(members["bleu"], errors="coerce"),
                "bleu over seeds": [_mean_sd(m, s, n) for m, s, n in zip(members["bleu_mean"], members["bleu_sd"], members["n_seeds"])],
                "test_bleu over seeds": [
                    _mean_sd(m, s, n) if n else "" for m, s, n in zip(members["test_bleu_mean"], members["test_bleu_sd"], members["test_n_seeds"])
                ],
                "seed group": ["-" if pd.isna(g) else str(int(g)) for g in members["group"]],
                "p (Welch)": members["p_value"],
                "test group (bootstrap)": [str(boot.get(t, "off the test front" if boot else "")) for t in members["trial_id"].astype(str)],
            }
        )
        parts.append(markdown_table(table, {"storage_mb": ".4g", "bleu (this run)": ".2f", "p (Welch)": ".3f"}))
        tested = members[members["group"].notna()]
        n_groups = int(tested["group"].nunique()) if len(tested) else 0
        listed = " | ".join(
            "{" + ", ".join(tested.loc[tested["group"] == g, "trial_id"].astype(str)) + "}" for g in sorted(tested["group"].dropna().unique())
        )
        if len(tested) > 1 and n_groups == len(tested):
            verdict = f"Once seed variance is counted, all {len(tested)} front members are distinguishable from each other ({split} BLEU): {listed}."
        elif len(tested) > 1:
            verdict = (
                f"Once seed variance is counted, the {len(tested)} front members form {n_groups} group(s) of members that the seeds "
                f"cannot tell apart ({split} BLEU): {listed}. Within a group, the smallest member (first) gives the same BLEU for less storage."
            )
        else:
            verdict = "Fewer than two front members have two seeds: nothing to compare."
        if boot:
            verdict += (
                f" The paired bootstrap on the test sentences (one seed each; it counts only sentence sampling) "
                f"finds {len(set(boot.values()))} group(s)."
            )
        untested = members[members["group"].isna()]
        if len(untested):
            verdict += f" Not tested (one seed: its repeats failed): {', '.join(untested['trial_id'].astype(str))}."
        parts.append(verdict)
    failed = repeats[repeats["status"].astype(str) != COMPLETED] if "status" in repeats else repeats.iloc[0:0]
    if len(failed):
        parts.append(
            "Repeats that did not finish:\n"
            + "\n".join(
                f"- {r['trial_id']} seed {_int(r.get('seed'))}: {r.get('status')}: {r.get('error') or ''}".rstrip(": ") for _, r in failed.iterrows()
            )
        )
    if seconds:
        spent = [f"{k} {v:.1f} s" for k, v in seconds.items() if isinstance(v, (int, float))]
        if spent:
            parts.append(f"The repeats took {', '.join(spent)} (timings.json).")
    return "\n\n".join(parts)


def _int(value) -> str:
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return str(value)
