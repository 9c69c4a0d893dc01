"""Held-out test scores of the trials a search chose: scored once, on data no choice used.

Why: a trial's ``bleu`` is the best of its epochs on the validation split, and the front is
picked on that same split, so the front's BLEU is selected twice on one set of sentences and
is biased upwards (the WMT practice is to report on data never used for any choice). Here every
completed trial on the validation front (and any trial a user names with ``raymt report DIR
--test TRIAL...``) is translated once on the test split that ``prepare`` built next to the
validation split (``data.test_size``), with the trial's kept artefact and its own decoding
(:class:`raymt.model.generation.Decoding` from the trial's config, the search's batches), and
scored with sacrebleu: ``test_bleu``, ``test_chrf`` and ``test_bleu_ci95``, the half-width of
sacrebleu's bootstrap 95% confidence interval (``corpus_score(n_bootstrap=1000)``: 1000
resamples of the test sentences with sacrebleu's fixed seed, ``SACREBLEU_SEED`` = 12345 unless
set; the signature records ``bs`` and ``seed``). A multi-pair trial gets them per pair
(``test_bleu_<src>-<tgt>``, ...) and ``test_bleu`` / ``test_chrf`` = the unweighted mean over
pairs, as ``bleu``; its ``test_bleu_ci95`` combines the pairs' (independent test sets) as
``sqrt(sum ci_i^2) / n``, a normal approximation.

The untouched base is the reference every trial must beat: where the search scored it on
validation (``prepared.json``'s ``base_scores``, ``eval.score_base``), it is scored once on the
test split too, with the same decoding and bootstrap as the trials, and its test columns are
added to its entry in ``base_scores`` (hypotheses in ``test_hyps/untouched_base.txt``).

The whole test split is scored (``eval.max_samples`` caps only the per-epoch validation). This
runs in the driver after ``tuner.fit`` (or in ``raymt report``), on the CPU, without Ray. A
trial that cannot be scored (its artefact is gone) gets ``test_error`` and the others go on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from raymt.analysis.pareto import pareto_mask
from raymt.analysis.results import TEST_PREFIX
from raymt.errors import ConfigError, DataError
from raymt.io import atomic_write_text
from raymt.metrics.per_pair import mean_over_pairs
from raymt.object_store import localize
from raymt.results.columns import is_missing
from raymt.results.files import PREPARED, TEST_HYPS_DIR, TEST_REFERENCES, TEST_SOURCES
from raymt.results.paths import locate_base, read_prepared

#: the split scored here; the search itself may never optimise it (``eval.split`` refuses it)
TEST_SPLIT = "test"
#: the columns a scored (single-pair) trial gets; a multi-pair one adds the scores per pair
TEST_COLUMNS = ("test_bleu", "test_chrf", "test_bleu_ci95", "test_sentences", "test_signature", "test_time_s", "test_error")
#: bootstrap resamples of sacrebleu's confidence interval
N_BOOTSTRAP = 1000
#: the untouched base's name among the test hypotheses (``test_hyps/<name>.txt``)
BASE_HYPS = "untouched_base"


@dataclass
class HeldOutScoring:
    """What one round of test scoring did: the updated table, its cost, and what it skipped."""

    trials: pd.DataFrame
    seconds: float = 0.0
    scored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    sentences: int = 0
    base: dict[str, dict] = field(default_factory=dict)  # pair key -> the untouched base's test columns (when scored now)


def held_out_column(metric: str, pair: str = "") -> str:
    """``test_bleu``, or ``test_bleu_<src>-<tgt>`` for one pair of a multi-pair run."""
    return f"{TEST_PREFIX}{metric}" + (f"_{pair}" if pair else "")


def trials_to_score(trials: pd.DataFrame, objectives: Mapping[str, str], named: Iterable[str] = ()) -> list[str]:
    """The completed trials of the validation front, then the ``named`` ones (each once).

    A named trial must exist and be completed (only a finished trial has a kept model)."""
    ids = [str(t) for t in trials["trial_id"]]
    front = pareto_mask(trials, objectives) if len(trials) else pd.Series(dtype=bool)
    out = [ids[i] for i in range(len(ids)) if bool(front.iloc[i])]
    for name in named:
        name = str(name)
        if name not in ids:
            raise ConfigError(f"no trial {name!r} in this search", where="--test", fix=f"name trials of trials.csv (e.g. {', '.join(ids[:3])})")
        status = str(trials.loc[trials["trial_id"].astype(str) == name, "status"].iloc[0])
        if status != "completed":
            raise ConfigError(
                f"trial {name} is {status}: it has no finished model to score", where="--test", fix="name a completed trial (see trials.csv)"
            )
        if name not in out:
            out.append(name)
    return out


def score_on_test(
    results_dir: str | Path, trials: pd.DataFrame, objectives: Mapping[str, str], *, named: Iterable[str] = (), log=print
) -> HeldOutScoring:
    """Score the validation front (and ``named`` trials) on the test split, each trial once:
    a trial that already has a ``test_bleu`` is not scored again. Returns the updated table."""
    results_dir = Path(results_dir)
    trials = trials.copy()
    chosen = trials_to_score(trials, objectives, named)
    todo = chosen
    if "test_bleu" in trials.columns:
        done = set(trials.loc[trials["test_bleu"].notna(), "trial_id"].astype(str))
        todo = [t for t in todo if t not in done]
    result = HeldOutScoring(trials=trials)
    base_due = bool(chosen) and _base_unscored(results_dir)
    if not todo and not base_due:
        return result
    t0 = time.perf_counter()
    test_sets = load_test_sets(results_dir)
    result.sentences = sum(len(s["references"]) for s in test_sets.values())
    log(f"scoring {len(todo)} trial(s){' and the untouched base' if base_due else ''} on the held-out test split ({result.sentences} sentences)")
    _write_test_texts(results_dir, test_sets)
    if base_due:  # decoded as the first chosen trial decodes (decoding is not searched)
        result.base = _score_base(results_dir, trials.loc[trials["trial_id"].astype(str) == chosen[0]].iloc[0], test_sets, log)
    for trial_id in todo:
        i = trials.index[trials["trial_id"].astype(str) == trial_id][0]
        t_trial = time.perf_counter()
        try:
            values, hyps = score_trial_on_test(results_dir, trials.loc[i], test_sets)
        except (ConfigError, DataError, OSError, ValueError, RuntimeError) as err:  # one trial's loss, not the round's
            reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
            result.failed[trial_id] = reason
            _set(trials, i, {"test_error": reason})
            log(f"  {trial_id}: not scored on test ({reason})")
            continue
        values["test_time_s"] = time.perf_counter() - t_trial
        values["test_error"] = ""
        _set(trials, i, values)
        (results_dir / TEST_HYPS_DIR).mkdir(exist_ok=True)
        atomic_write_text(results_dir / TEST_HYPS_DIR / f"{trial_id}.txt", "\n".join(hyps) + "\n")
        result.scored.append(trial_id)
        log(f"  {trial_id}: test BLEU {values['test_bleu']:.2f} ± {values['test_bleu_ci95']:.2f} (validation {float(trials.at[i, 'bleu']):.2f})")
    result.trials = trials
    result.seconds = time.perf_counter() - t0
    return result


def keep_earlier_test_scores(trials: pd.DataFrame, earlier: pd.DataFrame | None) -> pd.DataFrame:
    """``trials`` with the held-out scores that ``earlier`` (the same results folder's table before
    a resume rewrote it) gave trials that have none now.

    A resumed search rebuilds its table from Ray Tune's results, which hold no test scores, and
    scores only its final front. A trial scored while it was on the front before the stop, and
    pushed off it by a trial run after the resume, has lost its artefact by then
    (``search.keep_checkpoints: front``): its test scores would be lost with the old table. A
    completed trial's artefact never changes, so the scores it had still describe it."""
    if earlier is None or "test_bleu" not in earlier.columns or not len(trials):
        return trials
    scored = earlier.loc[earlier["test_bleu"].notna()]
    if not len(scored):
        return trials
    by_id = scored.assign(trial_id=scored["trial_id"].astype(str)).drop_duplicates("trial_id", keep="last").set_index("trial_id")
    columns = [c for c in by_id.columns if c.startswith(TEST_PREFIX)]
    trials = trials.copy()
    ids = trials["trial_id"].astype(str)
    missing = trials["test_bleu"].isna() if "test_bleu" in trials.columns else pd.Series(True, index=trials.index)
    for i in trials.index[missing & ids.isin(by_id.index)]:
        row = by_id.loc[ids[i]]
        _set(trials, i, {c: row[c] for c in columns if not is_missing(row[c])})
    return trials


