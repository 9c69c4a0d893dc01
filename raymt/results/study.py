"""The search's Optuna study, read back from the results folder's journal.

Tune, Optuna and raymt each number a trial their own way: raymt's trials table is keyed by
Tune's trial id, Optuna numbers its trials 0, 1, 2, ... in the order it proposed them (what
``optuna.load_study`` and optuna-dashboard show). The searcher records the Tune id on each
Optuna trial (user attribute :data:`TUNE_TRIAL_ATTR`), so the table can say which Optuna trial
a row is, and when Optuna started it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from raymt.errors import DataError
from raymt.results.files import JOURNAL

#: user attribute of an Optuna trial: the Tune trial it ran as
TUNE_TRIAL_ATTR = "tune_trial_id"


@dataclass(frozen=True)
class OptunaLink:
    """Where a Tune trial is in the study: Optuna's trial number and its start."""

    number: int
    start: datetime | None


def load_journal_study(results_dir: str | Path, study_name: str | None = None):
    """The Optuna study in a results folder's journal (its only study, unless ``study_name``)."""
    import optuna

    path = Path(results_dir) / JOURNAL
    if not path.is_file():
        raise DataError(
            f"no Optuna journal ({JOURNAL})",
            where=str(Path(results_dir)),
            fix="pass the results folder of a raymt search (the one holding optuna_journal.log)",
        )
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    names = optuna.get_all_study_names(storage)
    if study_name is None:
        if len(names) != 1:
            raise DataError(
                f"the journal holds {len(names)} studies ({', '.join(names) or 'none'})", where=str(path), fix="name the study: the search's `name:`"
            )
        study_name = names[0]
    return optuna.load_study(study_name=study_name, storage=storage)


def optuna_links(results_dir: str | Path) -> dict[str, OptunaLink]:
    """Tune trial id -> its Optuna trial (number, start); empty when the folder has no journal
    or its trials do not record their Tune id (a search from before they did)."""
    try:
        study = load_journal_study(results_dir)
    except DataError:
        return {}
    links = {}
    for trial in study.get_trials(deepcopy=False):
        tune_id = trial.user_attrs.get(TUNE_TRIAL_ATTR)
        if tune_id:
            links[str(tune_id)] = OptunaLink(trial.number, trial.datetime_start)
    return links
