"""Validation next to test: which of the search's choices survive held-out data.

The front, its knee and the best trial are chosen on the validation split, whose BLEU is also
the best of each trial's epochs: two selections on one set of sentences. The test columns
(``test_bleu``, ``test_chrf``, ``test_bleu_ci95``: :mod:`raymt.results.test_scores`) score the
chosen trials once on data no choice used. This section puts the two side by side, draws the
front again with the test score in place of the validation one (among the trials scored on
test), and says in plain words which choice changes: the best trial, the knee, front members.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from raymt.analysis.front import Front
from raymt.analysis.report import markdown_table
from raymt.errors import ConfigError, DataError, RaymtError
from raymt.results.files import TEST_HYPS_DIR, TEST_REFERENCES

#: validation objective -> its held-out column
_TEST_OF = {"bleu": "test_bleu", "chrf": "test_chrf"}


def held_out_objectives(objectives: Mapping[str, str], columns) -> dict[str, str] | None:
    """``objectives`` with each validation score replaced by its test column (None when a
    score objective has no test column, or no objective is a score)."""
    out, swapped = {}, False
    for name, mode in objectives.items():
        test = _TEST_OF.get(name) or (f"test_{name}" if name.startswith(("bleu_", "chrf_")) else None)
        if test is None:
            out[name] = mode
        elif test in columns:
            out[test], swapped = mode, True
        else:
            return None
    return out if swapped else None


def scored_on_test(df: pd.DataFrame) -> pd.DataFrame:
    """The trials that have a test score."""
    if "test_bleu" not in df.columns:
        return df.iloc[0:0]
    return df[pd.to_numeric(df["test_bleu"], errors="coerce").notna()]


def _name(row: pd.Series) -> str:
    method = row.get("method")
    return f"{row['trial_id']} ({method})" if isinstance(method, str) and method else str(row["trial_id"])


def _knee(df: pd.DataFrame, objectives: Mapping[str, str]):
    try:
        front = Front(df, objectives)
        return front.knee() if len(front) else None
    except (ConfigError, DataError):  # e.g. a front too small for the knee: the sentence is left out
        return None


def choice_changes(df: pd.DataFrame, objectives: Mapping[str, str]) -> list[str]:
    """One plain sentence per choice (best trial, knee, front), saying whether test agrees."""
    scored = scored_on_test(df)
    tobj = held_out_objectives(objectives, df.columns)
    if scored.empty or tobj is None:
        return []
    quality = next(iter(objectives))
    tquality = next(iter(tobj))
    sign = 1 if objectives[quality] == "max" else -1
    lines = []
    best_val = scored.loc[(sign * pd.to_numeric(scored[quality])).idxmax()]
    best_test = scored.loc[(sign * pd.to_numeric(scored[tquality])).idxmax()]
    if best_val["trial_id"] == best_test["trial_id"]:
        lines.append(f"The best {quality} is the same trial by validation and by test: {_name(best_val)}.")
    else:
        lines.append(f"The best {quality} by validation is {_name(best_val)}, by test {_name(best_test)}: the choice changes.")
    if len(objectives) == 2:
        by_val, by_test = _knee(df, objectives), _knee(scored, tobj)
        if by_val is not None and by_test is not None and (by_val.found or by_test.found):  # no knee either way: the best trial said it
            if not (by_val.found and by_test.found):
                which = "validation" if not by_val.found else "test"
                lines.append(
                    f"By {which} the front has no knee (the member with the best {quality} stands in): "
                    f"by validation {_name(by_val.row)}, by test {_name(by_test.row)}."
                )
            elif by_val.trial_id == by_test.trial_id:
                lines.append(f"The knee is the same by validation and by test: {_name(by_val.row)}.")
            else:
                lines.append(f"The knee by validation is {_name(by_val.row)}, by test {_name(by_test.row)}: the choice changes.")
    val_front = set(Front(df, objectives).members["trial_id"].astype(str))
    test_front = set(Front(scored, tobj).members["trial_id"].astype(str))
    dropped = sorted(val_front & set(scored["trial_id"].astype(str)) - test_front)
    if dropped:
        lines.append(
            f"On test, {', '.join(dropped)} {'is' if len(dropped) == 1 else 'are'} dominated by another scored trial: off the front by test."
        )
    else:
        lines.append("Every scored member of the validation front is also on the front by test.")
    return lines


def base_reference(base_scores: Mapping[str, Mapping] | None) -> dict | None:
    """The untouched base as one reference row: validation and test BLEU (the mean over pairs,
    as a multi-pair trial's) and the test interval (pairs combined as a trial's are); None until
    the base is scored on test (:mod:`raymt.results.test_scores`)."""
    scores = list((base_scores or {}).values())
    if not scores or any("test_bleu" not in s for s in scores):
        return None
    n = len(scores)
    return {
        "bleu": sum(float(s["bleu"]) for s in scores) / n,
        "chrf": sum(float(s.get("chrf", np.nan)) for s in scores) / n,
        "test_bleu": sum(float(s["test_bleu"]) for s in scores) / n,
        "test_chrf": sum(float(s.get("test_chrf", np.nan)) for s in scores) / n,
        "test_bleu_ci95": float(np.sqrt(sum(float(s["test_bleu_ci95"]) ** 2 for s in scores))) / n,
    }


def above_base(scored: pd.DataFrame, base: Mapping) -> str:
    """Which scored trials beat the untouched base on test beyond both bootstrap intervals."""
    floor = base["test_bleu"] + base["test_bleu_ci95"]
    low = pd.to_numeric(scored["test_bleu"]) - pd.to_numeric(scored.get("test_bleu_ci95", 0.0), errors="coerce").fillna(0.0)
    not_above = sorted(scored.loc[~(low > floor), "trial_id"].astype(str))
    head = f"The untouched base scores {base['test_bleu']:.2f} ± {base['test_bleu_ci95']:.2f} test BLEU: "
    if not not_above:
        return head + "every scored trial is above it beyond both intervals."
    return head + f"{', '.join(not_above)} {'is' if len(not_above) == 1 else 'are'} not above it beyond both intervals."


def test_significance(
    df: pd.DataFrame, objectives: Mapping[str, str], folder: str | Path, *, alpha: float = 0.05, n_samples: int = 1000
) -> tuple[pd.DataFrame | None, str]:
    """The paired-bootstrap grouping (:func:`raymt.analysis.significance.significance_groups`)
    of the front by test, on the test sentences: each scored trial's test hypotheses
    (``test_hyps/<trial>.txt``) against ``test_references.txt``, BLEU as its ``test_signature``.
    Returns the groups (None when not computed) and a sentence saying why not."""
    from raymt.analysis.significance import significance_groups

    scored = scored_on_test(df)
    tobj = held_out_objectives(objectives, df.columns)
    if scored.empty or tobj is None:
        return None, ""
    quality = next(iter(tobj))
    if quality != "test_bleu" or "storage_mb" not in tobj:
        return None, "Not computed: needs the objectives bleu and storage_mb."
    folder = Path(folder)
    systems = scored.copy()
    systems["hyps_path"] = [str(folder / TEST_HYPS_DIR / f"{t}.txt") for t in systems["trial_id"].astype(str)]
    systems["refs_path"] = str(folder / TEST_REFERENCES)
    systems["sacrebleu_signature"] = systems.get("test_signature")
    try:
        groups = significance_groups(systems, tobj, quality=quality, alpha=alpha, n_samples=n_samples, statuses=None)
    except RaymtError as err:
        return None, f"Not computed: {err}"
    return groups, ""


def _test_groups_text(groups: pd.DataFrame | None, why: str, alpha: float, n_samples: int) -> str:
    if groups is None:
        return f"Paired bootstrap on test: {why}" if why else ""
    reps = groups.loc[groups["representative"], "trial_id"].astype(str)
    cols = [c for c in ("trial_id", "method", "storage_mb", "test_bleu", "group", "representative", "compared_with", "p_value") if c in groups]
    return (
        f"Paired bootstrap on test (sacrebleu, Koehn 2004, {n_samples} resamples of the test sentences): the front by test, "
        f"smallest first, each member against the representative of the open group, joining it when p >= {alpha}. "
        f"the {len(groups)} members form **{len(reps)} group(s)** on test (representatives: {', '.join(reps)}); this counts only the sampling of "
        "sentences, not the training seed (see Seed variance of the front when search.repeat_front ran).\n\n"
        + markdown_table(groups[cols], {"storage_mb": ".4g", "test_bleu": ".2f", "p_value": ".3f"})
    )


def held_out_section(
    df: pd.DataFrame,
    objectives: Mapping[str, str],
    *,
    seconds: float | None = None,
    test_groups: tuple[pd.DataFrame | None, str] | None = None,
    alpha: float = 0.05,
    n_samples: int = 1000,
    base_scores: Mapping[str, Mapping] | None = None,
) -> str:
    """The report's "Validation vs held-out test" section ("" when no trial has a test score).
    ``test_groups``: what :func:`test_significance` returned, shown after the choices.
    ``base_scores``: ``prepared.json``'s, whose test columns add the untouched base as a reference row."""
    scored = scored_on_test(df)
    errors = df[df["test_error"].fillna("").astype(str).str.len() > 0] if "test_error" in df.columns else df.iloc[0:0]
    errors = errors[~errors["trial_id"].isin(scored["trial_id"])] if len(errors) else errors
    if scored.empty and errors.empty:
        return ""
    parts = [
        "`bleu` is each trial's best epoch on the validation split, the split the front was chosen on; "
        "`test_bleu` scores the trial's kept model once on the test split, which no choice used "
        "(same decoding; ± is sacrebleu's bootstrap 95% interval, 1000 resamples). "
        "The front by test is drawn among the scored trials only."
    ]
    tobj = held_out_objectives(objectives, df.columns)
    if not scored.empty:
        val_front = set(Front(df, objectives).members["trial_id"].astype(str))
        test_front = set(Front(scored, tobj).members["trial_id"].astype(str)) if tobj else set()
        table = pd.DataFrame(
            {
                "trial_id": scored["trial_id"].astype(str),
                "method": scored.get("method", pd.Series([""] * len(scored), index=scored.index)),
                "storage_mb": pd.to_numeric(scored.get("storage_mb"), errors="coerce") if "storage_mb" in scored else np.nan,
                "bleu (val)": pd.to_numeric(scored["bleu"], errors="coerce") if "bleu" in scored else np.nan,
                "test_bleu": [
                    f"{b:.2f} ± {c:.2f}" if pd.notna(c) else f"{b:.2f}"
                    for b, c in zip(pd.to_numeric(scored["test_bleu"]), pd.to_numeric(scored.get("test_bleu_ci95", np.nan), errors="coerce"))
                ],
                "chrf (val)": pd.to_numeric(scored["chrf"], errors="coerce") if "chrf" in scored else np.nan,
                "test_chrf": pd.to_numeric(scored.get("test_chrf"), errors="coerce"),
                "front by": [
                    "val+test" if t in val_front and t in test_front else "val" if t in val_front else "test" if t in test_front else "-"
                    for t in scored["trial_id"].astype(str)
                ],
            }
        )
        order = (-pd.to_numeric(scored["test_bleu"])).argsort(kind="stable").to_numpy()
        table = table.iloc[order]
        base = base_reference(base_scores)
        if base is not None:
            reference = {
                "trial_id": "untouched base",
                "method": "-",
                "storage_mb": np.nan,
                "bleu (val)": base["bleu"],
                "test_bleu": f"{base['test_bleu']:.2f} ± {base['test_bleu_ci95']:.2f}",
                "chrf (val)": base["chrf"],
                "test_chrf": base["test_chrf"],
                "front by": "-",
            }
            table = pd.concat([table, pd.DataFrame([reference])], ignore_index=True)
        parts.append(
            "Trials by test BLEU:\n\n" + markdown_table(table, {"storage_mb": ".3f", "bleu (val)": ".2f", "chrf (val)": ".2f", "test_chrf": ".2f"})
        )
        gap = pd.to_numeric(scored["bleu"], errors="coerce") - pd.to_numeric(scored["test_bleu"])
        if gap.notna().any():
            parts.append(f"Validation minus test BLEU over these trials: mean {gap.mean():+.2f}, from {gap.min():+.2f} to {gap.max():+.2f}.")
        lines = choice_changes(df, objectives) + ([above_base(scored, base)] if base is not None else [])
        parts.append("\n".join(f"- {line}" for line in lines))
        if test_groups is not None and (text := _test_groups_text(*test_groups, alpha, n_samples)):
            parts.append(text)
    if not errors.empty:
        parts.append("Not scored on test:\n" + "\n".join(f"- {r['trial_id']}: {r['test_error']}" for _, r in errors.iterrows()))
    if seconds is not None:
        sentences = scored["test_sentences"].max() if "test_sentences" in scored and len(scored) else None
        size = f" on {int(sentences)} test sentences" if sentences is not None and pd.notna(sentences) else ""
        parts.append(f"Test scoring took {seconds:.1f} s for {len(scored)} trial(s){size} (timings.json: test_scoring_s).")
    return "\n\n".join(parts)


def held_out_summary(df: pd.DataFrame, objectives: Mapping[str, str]) -> str:
    """The lines a terminal shows after the front: what test says about the choices."""
    lines = choice_changes(df, objectives)
    return ("Held-out test:\n" + "\n".join(f"  {line}" for line in lines)) if lines else ""