def _set(trials: pd.DataFrame, i, values: dict) -> None:
    for key, value in values.items():
        if key not in trials.columns:
            trials[key] = "" if isinstance(value, str) else math.nan
        trials.at[i, key] = value


def load_test_sets(results_dir: Path) -> dict[str, dict]:
    """pair key ('' for a single pair) -> the tokenised test split and its texts."""
    from raymt.data.cache import load_tokenized

    try:
        prepared = read_prepared(results_dir)  # paths relative to the folder (raymt.results.paths)
    except (OSError, ValueError, DataError):
        raise DataError(
            f"no readable {PREPARED}: the prepared data is unknown",
            where=str(results_dir / PREPARED),
            fix="score the folder written by `raymt search` (it writes prepared.json)",
        ) from None
    paths = prepared.get("pair_data") or {"": prepared.get("data_path") or ""}
    sets = {}
    for pair, path in paths.items():
        if not path:
            raise DataError(
                "the results folder records no prepared data",
                where=str(results_dir / PREPARED),
                fix="score the folder written by `raymt search` (prepared.json names the tokenised data)",
            )
        try:
            splits = load_tokenized(localize(path))
        except (FileNotFoundError, OSError) as err:
            raise DataError(
                f"the prepared data is gone ({err})",
                where=path,
                fix="rerun the search's preparation (its .cache was deleted) or score on the machine that ran it",
            ) from None
        if TEST_SPLIT not in splits:
            raise DataError(
                f"the prepared data has no {TEST_SPLIT!r} split", where=path, fix="set data.test_size (or give a test file) and prepare again"
            )
        split = splits[TEST_SPLIT]
        sets[pair] = {"split": split, "references": list(split["tgt_text"]), "sources": list(split["src_text"])}
    return sets


