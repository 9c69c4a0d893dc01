"""``raymt search``: validate, prepare once, run the Tune search, collect, report.

Order matters: everything a user can get wrong (YAML, space, data files, model path,
resources) is checked before the first trial asks Ray for resources; the shared work (tiny
base, corpus, tokenisation, augmentation pools) is done once; then Ray Tune runs one function
trainable per trial, each launching a Ray Train ``TorchTrainer``. The results are turned into
a flat DataFrame, the Pareto front, artefacts and a report.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from raymt.config.load import load_config, read_yaml, validate_config
from raymt.errors import ConfigError
from raymt.io import atomic_write_text
from raymt.search.config import SearchConfig, parse_search
from raymt.search.space import CompiledSpace, SpaceConfig
from raymt.object_store import exists, is_uri, join, localize, to_uri
from raymt.search.results_dir import (CONFIG_COPY, JOURNAL, MARKER, check_experiment_dir, experiment_uri,  # noqa: F401 (re-exported)
                                      make_upload_journal, results_dir_for, sync_results)

DEFAULT_SPACE = "default.yaml"


def default_space_path() -> Path:
    """``search_spaces/default.yaml`` of the working directory, else of raymt's checkout."""
    here = Path("search_spaces") / DEFAULT_SPACE
    if here.exists():
        return here
    return Path(__file__).resolve().parents[2] / "search_spaces" / DEFAULT_SPACE


# --- loading and checking ------------------------------------------------------------------

def load_search(path: str | Path | None, overrides: dict | None = None):
    """Config + search section + compiled space, all validated; no Ray involved."""
    path = Path(path) if path is not None else default_space_path()
    cfg = load_config(path, overrides)
    raw = read_yaml(path)
    if overrides:
        from raymt.config.load import deep_merge

        raw = deep_merge(raw, overrides)
    search = parse_search(raw.get("search"), str(path))
    compiled = CompiledSpace(search.space, raw, where=f"{path}: search.space")
    compiled.validate(lambda r, where: validate_config(r, where))
    _check_objectives(search, str(path))
    check_points(compiled, search.points_to_evaluate, where=f"{path}: search.points_to_evaluate")
    return cfg, search, compiled, raw


def check_points(compiled: CompiledSpace, points: list[dict], *, where: str) -> None:
    """Every ``points_to_evaluate`` entry must use the space's names, only its own branch's
    parameters, and values inside their ranges (or equal to what the space fixes). Optuna finds
    a bad value only when the searcher asks for the point, inside Tune: the search then died
    with a traceback after Ray had started; a name it does not know it silently ignored."""
    from raymt.search.candidates import ReplayTrial
    from raymt.search.space import Dist, column_name, method_column

    fixed: dict[str, tuple[str | None, object]] = {}  # column -> (method or None, constant)
    for path, dist in compiled.space.common.items():
        fixed[column_name(path)] = (None, dist)
    for method in compiled.space.method_list:
        for param, dist in compiled.space.methods.get(method, {}).items():
            fixed[method_column(method, param)] = (method, dist)
    for i, point in enumerate(points):
        def propose(name, dist, point=point, i=i):
            if name not in point:  # left to the sampler: any value of the branch will do here
                return dist.to_external_repr(dist.low if hasattr(dist, "low") else 0)
            value = point[name]
            try:
                ok = dist._contains(dist.to_internal_repr(value))
            except (ValueError, TypeError):
                ok = False
            if not ok:
                span = f"choices {list(dist.choices)}" if hasattr(dist, "choices") else f"range [{dist.low:g}, {dist.high:g}]"
                raise ConfigError(f"point {i + 1} sets {name}: {value!r}, outside its {span}", where=f"{where}[{i}].{name}",
                                  fix="use a value inside the space, or widen search.space")
            return value

        replay = ReplayTrial(propose)
        compiled.define_by_run(replay)
        method = replay.params.get("method", compiled.space.method_list[0])
        for name, value in point.items():
            if name in replay.params or name == "method":
                continue
            if name not in fixed:
                import difflib

                close = difflib.get_close_matches(name, list(fixed), n=1, cutoff=0.6)
                raise ConfigError(f"point {i + 1} sets {name}, which this space does not have", where=f"{where}[{i}].{name}",
                                  fix=f"did you mean {close[0]!r}?" if close else
                                  f"use the space's flat names: {', '.join(sorted(fixed))}")
            owner, constant = fixed[name]
            if owner is not None and owner != method:
                raise ConfigError(f"point {i + 1} sets {name}, a parameter of the {owner} branch, but its method is {method}",
                                  where=f"{where}[{i}].{name}", fix=f"drop {name} or set method: {owner}")
            if not isinstance(constant, Dist) and value != constant:
                raise ConfigError(f"point {i + 1} sets {name}: {value!r}, but the space fixes it at {constant!r}",
                                  where=f"{where}[{i}].{name}", fix="drop it from the point, or make it a search dimension")


