"""Export one trial of a search as a ready-to-use folder, and load such a folder back.

Why a folder of its own and not "the checkpoint": a checkpoint holds optimizer state and Ray
bookkeeping, and a PEFT artefact alone does not say which base, tokenizer and language codes it
needs. The export holds exactly what a user keeps (the method's own artefact format: peft's for
LoRA/IA3/prompt/prefix, ``save_pretrained``'s for full fine-tuning, raymt's for adapters), plus
the tokenizer, ``raymt_export.json`` (base, method, languages, trial config, metrics, sacrebleu
signature, and every decoding setting the search scored with, which translate/evaluate replay)
and a model card with Hugging Face model-index metadata.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pandas as pd

from raymt.errors import ConfigError, DataError
from raymt.export.card import model_card
from raymt.io import atomic_write_text
from raymt.object_store import is_uri, join, localize
from raymt.results.columns import is_missing
from raymt.results.files import CONFIG_COPY, PREPARED
from raymt.results.paths import PATH_COLUMNS, locate_base, read_prepared, resolve_in

META = "raymt_export.json"
CARD = "README.md"


def choose_trial(
    df: pd.DataFrame, *, trial: str | None = None, best_under_mb: float | None = None, knee: bool = False, objectives: dict | None = None, log=None
) -> pd.Series:
    """The trial to export: by id, the best BLEU within a storage budget, or the front's knee.

    ``knee``: ``Front.knee()``, the report's knee; ``log`` receives its one-line reason (which
    also says when the front has no knee and which member is chosen instead)."""
    from raymt.analysis.front import Front

    if sum(x is not None and x is not False for x in (trial, best_under_mb, knee or None)) != 1:
        raise ConfigError(
            "say which trial to export", where="--trial / --best-under-mb / --knee", fix="give exactly one of --trial ID, --best-under-mb MB, --knee"
        )
    if trial is not None:
        rows = df[df["trial_id"].astype(str) == str(trial)]
        if rows.empty:
            raise ConfigError(f"no trial {trial!r} in this search", where="--trial", fix=f"use one of {', '.join(map(str, df['trial_id']))}")
        row = rows.iloc[0]
        if row["status"] != "completed":
            raise ConfigError(
                f"trial {trial} is {row['status']}: it has no finished model", where="--trial", fix="pick a completed trial (see trials.csv)"
            )
        return row
    front = Front(df, objectives or {"bleu": "max", "storage_mb": "min"})
    if knee:
        chosen = front.knee()
        if log is not None:
            log(chosen.why)
        return chosen.row
    if not best_under_mb > 0:  # NaN too
        raise ConfigError(
            f"the storage budget must be above 0 MB, got {best_under_mb:g}",
            where="--best-under-mb",
            fix="give the most disk the model may take, in MB (e.g. --best-under-mb 1.0)",
        )
    try:
        return front.select(max_storage_mb=best_under_mb)
    except ConfigError as err:  # say it with the flag the user typed, not the Python call
        raise ConfigError(
            f"no trial on the front fits in {best_under_mb:g} MB",
            where="--best-under-mb",
            fix=(err.fix or "").replace("relax a limit", "raise --best-under-mb"),
        ) from None


def trial_config(results_dir: Path, row: pd.Series) -> dict:
    """The trial's full experiment config (raw, as YAML would give it), rebuilt from the search's
    space and the trials table's row: what export and test scoring load the artefact with."""
    from raymt.config.load import read_yaml
    from raymt.search.space import CompiledSpace, SpaceConfig

    raw = read_yaml(results_dir / CONFIG_COPY)
    space = SpaceConfig.model_validate((raw.get("search") or {}).get("space") or {})
    compiled = CompiledSpace(space, {k: v for k, v in raw.items() if k != "search"})
    return compiled.to_raw_config(compiled.row_params(row))


def _resolved(row: pd.Series, results_dir: Path) -> pd.Series:
    """The row with its paths on this machine (a row read straight from trials.parquet holds
    them relative to the results folder)."""
    row = row.copy()
    for col in PATH_COLUMNS:
        if col in row.index:
            row[col] = resolve_in(row[col], results_dir)
    return row