def _write_test_texts(results_dir: Path, test_sets: dict[str, dict]) -> None:
    refs = [r for s in test_sets.values() for r in s["references"]]
    srcs = [x for s in test_sets.values() for x in s["sources"]]
    atomic_write_text(results_dir / TEST_REFERENCES, "\n".join(refs) + "\n")
    atomic_write_text(results_dir / TEST_SOURCES, "\n".join(srcs) + "\n")


def _base_unscored(results_dir: Path) -> bool:
    """The search scored the untouched base on validation but not yet on test."""
    try:
        scores = json.loads((results_dir / PREPARED).read_text()).get("base_scores") or {}
    except (OSError, ValueError):
        return False
    return bool(scores) and any("test_bleu" not in s for s in scores.values())


def _score_base(results_dir: Path, row: pd.Series, test_sets: dict[str, dict], log) -> dict[str, dict]:
    """The untouched base on the test split, decoded as the trial ``row`` decodes; its test
    columns are added to ``prepared.json``'s ``base_scores`` (per pair). A failure is logged
    and leaves the trials' scores alone."""
    from raymt.export.bundle import quiet
    from raymt.model.loading import load_model

    try:
        cfg, base = _trial_setup(results_dir, row)
        with quiet():
            model = load_model(base, trust_remote_code=cfg.model.trust_remote_code).eval()
        per_pair, hyps = _decode_pairs(model, cfg, base, test_sets, row)
    except (ConfigError, DataError, OSError, ValueError, RuntimeError) as err:
        log(f"  untouched base: not scored on test ({str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__})")
        return {}
    raw = json.loads((results_dir / PREPARED).read_text())
    for pair, scores in per_pair.items():
        if pair in raw.get("base_scores", {}):
            raw["base_scores"][pair].update({**scores, "test_sentences": len(test_sets[pair]["references"])})
    atomic_write_text(results_dir / PREPARED, json.dumps(raw, indent=1))
    (results_dir / TEST_HYPS_DIR).mkdir(exist_ok=True)
    atomic_write_text(results_dir / TEST_HYPS_DIR / f"{BASE_HYPS}.txt", "\n".join(hyps) + "\n")
    for pair, scores in per_pair.items():
        validation = (raw.get("base_scores", {}).get(pair) or {}).get("bleu", math.nan)
        log(
            f"  untouched base{' ' + pair if pair else ''}: test BLEU {scores['test_bleu']:.2f} ± {scores['test_bleu_ci95']:.2f} (validation {validation:.2f})"
        )
    return per_pair


def _trial_setup(results_dir: Path, row: pd.Series):
    """The trial's experiment config and the base model's path on this machine."""
    from raymt.config.schema import ExperimentConfig
    from raymt.export.bundle import trial_config

    cfg = ExperimentConfig.model_validate(trial_config(results_dir, row))
    return cfg, locate_base(read_prepared(results_dir)["base_path"], where=str(results_dir / PREPARED))


def score_trial_on_test(results_dir: Path, row: pd.Series, test_sets: dict[str, dict]) -> tuple[dict, list[str]]:
    """One trial's test columns and its hypotheses (pairs in config order)."""
    from raymt.export.bundle import artifact_dir, quiet
    from raymt.methods import get_method
    from raymt.model.loading import load_model

    cfg, base = _trial_setup(results_dir, row)
    artifact = artifact_dir(row, results_dir)
    with quiet():
        model = get_method(cfg.method.name).load(load_model(base), artifact).eval()
    per_pair, all_hyps = _decode_pairs(model, cfg, base, test_sets, row)
    values: dict = {}
    if list(per_pair) == [""]:
        values.update(per_pair[""])
    else:
        for pair, scores in per_pair.items():
            values.update({f"{k}_{pair}": v for k, v in scores.items() if k != "test_signature"})
        for metric in ("bleu", "chrf"):
            values[held_out_column(metric)] = mean_over_pairs({p: s[held_out_column(metric)] for p, s in per_pair.items()})
        cis = [s["test_bleu_ci95"] for s in per_pair.values()]
        values["test_bleu_ci95"] = math.sqrt(sum(c * c for c in cis)) / len(cis)
        values["test_signature"] = "; ".join(sorted({s["test_signature"] for s in per_pair.values()}))
    values["test_sentences"] = sum(len(t["references"]) for t in test_sets.values())
    return values, all_hyps


