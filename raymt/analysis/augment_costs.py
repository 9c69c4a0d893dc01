"""The report section for augmentation work done once per experiment (back-translation).

Why a section of its own: a back-translation pool costs minutes to hours of generation,
paid once before the trials and shared by every trial whose ratio is above 0. Spread over the
trials' own times it would be invisible, so the report states it once, next to how many
trials used it. Works on plain dicts and a DataFrame (no Ray).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

LABELS = {"back_translation": "back-translation pool"}


def trials_using(trials_df: pd.DataFrame, operator: str) -> int | None:
    """Trials whose ratio for ``operator`` was above 0; None when the ratio was not a column
    (not searched: then every trial used the configured ratio)."""
    column = f"augment.{operator}.ratio"  # the searched ratio's column (raymt.results.columns)
    if column not in trials_df.columns:
        return None
    return int((pd.to_numeric(trials_df[column], errors="coerce").fillna(0) > 0).sum())


def describe_cost(operator: str, cost: Mapping, used_by: int | None) -> str:
    label = LABELS.get(operator, f"{operator} pool")
    actors = cost.get("actors", 1)
    text = (
        f"{label}: {cost.get('seconds', 0.0):.1f} s for {cost.get('sentences', 0)} sentences "
        f"({cost.get('sentences_per_s', 0.0):.1f} sentences/s of generation on {actors} actor{'s' if actors != 1 else ''}, "
        f"{cost.get('device', 'cpu')}, after {cost.get('startup_s', 0.0):.1f} s of actor start-up"
    )
    if cost.get("reverse_model_s", 0.0) >= 0.05:
        text += f"; {cost['reverse_model_s']:.1f} s to build or load the reverse model"
    text += ")"
    if cost.get("cached"):
        text += ", reused from the cache (that is what generating it cost once)"
    trials = "every trial" if used_by is None else f"the {used_by} trial{'s' if used_by != 1 else ''} that used it"
    return f"- {text}, shared by {trials}"


def augment_cost_section(costs: Mapping[str, Mapping], trials_df: pd.DataFrame) -> str:
    """Markdown lines, one per operator with a recorded cost ('' when none)."""
    return "\n".join(describe_cost(op, cost, trials_using(trials_df, op)) for op, cost in sorted(costs.items()))