def artifact_dir(row: pd.Series, results_dir: Path | None = None) -> Path:
    """The folder of a trial's kept artefact on this machine: ``artifact_path``, else the best
    (or last) checkpoint's. ``results_dir``: the folder the row was read from, when its paths
    are still relative to it (a row straight from trials.parquet)."""
    if results_dir is not None:
        row = _resolved(row, results_dir)
    # paths of an object-store experiment are URIs: fetched to this machine's staging copy
    kept = row.get("artifact_path")
    if isinstance(kept, str) and kept:
        with contextlib.suppress(FileNotFoundError):
            if Path(localize(kept)).is_dir():
                return Path(localize(kept))
    ckpt = str(row.get("checkpoint_path") or "")
    for sub in ("best", "artifact"):
        if not ckpt:
            break
        with contextlib.suppress(FileNotFoundError):
            local = Path(localize(join(ckpt, sub)))
            if local.is_dir():
                return local
    raise DataError(
        f"the artefact of trial {row['trial_id']} is gone",
        where="artifact_path / checkpoint_path",
        fix="export a trial of the front (kept by default) or run the search with keep_artifacts: all",
    )


def _check_destination(out: Path) -> None:
    """``--to`` must be a new or empty folder whose parents are folders: refused before any work."""
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"{out} is a file, not a folder", where="--to", fix="give the path of a new folder (the export writes several files into it)"
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(
            f"{parent} is a file, so {out} cannot be created", where="--to", fix="give the path of a new folder under an existing folder"
        )
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty", where="--to", fix="choose a new folder")


def export_trial(results_dir: str | Path, row: pd.Series, out_dir: str | Path, *, merge: bool = False, base: str | Path | None = None) -> Path:
    """Write the trial's artefact, tokenizer, config, metrics, decoding settings and model card to ``out_dir``.

    ``base``: the base model's folder, for a results folder moved away from the cache that
    holds it (default: where ``prepared.json`` says, or ``$RAYMT_BASE``)."""
    from raymt.config.schema import ExperimentConfig
    from raymt.model.generation import Decoding
    from raymt.model.loading import load_model, load_tokenizer

    results_dir, out = Path(results_dir), Path(out_dir)
    _check_destination(out)
    prepared = read_prepared(results_dir)
    # an object-store experiment records its cache by URI (fetched); a moved folder may need --base
    base = locate_base(prepared["base_path"], override=base, where=str(results_dir / PREPARED))
    raw = trial_config(results_dir, row)
    cfg = ExperimentConfig.model_validate(raw)
    method = cfg.method.name
    if merge and method != "lora":
        raise ConfigError(
            f"--merge folds LoRA weights into the base; this trial used {method!r}",
            where="--merge",
            fix="drop --merge (full models are already standalone; other methods keep their own format)",
        )
    src = artifact_dir(row, results_dir)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as err:
        raise ConfigError(f"cannot create {tmp}: {err.strerror or err}", where="--to", fix="choose a folder you can write to") from None
    try:
        with quiet():
            if merge:
                from raymt.methods import get_method

                model = get_method("lora").load(load_model(base), src).merge_and_unload()
                model.save_pretrained(tmp, safe_serialization=True)
                kind = "merged"
            else:
                shutil.copytree(src, tmp, dirs_exist_ok=True)
                kind = "full" if method == "full" else "adapter"
            tokenizer = load_tokenizer(base, cfg.model.src_lang, cfg.model.tgt_lang)
            tokenizer.save_pretrained(tmp)
        meta = {
            "trial_id": str(row["trial_id"]),
            "method": method,
            "kind": kind,
            "base": _recorded_base(base, prepared["base_path"]),
            "src_lang": cfg.model.src_lang,
            "tgt_lang": cfg.model.tgt_lang,
            "max_length": cfg.model.max_length,
            "pairs": _pairs(cfg, row),
            "decoding": _decoding_record(cfg, Decoding.from_config(cfg)),
            "config": cfg.model_dump(mode="json"),
            "metrics": _metrics(row),
            "results_dir": str(results_dir.resolve()),
        }
        atomic_write_text(tmp / META, json.dumps(meta, indent=1))
        atomic_write_text(tmp / CARD, model_card(meta))
        if out.exists():  # an empty folder the user made for it
            out.rmdir()
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


_METRICS = (
    "bleu",
    "chrf",
    "eval_loss",
    "storage_mb",
    "trainable_params",
    "total_params",
    "best_epoch",
    "train_time_s",
    "sacrebleu_signature",
    "chrf_signature",
)


def _metrics(row: pd.Series) -> dict:
    from raymt.metrics.per_pair import pair_metric_columns

    return {k: _plain(row.get(k)) for k in list(_METRICS) + pair_metric_columns(row.index)}


