"""Warm start: a new search's Optuna study seeded with an earlier search's finished trials.

The old trials are told to the sampler (``study.add_trial``), not run again, so the first
proposals of the new search already build on what the old one measured.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from raymt.results.columns import is_missing, read_trials_table
from raymt.results.files import TRIALS_FILE
from raymt.search.config import SearchConfig
from raymt.search.sampler.candidates import ReplayTrial
from raymt.search.space import CompiledSpace
from raymt.search.tuner import journal_storage


def seed_study_from(old_dir: Path, journal: Path, study_name: str, compiled: CompiledSpace, search: SearchConfig) -> int:
    """Tell a new study the old search's finished trials; returns how many were added.

    Old trials whose parameters do not fit the new space are skipped: their distributions would
    contradict the sampler's model of the new space.
    """
    old = read_trials_table(old_dir / TRIALS_FILE, names=compiled.flat_columns())  # raymt 0.1 names read too
    old = old[old["status"] == "completed"]
    directions = ["maximize" if m == "max" else "minimize" for m in search.objectives.values()]
    study = optuna.create_study(study_name=study_name, storage=journal_storage(journal), directions=directions, load_if_exists=True)
    added = 0
    for _, row in old.iterrows():
        values = [row.get(k) for k in search.objectives]
        if any(is_missing(v) for v in values):
            continue

        def propose(name, dist, row=row):
            value = row.get(name)
            if is_missing(value):
                raise KeyError(name)
            return value.item() if hasattr(value, "item") else value

        replay = ReplayTrial(propose)
        try:
            compiled.define_by_run(replay)
            for name, dist in replay.distributions.items():
                dist.to_internal_repr(replay.params[name])  # raises if outside the new space
            study.add_trial(
                optuna.trial.create_trial(
                    params=replay.params,
                    distributions=replay.distributions,
                    values=[float(v) for v in values],
                    user_attrs={"warm_start_from": str(old_dir), "old_trial_id": str(row["trial_id"])},
                )
            )
            added += 1
        except (KeyError, ValueError):
            continue
    return added
