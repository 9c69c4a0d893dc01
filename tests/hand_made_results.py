"""A search's results folder made by hand, without Ray: real artefacts saved by the methods
themselves around the tiny base, for the export / translate / evaluate tests and the bad-input
table (the end-to-end search test exports trained ones)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from raymt.analysis.front import front_flags
from raymt.results.files import CONFIG_COPY, MARKER, PREPARED, TRIALS_FILE
from raymt.results.paths import relative_paths, write_prepared

DEFAULT_TRIALS = (("t_lora", "lora", {"r": 8}, 30.0), ("t_adapter", "adapter", {"size": 16}, 31.0))


def make_results_folder(
    folder: Path,
    base: Path,
    trials=DEFAULT_TRIALS,
    *,
    config: dict | None = None,
    failed: bool = True,
    perturb: float = 0.0,
    test_size: int = 0,
    absolute: bool = False,
) -> Path:
    """``folder`` with search_config.yaml, prepared.json, the experiment marker, trials.parquet
    and one artefact per trial (``(trial_id, method, params, bleu)``); ``config`` is merged into
    the search config (e.g. an ``eval:`` section). A fresh LoRA/adapter is the identity;
    ``perturb`` adds seeded noise of that size to the trainable weights, so the trial's model
    translates differently from its base. ``test_size`` > 0 prepares tokenised validation and
    test splits of that many synthetic pairs (recorded in prepared.json as the search does), so
    the trials can be scored on the held-out test split. Paths are written as a search writes
    them (relative to the folder); ``absolute=True`` writes them as raymt 0.1 did (absolute)."""
    import torch

    from raymt.methods import get_method
    from raymt.model.loading import load_model

    folder.mkdir(parents=True, exist_ok=True)
    raw = {
        "name": "r",
        "storage_path": str(folder.parent),
        "model": {"name_or_path": "tiny"},
        "search": {
            "objectives": {"bleu": "max", "storage_mb": "min"},
            "space": {"method": ["lora", "adapter"], "methods": {"lora": {"r": {"choices": [4, 8]}}, "adapter": {"size": {"choices": [8, 16]}}}},
        },
    }
    raw.update(config or {})
    (folder / CONFIG_COPY).write_text(yaml.safe_dump(raw))
    data_path = _prepared_data(folder / ".cache", base, test_size) if test_size else ""
    if absolute:
        (folder / PREPARED).write_text(json.dumps({"base_path": str(base), "data_path": data_path}))
    else:
        write_prepared(folder, {"base_path": str(base), "data_path": data_path})
    (folder / MARKER).write_text("{}")
    rows = []
    for trial_id, method, params, bleu in trials:
        m = get_method(method)
        art = folder / "artifacts" / trial_id
        model = m.apply(load_model(str(base)), m.validate_params(params))
        if perturb:
            gen = torch.Generator().manual_seed(0)
            with torch.no_grad():
                for p in model.parameters():
                    if p.requires_grad:
                        p.add_(perturb * torch.randn(p.shape, generator=gen))
        m.save(model, art)
        size = sum(f.stat().st_size for f in art.rglob("*") if f.is_file()) / 1e6
        row = {
            "trial_id": trial_id,
            "status": "completed",
            "method": method,
            "bleu": bleu,
            "chrf": 50.0,
            "storage_mb": size,
            "artifact_path": str(art),
            "sacrebleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
        }
        row.update({f"{method}.{k}": v for k, v in params.items()})
        rows.append(row)
    if failed:
        rows.append({"trial_id": "t_failed", "status": "failed", "method": "lora", "lora.r": 4})
    table = pd.DataFrame(rows)
    # the columns collect_results adds: run order, the ids of Tune and Optuna, the front and its knee
    table.insert(1, "start_time", pd.date_range("2026-01-01", periods=len(table), freq="min", tz="UTC"))
    table.insert(2, "tune_trial_id", table["trial_id"])
    table.insert(3, "optuna_number", pd.array(range(len(table)), dtype="Int64"))
    table["is_pareto"], table["is_knee"] = front_flags(table, {"bleu": "max", "storage_mb": "min"})
    (table if absolute else relative_paths(table, folder)).to_parquet(folder / TRIALS_FILE)
    return folder


def _prepared_data(root: Path, base: Path, size: int) -> str:
    """The tokenised splits ``prepare`` would build for the tiny base (en_XX -> de_DE)."""
    from raymt.data.cache import build_tokenized
    from raymt.data.synthetic import SyntheticSpec, generate_splits
    from raymt.model.loading import load_tokenizer

    splits = generate_splits(SyntheticSpec(seed=7, train_size=1, valid_size=size, test_size=size, lexicon_size=20))
    tokenizer = load_tokenizer(str(base), "en_XX", "de_DE")
    return str(build_tokenized(splits, tokenizer, 64, root))