def _decode_pairs(model, cfg, base: str, test_sets: dict[str, dict], row: pd.Series) -> tuple[dict[str, dict], list[str]]:
    """``model`` on every pair's test set: the scores per pair and all hypotheses (pairs in order)."""
    from raymt.export.bundle import quiet
    from raymt.model.generation import Decoding
    from raymt.model.loading import load_tokenizer

    decoding = Decoding.from_config(cfg)
    directions = (
        {p.key: (p.src_lang, p.tgt_lang) for p in cfg.multi_pair.pairs}
        if cfg.multi_pair is not None
        else {"": (cfg.model.src_lang, cfg.model.tgt_lang)}
    )
    per_pair: dict[str, dict] = {}
    all_hyps: list[str] = []
    for pair, test in test_sets.items():
        if pair not in directions:
            raise DataError(
                f"the prepared test data has a pair {pair!r} this trial did not learn",
                where=str(row["trial_id"]),
                fix="score the trials of the search that prepared this data",
            )
        src, tgt = directions[pair]
        with quiet():
            tokenizer = load_tokenizer(base, src, tgt, trust_remote_code=cfg.model.trust_remote_code)
            hyps = _translate(model, tokenizer, tgt, test["split"], decoding)
        per_pair[pair] = _scores(hyps, test["references"], cfg.eval.bleu_tokenize, tgt)
        all_hyps += hyps
    return per_pair, all_hyps


def _translate(model, tokenizer, tgt_lang: str, split, decoding) -> list[str]:
    """The split's hypotheses in split order, decoded in the search's batches."""
    from raymt.model.generation import all_batches, generate_texts, pad_batch

    ids = list(split["input_ids"])
    pad = tokenizer.pad_token_id
    out = [""] * len(ids)
    for batch in all_batches([len(x) for x in ids], decoding.batch_size, decoding.shards):
        input_ids = pad_batch([ids[j] for j in batch], pad)
        for j, text in zip(batch, generate_texts(model, input_ids, (input_ids != pad).long(), tokenizer, tgt_lang, decoding)):
            out[j] = text
    return out


def _scores(hyps: list[str], refs: list[str], bleu_tokenize: str, tgt_lang: str) -> dict:
    """sacrebleu BLEU (with its bootstrap 95% interval) and chrF of one test set."""
    from sacrebleu.metrics import BLEU, CHRF

    from raymt.metrics.bleu import bleu_tokenizer

    bleu = BLEU(tokenize=bleu_tokenizer(bleu_tokenize, tgt_lang))
    score = bleu.corpus_score(hyps, [refs], n_bootstrap=N_BOOTSTRAP)
    chrf = CHRF().corpus_score(hyps, [refs])
    ci = float(score._ci) if getattr(score, "_ci", -1.0) >= 0 else math.nan  # sacrebleu's "± ci" (its CLI prints it too)
    return {"test_bleu": float(score.score), "test_chrf": float(chrf.score), "test_bleu_ci95": ci, "test_signature": str(bleu.get_signature())}


def score_front_on_test(
    results_dir: str | Path, trials: pd.DataFrame, objectives: Mapping[str, str], *, named: Iterable[str] = (), log=print
) -> pd.DataFrame:
    """:func:`score_on_test`, then the trials table rewritten and the cost added to
    ``timings.json`` (``test_scoring_s``, summed over rounds); the end of a search and ``raymt
    report`` both call it. Without a test split (or its prepared data) it says so and returns
    the table as it was: the validation results stand on their own."""
    from raymt.analysis.results import write_results
    from raymt.results.files import TIMINGS

    results_dir = Path(results_dir)
    try:
        done = score_on_test(results_dir, trials, objectives, named=named, log=log)
    except DataError as err:
        log(f"no held-out test scores: {err}")
        return trials
    if not done.scored and not done.failed and not done.base:
        return trials
    write_results(results_dir, done.trials, objectives=objectives)
    try:
        timings = json.loads((results_dir / TIMINGS).read_text())
    except (OSError, ValueError):
        timings = {}
    timings["test_scoring_s"] = float(timings.get("test_scoring_s") or 0.0) + done.seconds
    atomic_write_text(results_dir / TIMINGS, json.dumps(timings, indent=1))
    log(f"test scores of {len(done.scored)} trial(s) in {done.seconds:.1f} s" + (f"; {len(done.failed)} could not be scored" if done.failed else ""))
    return done.trials