def _check_objectives(search: SearchConfig, where: str) -> None:
    scheduler_metric = search.scheduler.get("metric", "bleu")
    if search.scheduler.get("kind", "mo_asha") != "none" and scheduler_metric not in search.objectives:
        raise ConfigError(f"the scheduler stops trials by {scheduler_metric!r}, which is not an objective",
                          where=f"{where}: search.scheduler.metric", fix=f"use one of {', '.join(search.objectives)}")


# --- the Tune trial ----------------------------------------------------------------------------

def tune_trial(config: dict, *, base_raw: dict, space_raw: dict, prepared: dict, trials_storage: str) -> None:
    """One Tune trial: build the trial config from the sampled parameters, run Ray Train."""
    from ray import tune

    from raymt.config.schema import ExperimentConfig
    from raymt.train.prepare import PreparedExperiment
    from raymt.train.trial import TrialFailed, make_trainer

    compiled = CompiledSpace(SpaceConfig.model_validate(space_raw), base_raw)
    cfg = ExperimentConfig.model_validate(compiled.to_raw_config(config))
    trial_id = tune.get_context().get_trial_id()
    trainer = make_trainer(cfg, PreparedExperiment(**prepared), name=f"trial_{trial_id}", storage_path=trials_storage,
                           callbacks=[report_to_tune()])
    result = trainer.fit()
    error = (result.metrics or {}).get("error")
    if error:
        raise TrialFailed(error)


def report_to_tune():
    """``TuneReportCallback`` that keeps the worker's ``done`` flag from Tune.

    Tune stops a trial's actor as soon as a result says ``done: True``, while ``fit()`` is still
    shutting the Train run down; the Train controller then dies with it before it withdraws its
    resource request from Ray's autoscaling coordinator, and on an autoscaling cluster the
    request keeps idle nodes alive until it expires (180 s; seen with Ray's fake multi-node
    provider). Forwarded as ``train_done``, the trial ends when ``fit()`` returns and Tune marks
    that last result ``done`` itself.
    """
    from ray.tune.integration.ray_train import TuneReportCallback

    class _ReportToTune(TuneReportCallback):
        def after_report(self, run_context, metrics, checkpoint):
            metrics = [{("train_done" if k == "done" else k): v for k, v in m.items()} for m in metrics]
            super().after_report(run_context, metrics, checkpoint)

    return _ReportToTune()


# --- the search ----------------------------------------------------------------------------------

