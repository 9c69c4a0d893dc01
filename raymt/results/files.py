"""Every file and folder of a results folder, by name: the one place that spells them.

A results folder is ``<storage_path>/<name>/`` (docs/architecture.md, "Results folder"). What
raymt writes there is listed here; code that reads or writes one of these uses the constant, so
renaming a file is one edit and a reader can find every user of it.
"""

from __future__ import annotations

# --- written by raymt ---------------------------------------------------------------------
#: marks a folder as a raymt experiment (version, name, creation time, object-store URI)
MARKER = "raymt_experiment.json"
#: the search's YAML as given (with --resume it is read back from here)
CONFIG_COPY = "search_config.yaml"
#: the Optuna study (journal storage): ``optuna.load_study`` and optuna-dashboard read it
JOURNAL = "optuna_journal.log"
#: what the experiment shares (base model, tokenised data, pools), with their cache paths
PREPARED = "prepared.json"
#: seconds per stage of the run (prepare, Ray start, Tune fit, total)
TIMINGS = "timings.json"
#: the checkpoint budget: bytes written during the search, left after it (raymt.results.checkpoints)
CHECKPOINTS = "checkpoints.json"
#: the evaluation split's references and sources, in the order of every trial's hypotheses
REFERENCES = "references.txt"
SOURCES = "sources.txt"
#: the test split's references and sources, and each test-scored trial's hypotheses in that
#: order (``raymt evaluate EXPORT --src test_sources.txt --ref test_references.txt`` reproduces
#: a trial's test_bleu)
TEST_REFERENCES = "test_references.txt"
TEST_SOURCES = "test_sources.txt"
TEST_HYPS_DIR = "test_hyps"
#: ``search.repeat_front``: one row per extra seed of a front member (validation and test BLEU,
#: status, reason), and Tune's state of those runs (their Train runs are under TRIALS_DIR too)
REPEATS_FILE = "repeats.csv"
REPEATS_TUNE_DIR = "tune_repeats"
#: the trials table (typed source of truth), the same as CSV, the front, per-epoch history
TRIALS_FILE = "trials.parquet"
TRIALS_CSV = "trials.csv"
PARETO_CSV = "pareto.csv"
HISTORY_FILE = "history.parquet"
#: the report a person reads, and its figures
REPORT_FILE = "report.md"
PARETO_PLOT = "pareto.png"
PARALLEL_PLOT = "parallel.png"
HISTORY_PLOT = "bleu_over_epochs.png"
#: folders: each kept trial's artefact, and each trial's dev hypotheses (object-store experiments)
ARTIFACTS_DIR = "artifacts"
HYPS_DIR = "hyps"

# --- written by Ray -----------------------------------------------------------------------
#: Ray Tune's experiment state (one folder per Tune trial, result.json)
TUNE_DIR = "tune"
#: Ray Train's runs, one per trial (``trial_<id>``), with their checkpoints
TRIALS_DIR = "trials"

#: written into a Train run's folder (``TRIALS_DIR/trial_<id>/``) when a scheduler stops the trial:
#: its checkpoint's tensors are removed once the run has ended (raymt.results.checkpoints)
STOPPED_MARK = "raymt_early_stopped"

#: folders Ray writes straight to an object store: never uploaded from a staging copy
REMOTE_ONLY = (TUNE_DIR, TRIALS_DIR, REPEATS_TUNE_DIR)
#: folders not mirrored when a results folder is read from an object store (artefacts are
#: fetched one by one, when exported)
NOT_MIRRORED = (TUNE_DIR, TRIALS_DIR, REPEATS_TUNE_DIR, ARTIFACTS_DIR)


def train_run_name(trial_id: str) -> str:
    """The Ray Train run (and folder under :data:`TRIALS_DIR`) of a Tune trial."""
    return f"trial_{trial_id}"
