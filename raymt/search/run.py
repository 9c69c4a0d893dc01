"""``raymt search``: validate, prepare once, run the Tune search, collect, report.

Order matters: everything a user can get wrong (YAML, space, data files, model path,
resources) is checked before the first trial asks Ray for resources; the shared work (tiny
base, corpus, tokenisation, augmentation pools) is done once; then Ray Tune runs one function
trainable per trial (raymt.search.trainable), each launching a Ray Train ``TorchTrainer``. The
results are turned into a flat DataFrame, the Pareto front, artefacts and a report
(raymt.results).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import yaml

import raymt
from raymt.analysis.held_out import held_out_summary
from raymt.analysis.report import front_summary
from raymt.analysis.results import write_results
from raymt.cluster_limits import find_cluster_limits
from raymt.errors import ConfigError, DataError, SearchInterrupted
from raymt.io import atomic_write_text
from raymt.plan.build import check_before_launch
from raymt.results.checkpoints import apply_checkpoint_budget
from raymt.object_store import exists, is_uri, join, localize, to_uri
from raymt.results.collect import collect_results
from raymt.results.columns import read_trials_table
from raymt.results.files import CONFIG_COPY, JOURNAL, MARKER, TIMINGS, TRIALS_DIR, TRIALS_FILE, TUNE_DIR
from raymt.results.folder import check_experiment_dir, experiment_uri, results_dir_for, sync_results
from raymt.results.paths import write_prepared
from raymt.results.references import write_references
from raymt.results.report import rebuild_report
from raymt.results.study import optuna_links
from raymt.results.test_scores import keep_earlier_test_scores, score_front_on_test
from raymt.runtime import init_ray, is_verbose, train_log_level, tune_output
from raymt.search.config import SearchConfig
from raymt.search.estimate import check_space_fits_model, storage_estimator
from raymt.search.load import load_search
from raymt.search.repeat import interrupted_repeats, repeat_front
from raymt.search.sampler.registry import make_sampler
from raymt.search.sampler.sources import space_params
from raymt.search.scheduler.build import scheduler_from_config
from raymt.search.scheduler.record import EarlyStopMarker
from raymt.search.space import CompiledSpace, log_scale_columns
from raymt.search.trainable import FreeFailedTrials, MarkStoppedTrials, make_trainable
from raymt.search.trial_lines import TrialLines, log_restored_lines
from raymt.search.tuner import fit, make_searcher, make_tuner, restore_tuner, run_config, upload_journal_callback
from raymt.search.warm_start import seed_study_from
from raymt.train.preflight import check_trial_fits, trial_concurrency
from raymt.train.prepare import prepare_experiment


def run_search(
    config: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    warm_start: str | Path | None = None,
    overrides: dict | None = None,
    log=print,
    verbose: bool | None = None,
) -> Path:
    """Run (or resume) a search and return its results folder.

    ``verbose`` (default: ``RAYMT_VERBOSE``): Ray's own output as well as raymt's lines (Tune's
    status tables, Ray Train's INFO logs); see :mod:`raymt.search.trial_lines`."""
    t0 = time.perf_counter()
    if resume is not None:
        results_dir = check_experiment_dir(resume, role="--resume")
        config = results_dir / CONFIG_COPY
    cfg, search, compiled, raw = load_search(config, overrides)
    if (trials := compiled.trials_to_run(search.num_samples)) < search.num_samples:
        log(f"grid search: {trials} configurations, fewer than num_samples {search.num_samples}: the search stops after {trials} trials")
        search = search.model_copy(update={"num_samples": trials})
    check_before_launch(config, (cfg, search, compiled, raw), log=log)  # memory / storage plan; refuses what cannot fit
    if warm_start is not None and compiled.grid is not None:
        raise ConfigError(
            "--warm-start with sampler kind grid: the grid runs every configuration anyway",
            where="search.sampler.kind",
            fix="drop --warm-start, or use another sampler kind",
        )
    warm = check_experiment_dir(warm_start, role="--warm-start") if warm_start is not None else None
    if resume is None:
        results_dir = results_dir_for(cfg)
    # object-store storage: results_dir is this machine's staging copy of exp_uri
    exp_uri = None
    if is_uri(cfg.storage_path):
        exp_uri = (experiment_uri(results_dir) or str(resume).rstrip("/")) if resume is not None else join(cfg.storage_path, results_dir.name)

    limits = find_cluster_limits(log=log)  # an autoscaler config: the trial is checked before any data or Ray work
    if limits is not None:
        check_trial_fits(cfg, limits=limits)
    t_prep = time.perf_counter()
    prepared = prepare_experiment(cfg, max_ratios=compiled.max_ratios(), log=log)
    prep_s = time.perf_counter() - t_prep
    check_space_fits_model(compiled, localize(prepared.base_path), cfg)
    t_ray = time.perf_counter()
    init_ray(log=log)
    if limits is None:
        check_trial_fits(cfg, limits=None)
    ray_s = time.perf_counter() - t_ray

    results_dir.mkdir(parents=True, exist_ok=True)
    if resume is None:
        atomic_write_text(results_dir / CONFIG_COPY, yaml.safe_dump(raw, sort_keys=False))
        marker = {"raymt": raymt.__version__, "name": cfg.name, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        if exp_uri:
            marker["storage_uri"] = exp_uri
        atomic_write_text(results_dir / MARKER, json.dumps(marker, indent=1))
    refs_path = write_references(results_dir, prepared, cfg)
    write_prepared(results_dir, asdict(prepared))  # export finds the base here (paths relative to the folder)
    sync_results(results_dir, exp_uri)

    tuner = _build_tuner(
        cfg, search, compiled, raw, prepared, results_dir, resume is not None, warm, log, exp_uri=exp_uri, limits=limits, verbose=is_verbose(verbose)
    )
    t_fit = time.perf_counter()
    with _no_tuner_restore_hint(), tune_output(is_verbose(verbose)):
        grid = fit(tuner)  # a trial Ray's memory monitor kills is recorded as failed; the search goes on
    fit_s = time.perf_counter() - t_fit

    refs = to_uri(refs_path, results_dir, exp_uri) if exp_uri else refs_path
    earlier = _earlier_trials(results_dir) if resume is not None else None
    trials, history = collect_results(
        grid,
        compiled.flat_columns(),
        results_dir,
        search.objectives,
        search.keep_artifacts,
        refs,
        exp_uri=exp_uri,
        optuna_trials=optuna_links(results_dir),
    )
    timings = {
        "prepare_s": prep_s,
        "ray_init_s": ray_s,
        "tune_fit_s": fit_s,
        "total_s": time.perf_counter() - t0,
        **{f"prepare_{k}": v for k, v in prepared.timings.items()},
    }
    if prepared.augment_costs:  # paid once, shared by the trials (seconds, sentences, sentences/s)
        timings["augment_costs"] = prepared.augment_costs
    atomic_write_text(results_dir / TIMINGS, json.dumps(timings, indent=1))
    trials = keep_earlier_test_scores(trials, earlier)  # scored before the stop: kept, even off the front now
    write_results(results_dir, trials, history, objectives=search.objectives)
    if len(trials):  # the validation front, scored once on the held-out test split (written before: nothing lost)
        trials = score_front_on_test(results_dir, trials, search.objectives, log=log)
    interrupted = len(trials) < search.num_samples or (len(trials) and (trials["status"] == "interrupted").any())
    if search.repeat_front and len(trials):  # the front again with more seeds: its spread over seeds
        if interrupted:
            log("search.repeat_front: the front is not final (the search was stopped); `raymt search --resume` runs the repeats")
        else:
            trials = repeat_front(
                cfg, search, compiled, prepared, results_dir, trials, exp_uri=exp_uri, limits=limits, verbose=is_verbose(verbose), log=log
            )
            interrupted = interrupted_repeats(results_dir)
    if len(trials) and not interrupted:  # a resumable search keeps every checkpoint
        apply_checkpoint_budget(results_dir, trials, history, search.keep_checkpoints, trials_root=_trials_root(results_dir, exp_uri))
    rebuild_report(results_dir, search.objectives, trials=trials, history=history, log_params=log_scale_columns(search.space))
    log("\n" + front_summary(trials, search.objectives))  # the same lines as `raymt report`
    if held_out := held_out_summary(trials, search.objectives):
        log(held_out)
    log(f"\nresults: {results_dir}/trials.parquet, trials.csv, pareto.csv, report.md")
    if exp_uri:
        sync_results(results_dir, exp_uri)
        log(f"results uploaded to {exp_uri} (local copy: {results_dir})")
    # Ctrl-C: Tune ends the run early and returns; a trial it was in, or one never started, is missing
    if interrupted:
        raise SearchInterrupted(exp_uri or str(results_dir))
    return results_dir


def _earlier_trials(results_dir: Path):
    """The trials table the search wrote before its stop (None if none): the held-out scores it
    holds are kept by the resumed search (:func:`raymt.results.test_scores.keep_earlier_test_scores`)."""
    try:
        return read_trials_table(Path(results_dir) / TRIALS_FILE)
    except DataError:  # none written before the stop, or one a crash left unreadable: rebuilt from Tune's results
        return None


@contextlib.contextmanager
def _no_tuner_restore_hint():
    """Hide Tune's "Resume experiment with: Tuner.restore(path=...)" on Ctrl-C: raymt's users
    resume with ``raymt search --resume DIR`` (printed by the CLI from SearchInterrupted)."""
    tune_logger = logging.getLogger("ray.tune.tune")
    hint = _DropMessagesWith("Tuner.restore(")
    tune_logger.addFilter(hint)
    try:
        yield
    finally:
        tune_logger.removeFilter(hint)


class _DropMessagesWith(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _trials_root(results_dir: Path, exp_uri: str | None) -> str:
    """Where the trials' Train runs are written: the experiment's URI on an object store, else
    the results folder (the trainable, the stopped-trial marks and the checkpoint budget agree)."""
    return join(exp_uri, TRIALS_DIR) if exp_uri else str(results_dir / TRIALS_DIR)


def _build_tuner(
    cfg,
    search: SearchConfig,
    compiled: CompiledSpace,
    raw: dict,
    prepared,
    results_dir: Path,
    resuming: bool,
    warm: Path | None,
    log,
    *,
    exp_uri: str | None = None,
    limits=None,
    verbose: bool = False,
):
    trainable = make_trainable(
        compiled=compiled,
        prepared=prepared,
        trials_storage=_trials_root(results_dir, exp_uri),
        train_log_level=train_log_level(verbose),
    )
    resources = {"cpu": cfg.resources.trial_cpus}
    tune_dir = join(exp_uri, TUNE_DIR) if exp_uri else results_dir / TUNE_DIR
    if resuming and exists(tune_dir):
        log(f"resuming the search in {results_dir}")
        # Tune restores the callbacks and verbosity the search started with: --verbose (or
        # not) is this run's, and raymt's trial lines go to this run's log
        tuner = restore_tuner(tune_dir, trainable, resources=resources, verbose=_tune_verbosity(verbose))
        log_restored_lines(getattr(run_config(tuner), "callbacks", None), log)
        return tuner

    known = {"storage_mb": storage_estimator(cfg, compiled, prepared)} if "storage_mb" in search.objectives else {}
    sampler = make_sampler(
        search.sampler,
        objectives=search.objectives,
        space_fn=compiled.define_by_run,
        known_objectives=known,
        param_names=compiled.flat_columns(),
        space_params=space_params(compiled),
        transfer_from=search.transfer_from,
    )
    journal = results_dir / JOURNAL
    if warm is not None:
        seed_study_from(warm, journal, cfg.name, compiled, search)
    searcher = make_searcher(
        compiled.define_by_run,
        search.objectives,
        sampler,
        seed=search.sampler.seed,
        points_to_evaluate=search.points_to_evaluate or None,
        study_name=cfg.name,
        storage=journal,
    )
    scheduler = scheduler_from_config(search.scheduler, max_t=cfg.train.epochs)
    concurrent, rule = trial_concurrency(cfg, search.max_concurrent_trials, limits=limits)
    log(f"up to {concurrent} trial(s) at once: {rule}")
    callbacks = [
        EarlyStopMarker(scheduler),
        TrialLines(search.objectives, search.num_samples, cfg.train.epochs, log=log),
        FreeFailedTrials(_trials_root(results_dir, exp_uri)),  # a trial killed for memory gives its CPUs back
    ]
    if search.keep_checkpoints == "front":  # the checkpoint budget: a stopped trial's tensors go when its run ends
        callbacks.append(MarkStoppedTrials(scheduler, _trials_root(results_dir, exp_uri)))
    if exp_uri:
        callbacks.append(upload_journal_callback(results_dir / JOURNAL, join(exp_uri, JOURNAL)))
    return make_tuner(
        trainable,
        searcher=searcher,
        scheduler=scheduler,
        num_samples=search.num_samples,
        max_concurrent_trials=concurrent,
        storage_path=exp_uri or results_dir,
        name=TUNE_DIR,
        resources=resources,
        callbacks=callbacks,
        verbose=_tune_verbosity(verbose),
    )


def _tune_verbosity(verbose: bool) -> int | None:
    """Tune's ``verbose``: None, Ray's default (status tables), with ``--verbose``; else 0, raymt's lines only."""
    return None if verbose else 0