def run_search(config: str | Path | None = None, *, resume: str | Path | None = None, warm_start: str | Path | None = None,
               overrides: dict | None = None, log=print) -> Path:
    """Run (or resume) a search and return its results folder."""
    t0 = time.perf_counter()
    if resume is not None:
        results_dir = check_experiment_dir(resume)
        config = results_dir / CONFIG_COPY
    cfg, search, compiled, raw = load_search(config, overrides)
    from raymt.plan.build import check_before_launch

    check_before_launch(config, (cfg, search, compiled, raw), log=log)  # memory / storage plan; refuses what cannot fit
    warm = check_experiment_dir(warm_start) if warm_start is not None else None
    if resume is None:
        results_dir = results_dir_for(cfg)
    # object-store storage: results_dir is this machine's staging copy of exp_uri
    exp_uri = None
    if is_uri(cfg.storage_path):
        exp_uri = (experiment_uri(results_dir) or str(resume).rstrip("/")) if resume is not None \
            else join(cfg.storage_path, results_dir.name)

    from raymt.cluster_limits import find_cluster_limits
    from raymt.runtime import init_ray
    from raymt.train.preflight import check_trial_fits
    from raymt.train.prepare import prepare_experiment

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
        clean_raw = {k: v for k, v in raw.items()}
        atomic_write_text(results_dir / CONFIG_COPY, yaml.safe_dump(clean_raw, sort_keys=False))
        marker = {"raymt": __import__("raymt").__version__, "name": cfg.name, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        if exp_uri:
            marker["storage_uri"] = exp_uri
        atomic_write_text(results_dir / MARKER, json.dumps(marker, indent=1))
    refs_path = _write_references(results_dir, prepared, cfg)
    atomic_write_text(results_dir / "prepared.json", json.dumps(asdict(prepared), indent=1))  # export finds the base here
    sync_results(results_dir, exp_uri)

    tuner, scheduler = _build_tuner(cfg, search, compiled, raw, prepared, results_dir, resume is not None, warm, log,
                                    exp_uri=exp_uri, limits=limits)
    t_fit = time.perf_counter()
    grid = tuner.fit()
    fit_s = time.perf_counter() - t_fit

    from raymt.search.collect import collect_results, finish_report

    refs = to_uri(refs_path, results_dir, exp_uri) if exp_uri else refs_path
    trials, history = collect_results(grid, compiled, results_dir, search, refs, exp_uri=exp_uri)
    timings = {"prepare_s": prep_s, "ray_init_s": ray_s, "tune_fit_s": fit_s, "total_s": time.perf_counter() - t0,
               **{f"prepare_{k}": v for k, v in prepared.timings.items()}}
    if prepared.augment_costs:  # paid once, shared by the trials (seconds, sentences, sentences/s)
        timings["augment_costs"] = prepared.augment_costs
    atomic_write_text(results_dir / "timings.json", json.dumps(timings, indent=1))
    finish_report(results_dir, trials, history, search, prepared, timings, log=log)
    if exp_uri:
        sync_results(results_dir, exp_uri)
        log(f"results uploaded to {exp_uri} (local copy: {results_dir})")
    return results_dir


def _write_references(results_dir: Path, prepared, cfg) -> Path:
    from raymt.data.cache import load_tokenized

    refs, srcs = [], []
    # multi-pair: every pair's set in config order, as the worker writes its hypotheses
    for data_path in (prepared.pair_data or {"": prepared.data_path}).values():
        split = load_tokenized(localize(data_path))[cfg.eval.split]
        n = len(split) if cfg.eval.max_samples is None else min(cfg.eval.max_samples, len(split))
        refs += list(split["tgt_text"])[:n]
        srcs += list(split["src_text"])[:n]
    path = results_dir / "references.txt"
    atomic_write_text(path, "\n".join(refs) + "\n")
    # the matching sources: `raymt evaluate EXPORT --src sources.txt --ref references.txt`
    # reproduces a trial's score from its exported model
    atomic_write_text(results_dir / "sources.txt", "\n".join(srcs) + "\n")
    return path


def _build_tuner(cfg, search: SearchConfig, compiled: CompiledSpace, raw: dict, prepared, results_dir: Path,
                 resuming: bool, warm: Path | None, log, *, exp_uri: str | None = None, limits=None):
    from ray import tune

    from raymt.search.samplers import make_sampler
    from raymt.search.schedulers import EarlyStopMarker, parse_scheduler_config, scheduler_from_config
    from raymt.search.tuner import make_searcher, make_tuner, restore_tuner

    base_raw = {k: v for k, v in raw.items() if k != "search"}
    trainable = tune.with_parameters(tune_trial, base_raw=base_raw, space_raw=search.space.model_dump(mode="python"),
                                     prepared=asdict(prepared),
                                     trials_storage=join(exp_uri, "trials") if exp_uri else str(results_dir / "trials"))
    resources = {"cpu": cfg.resources.trial_cpus}
    tune_dir = join(exp_uri, "tune") if exp_uri else results_dir / "tune"
    if resuming and exists(tune_dir):
        log(f"resuming the search in {results_dir}")
        return restore_tuner(tune_dir, trainable, resources=resources), None

    known = {"storage_mb": storage_estimator(cfg, compiled, prepared)} if "storage_mb" in search.objectives else {}
    sampler = make_sampler(search.sampler, objectives=search.objectives, space_fn=compiled.define_by_run,
                           known_objectives=known)
    journal = results_dir / JOURNAL
    if warm is not None:
        seed_study_from(warm, journal, cfg.name, compiled, search)
    searcher = make_searcher(compiled.define_by_run, search.objectives, sampler, seed=search.sampler.seed,
                             points_to_evaluate=search.points_to_evaluate or None, study_name=cfg.name, storage=journal)
    scheduler = scheduler_from_config(parse_scheduler_config(search.scheduler, where="search.scheduler"), max_t=cfg.train.epochs)
    from raymt.train.preflight import trial_concurrency

    concurrent, rule = trial_concurrency(cfg, search.max_concurrent_trials, limits=limits)
    log(f"up to {concurrent} trial(s) at once: {rule}")
    callbacks = [EarlyStopMarker(scheduler)]
    if exp_uri:
        callbacks.append(make_upload_journal(results_dir / JOURNAL, join(exp_uri, JOURNAL)))
    tuner = make_tuner(trainable, searcher=searcher, scheduler=scheduler, num_samples=search.num_samples,
                       max_concurrent_trials=concurrent, storage_path=exp_uri or results_dir, name="tune", resources=resources,
                       callbacks=callbacks)
    return tuner, scheduler


def check_space_fits_model(compiled: CompiledSpace, base_path: str, cfg) -> None:
    """Every branch's extreme values against the real base model, before Ray starts.

    The schema alone cannot know that 200 virtual tokens do not fit a model with 128
    positions; the method's own storage estimate checks that against the model's config. A
    trial that can only fail would otherwise be re-proposed by samplers that ignore failures.
    """
    from transformers import AutoConfig

    from raymt.methods import get_method

    model_config = AutoConfig.from_pretrained(base_path, trust_remote_code=cfg.model.trust_remote_code)

    def check(raw: dict, where: str) -> None:
        trial = validate_config(raw, where)
        get_method(trial.method.name).estimate_bytes(model_config, trial.method.params)

    compiled.validate(check)


def storage_estimator(cfg, compiled: CompiledSpace, prepared):
    """Storage MB of a sampled configuration, computed before it runs (the sampler uses it)."""
    from transformers import AutoConfig

    from raymt.config.schema import ExperimentConfig
    from raymt.methods import get_method

    model_config = AutoConfig.from_pretrained(localize(prepared.base_path), trust_remote_code=cfg.model.trust_remote_code)
    cache: dict[str, float] = {}

    def estimate(params: dict) -> float:
        trial_cfg = ExperimentConfig.model_validate(compiled.to_raw_config(params))
        key = json.dumps(trial_cfg.method.model_dump(mode="json"), sort_keys=True)
        if key not in cache:
            method = get_method(trial_cfg.method.name)
            cache[key] = method.estimate_bytes(model_config, trial_cfg.method.params) / 1e6
        return cache[key]

    return estimate


def seed_study_from(old_dir: Path, journal: Path, study_name: str, compiled: CompiledSpace, search: SearchConfig) -> int:
    """Warm start: tell a new study the old search's finished trials (no re-running).

    Old trials whose parameters do not fit the new space are skipped: their distributions would
    contradict the sampler's model of the new space.
    """
    import math

    import optuna
    import pandas as pd

    from raymt.search.candidates import ReplayTrial
    from raymt.search.tuner import journal_storage

    old = pd.read_parquet(old_dir / "trials.parquet")
    old = old[old["status"] == "completed"]
    directions = ["maximize" if m == "max" else "minimize" for m in search.objectives.values()]
    study = optuna.create_study(study_name=study_name, storage=journal_storage(journal), directions=directions, load_if_exists=True)
    added = 0
    for _, row in old.iterrows():
        values = [row.get(k) for k in search.objectives]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            continue

        def propose(name, dist, row=row):
            value = row.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise KeyError(name)
            return value.item() if hasattr(value, "item") else value

        replay = ReplayTrial(propose)
        try:
            compiled.define_by_run(replay)
            for name, dist in replay.distributions.items():
                dist.to_internal_repr(replay.params[name])  # raises if outside the new space
            study.add_trial(optuna.trial.create_trial(params=replay.params, distributions=replay.distributions,
                                                      values=[float(v) for v in values],
                                                      user_attrs={"warm_start_from": str(old_dir), "old_trial_id": str(row["trial_id"])}))
            added += 1
        except (KeyError, ValueError):
            continue
    return added


def trial_id_from_path(path: str) -> str:
    match = re.search(r"([0-9a-f]{5}_\d{5})", os.path.basename(path.rstrip("/")))
    return match.group(1) if match else os.path.basename(path)
