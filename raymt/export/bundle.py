"""Export one trial of a search as a ready-to-use folder, and load such a folder back.

Why a folder of its own and not "the checkpoint": a checkpoint holds optimizer state and Ray
bookkeeping, and a PEFT artefact alone does not say which base, tokenizer and language codes it
needs. The export holds exactly what a user keeps (the method's own artefact format: peft's for
LoRA/IA3/prompt/prefix, ``save_pretrained``'s for full fine-tuning, raymt's for adapters), plus
the tokenizer, ``raymt_export.json`` (base, method, languages, trial config, metrics, sacrebleu
signature) and a model card.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from pathlib import Path

import pandas as pd

from raymt.errors import ConfigError, DataError
from raymt.io import atomic_write_text
from raymt.object_store import join, localize
from raymt.results.files import CONFIG_COPY, PREPARED

META = "raymt_export.json"
CARD = "README.md"


def choose_trial(df: pd.DataFrame, *, trial: str | None = None, best_under_mb: float | None = None,
                 knee: bool = False, objectives: dict | None = None) -> pd.Series:
    """The trial to export: by id, the best BLEU within a storage budget, or the front's knee."""
    from raymt.analysis.front import Front

    if sum(x is not None and x is not False for x in (trial, best_under_mb, knee or None)) != 1:
        raise ConfigError("say which trial to export", where="--trial / --best-under-mb / --knee",
                          fix="give exactly one of --trial ID, --best-under-mb MB, --knee")
    if trial is not None:
        rows = df[df["trial_id"].astype(str) == str(trial)]
        if rows.empty:
            raise ConfigError(f"no trial {trial!r} in this search", where="--trial",
                              fix=f"use one of {', '.join(map(str, df['trial_id']))}")
        row = rows.iloc[0]
        if row["status"] != "completed":
            raise ConfigError(f"trial {trial} is {row['status']}: it has no finished model", where="--trial",
                              fix="pick a completed trial (see trials.csv)")
        return row
    front = Front(df, objectives or {"bleu": "max", "storage_mb": "min"})
    if knee:
        return front.knee(log_objectives=["storage_mb"])
    return front.select(max_storage_mb=best_under_mb)


def _trial_config(results_dir: Path, row: pd.Series) -> dict:
    """The trial's full experiment config, rebuilt from the search's space and the row."""
    from raymt.config.load import read_yaml
    from raymt.search.space import CompiledSpace, SpaceConfig

    raw = read_yaml(results_dir / CONFIG_COPY)
    space = SpaceConfig.model_validate((raw.get("search") or {}).get("space") or {})
    compiled = CompiledSpace(space, {k: v for k, v in raw.items() if k != "search"})
    params = {}
    for col in compiled.flat_columns():
        value = row.get(col)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        params[col] = value.item() if hasattr(value, "item") else value
    return compiled.to_raw_config(params)


def _artifact_dir(row: pd.Series) -> Path:
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
    raise DataError(f"the artefact of trial {row['trial_id']} is gone", where="artifact_path / checkpoint_path",
                    fix="export a trial of the front (kept by default) or run the search with keep_artifacts: all")


def export_trial(results_dir: str | Path, row: pd.Series, out_dir: str | Path, *, merge: bool = False) -> Path:
    """Write the trial's artefact, tokenizer, config, metrics and model card to ``out_dir``."""
    from raymt.config.schema import ExperimentConfig
    from raymt.model.loading import load_model, load_tokenizer

    results_dir, out = Path(results_dir), Path(out_dir)
    prepared = json.loads((results_dir / PREPARED).read_text())
    base = localize(prepared["base_path"])  # an object-store experiment records its cache by URI
    raw = _trial_config(results_dir, row)
    cfg = ExperimentConfig.model_validate(raw)
    method = cfg.method.name
    if merge and method != "lora":
        raise ConfigError(f"--merge folds LoRA weights into the base; this trial used {method!r}", where="--merge",
                          fix="drop --merge (full models are already standalone; other methods keep their own format)")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty", where="--to", fix="choose a new folder")
    src = _artifact_dir(row)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    if merge:
        from raymt.methods import get_method

        model = get_method("lora").load(load_model(base), src).merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        kind = "merged"
    else:
        shutil.copytree(src, tmp)
        kind = "full" if method == "full" else "adapter"
    tokenizer = load_tokenizer(base, cfg.model.src_lang, cfg.model.tgt_lang)
    tokenizer.save_pretrained(tmp)
    metrics = {k: _plain(row.get(k)) for k in ("bleu", "chrf", "eval_loss", "storage_mb", "trainable_params",
                                                "total_params", "best_epoch", "train_time_s", "sacrebleu_signature")}
    meta = {"trial_id": str(row["trial_id"]), "method": method, "kind": kind, "base": prepared["base_path"],
            "src_lang": cfg.model.src_lang, "tgt_lang": cfg.model.tgt_lang, "max_length": cfg.model.max_length,
            "config": cfg.model_dump(mode="json"), "metrics": metrics, "results_dir": str(results_dir.resolve())}
    atomic_write_text(tmp / META, json.dumps(meta, indent=1))
    atomic_write_text(tmp / CARD, _model_card(meta))
    if out.exists():  # an empty folder the user made for it
        out.rmdir()
    tmp.replace(out)
    return out


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _model_card(meta: dict) -> str:
    m = meta["metrics"]
    how = {
        "full": "MBartForConditionalGeneration.from_pretrained('{this folder}')",
        "merged": "MBartForConditionalGeneration.from_pretrained('{this folder}')  # LoRA merged into the base",
        "adapter": f"raymt.export.load_exported('{{this folder}}')  # base: {meta['base']}",
    }[meta["kind"]]
    if meta["kind"] == "adapter" and meta["method"] in ("lora", "ia3", "prompt", "prefix"):
        how += f"\n# or, with peft: PeftModel.from_pretrained(MBartForConditionalGeneration.from_pretrained('{meta['base']}'), '{{this folder}}')"
    return f"""# raymt export: trial {meta['trial_id']} ({meta['method']})

{meta['src_lang']} -> {meta['tgt_lang']}, fine-tuned from `{meta['base']}` with `{meta['method']}`.

| metric | value |
|---|---|
| BLEU | {m.get('bleu')} |
| chrF | {m.get('chrf')} |
| storage (MB, this artefact as trained) | {m.get('storage_mb')} |
| trainable parameters | {m.get('trainable_params')} |
| best epoch | {m.get('best_epoch')} |

BLEU signature: `{m.get('sacrebleu_signature')}` (on the search's `{meta['config']['eval']['split']}` split).

## Use

```python
{how}
```

```bash
raymt translate {{this folder}} < source.txt
raymt evaluate {{this folder}} --src source.txt --ref reference.txt
```

The trial's full configuration is in `raymt_export.json`.
"""


def load_exported(out_dir: str | Path):
    """(model, tokenizer, meta) of an exported folder, ready for ``generate``."""
    from raymt.methods import get_method
    from raymt.model.loading import load_model, load_tokenizer

    out = Path(out_dir)
    if not (out / META).exists():
        raise ConfigError(f"{out} is not a raymt export (no {META})", where=str(out),
                          fix="pass a folder written by `raymt export`")
    meta = json.loads((out / META).read_text())
    tokenizer = load_tokenizer(str(out), meta["src_lang"], meta["tgt_lang"])
    if meta["kind"] in ("full", "merged"):
        model = load_model(str(out))
    else:
        model = get_method(meta["method"]).load(load_model(localize(meta["base"])), out)  # a URI base: fetched once
    return model.eval(), tokenizer, meta
