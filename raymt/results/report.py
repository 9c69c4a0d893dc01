"""``report.md`` of a results folder, rebuilt from the folder's own files.

One function for the end of a search and for ``raymt report``: both read the trials, the
history, ``timings.json`` and ``prepared.json`` from the folder, so a rebuilt report has the
same sections (Run, Data, the shared augmentation cost) as the one the search wrote.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd

from raymt.analysis.augment_costs import augment_cost_section
from raymt.analysis.data_section import data_section
from raymt.analysis.held_out import held_out_section, test_significance
from raymt.analysis.report import write_report
from raymt.analysis.results import load, load_history
from raymt.analysis.seed_variance import seed_variance_section

from raymt.results.repeats import load_repeats
from raymt.results.checkpoints import checkpoint_section
from raymt.results.files import CHECKPOINTS, PREPARED, TIMINGS


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def report_sections(results_dir: Path, trials: pd.DataFrame, objectives: Mapping[str, str] | None = None) -> dict[str, str]:
    """The report's sections about the run itself, from ``timings.json`` and ``prepared.json``,
    validation next to held-out test (with ``objectives``; the paired bootstrap on the test
    sentences) and the front's seed variance (``repeats.csv``)."""
    timings = _read_json(results_dir / TIMINGS)
    prepared = _read_json(results_dir / PREPARED)
    extra: dict[str, str] = {}
    if timings:
        extra["Run"] = "\n".join(f"- {k}: {v:.1f} s" for k, v in timings.items() if isinstance(v, (int, float)))
    if prepared:
        extra["Data"] = data_section(prepared, trials)
    test_groups = test_significance(trials, objectives, results_dir) if objectives else None
    held_out = (
        held_out_section(trials, objectives, seconds=timings.get("test_scoring_s"), test_groups=test_groups, base_scores=prepared.get("base_scores"))
        if objectives
        else ""
    )
    if held_out:
        extra["Validation vs held-out test"] = held_out
    repeats = load_repeats(results_dir)
    if len(repeats):
        spent = {k: timings[k] for k in ("repeat_front_s", "repeat_test_scoring_s") if k in timings}
        extra["Seed variance of the front"] = seed_variance_section(
            trials, repeats, test_groups=test_groups[0] if test_groups else None, seconds=spent
        )
    budget = _read_json(results_dir / CHECKPOINTS)
    if budget:
        extra["Checkpoints"] = checkpoint_section(budget)
    costs = prepared.get("augment_costs")
    if costs:  # paid once for the whole search (back-translation): shown once
        extra["Shared augmentation cost"] = augment_cost_section(costs, trials)
    return extra


def rebuild_report(
    results_dir: str | Path,
    objectives: Mapping[str, str],
    *,
    trials: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    log_params: Collection[str] | None = None,
) -> Path:
    """Write ``report.md`` (and its plots) from the results folder; returns its path.

    ``trials`` / ``history``: the tables when the caller has them in memory (the search, right
    after writing them); otherwise they are read from the folder. ``log_params``: the columns
    the space samples on a log scale (``search.space.log_scale_columns``), drawn on log axes.
    """
    results_dir = Path(results_dir)
    trials = load(results_dir) if trials is None else trials
    history = load_history(results_dir) if history is None else history
    extra = report_sections(results_dir, trials, objectives)
    return write_report(results_dir, trials, objectives, history_df=history if len(history) else None, extra=extra or None, log_params=log_params)