def _pairs(cfg, row: pd.Series) -> list[dict]:
    """Every direction the trial learnt, with the BLEU tokenizer its target was scored with."""
    from raymt.metrics.bleu import bleu_tokenizer
    from raymt.metrics.per_pair import pair_key, pair_metric

    codes = [(p.src_lang, p.tgt_lang) for p in cfg.multi_pair.pairs] if cfg.multi_pair is not None else [(cfg.model.src_lang, cfg.model.tgt_lang)]
    out = []
    for src, tgt in codes:
        key = pair_key(src, tgt)
        entry = {"pair": key, "src_lang": src, "tgt_lang": tgt, "bleu_tokenize": bleu_tokenizer(cfg.eval.bleu_tokenize, tgt)}
        if len(codes) > 1:
            entry.update({m: _plain(row.get(pair_metric(m, key))) for m in ("bleu", "chrf")})
        out.append(entry)
    return out


def _decoding_record(cfg, decoding) -> dict:
    """What the search decoded with, and on what: translate/evaluate replay it (evaluate = search)."""
    return {**decoding.to_dict(), "bleu_tokenize": cfg.eval.bleu_tokenize, "split": cfg.eval.split, "max_samples": cfg.eval.max_samples}


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    return None if is_missing(value) else value


@contextlib.contextmanager
def quiet():
    """No loader progress bars, info logs or library warnings while loading and generating:
    ``raymt translate`` prints translations, ``raymt evaluate`` prints scores, nothing else."""
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    peft_logger = logging.getLogger("peft")
    peft_level = peft_logger.level
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    peft_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        peft_logger.setLevel(peft_level)


def choose_pair(meta: dict, pair: str | None = None) -> dict:
    """The direction to translate: ``pair`` (``en_XX-de_DE``) or the export's only one."""
    pairs = meta.get("pairs") or [
        {"pair": f"{meta['src_lang']}-{meta['tgt_lang']}", "src_lang": meta["src_lang"], "tgt_lang": meta["tgt_lang"]}
    ]  # an export written before pairs were recorded
    names = [p["pair"] for p in pairs]
    if pair is None:
        if len(pairs) > 1:
            raise ConfigError(
                f"this export translates {len(pairs)} directions ({', '.join(names)})", where="--pair", fix=f"say which, e.g. --pair {names[0]}"
            )
        return pairs[0]
    for entry in pairs:
        if entry["pair"] == pair:
            return entry
    raise ConfigError(f"this export has no direction {pair!r}", where="--pair", fix=f"use one of {', '.join(names)}")


def read_export_meta(out_dir: str | Path, *, pair: str | None = None) -> dict:
    """``raymt_export.json`` with ``src_lang`` / ``tgt_lang`` / ``pair`` set to the chosen
    direction; cheap (no model), so bad arguments are refused before anything loads."""
    out = Path(out_dir)
    if not (out / META).is_file():
        raise ConfigError(f"{out} is not a raymt export (no {META})", where=str(out), fix="pass a folder written by `raymt export`")
    meta = json.loads((out / META).read_text())
    chosen = choose_pair(meta, pair)
    return {**meta, "src_lang": chosen["src_lang"], "tgt_lang": chosen["tgt_lang"], "pair": chosen}


def _recorded_base(found: str, recorded: str) -> str:
    """What the export records as its base: the URI when the search recorded one (any machine
    can fetch it), else the folder found on this machine."""
    return recorded if is_uri(recorded) else str(Path(found).resolve())


def load_exported(out_dir: str | Path, *, pair: str | None = None, base: str | Path | None = None):
    """(model, tokenizer, meta) of an exported folder, ready for ``generate``.

    ``meta`` is ``raymt_export.json`` with ``src_lang`` / ``tgt_lang`` (and the tokenizer's
    codes) set to the chosen direction (``pair``; needed when the trial learnt several). An
    adapter needs its base model: ``base`` (``--base``) or ``$RAYMT_BASE`` when it is no longer
    where the export recorded it.
    """
    from raymt.methods import get_method
    from raymt.model.loading import load_model, load_tokenizer

    out = Path(out_dir)
    meta = read_export_meta(out, pair=pair)
    with quiet():
        tokenizer = load_tokenizer(str(out), meta["src_lang"], meta["tgt_lang"])
        if meta["kind"] in ("full", "merged"):
            model = load_model(str(out))
        else:
            base_dir = locate_base(meta["base"], override=base, where=str(out / META))  # a URI base: fetched once
            model = get_method(meta["method"]).load(load_model(base_dir), out)
    return model.eval(), tokenizer, meta
