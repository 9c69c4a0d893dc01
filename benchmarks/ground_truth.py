"""The ground-truth table of raymt's own space: one row per configuration a grid search trained.

Issue 17 item 1. ``raymt search search_spaces/ground_truth.yaml`` trains every configuration of
a discretised space once (``search.sampler.kind: grid``); this script turns its results folder
into one small CSV that samplers can be replayed on (``python -m benchmarks.sampler_replay``):

    python -m benchmarks.ground_truth raymt_results/ground_truth [--out benchmarks/data/ground_truth_real_text.csv]

Columns: the configuration (``method``, ``train.lr``, ``lora.r``, ``adapter.size``; NaN where a
parameter does not apply), ``seed`` (``train.seed``), ``val_bleu_epoch<k>`` (validation BLEU
after each epoch, on the ``eval.max_samples`` first validation sentences), ``val_bleu_final``
(the last epoch's), ``val_bleu`` (the trial's result: the best epoch's, what the search
optimises), ``best_epoch``, ``test_bleu`` / ``test_chrf`` (the kept, best-epoch artefact
translating the whole test split once: never used by any choice), ``storage_bytes`` (the exact
bytes of the artefact folder a user keeps) and ``storage_mb`` (the search's objective),
``trainable_params``, ``wall_time_s`` (Tune's time of the trial: start-up, training, every
epoch's validation), ``train_time_s``, ``status`` and ``trial_id``.

Every completed trial is scored on the test split here (the search itself scores only its
front), through raymt's own held-out scoring (:func:`raymt.results.test_scores.score_on_test`);
the results folder's tables are not rewritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from raymt.results.files import CONFIG_COPY, HISTORY_FILE, TRIALS_FILE
from raymt.results.test_scores import score_on_test

OUT_CSV = Path(__file__).resolve().parent / "data" / "ground_truth_real_text.csv"
PARAMS = ("method", "train.lr", "lora.r", "adapter.size")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def ground_truth(results_dir: Path, *, test: bool = True, log=print) -> pd.DataFrame:
    """The table (see the module docstring) of the grid search in ``results_dir``."""
    trials = pd.read_parquet(results_dir / TRIALS_FILE)
    history = pd.read_parquet(results_dir / HISTORY_FILE) if (results_dir / HISTORY_FILE).exists() else pd.DataFrame()
    raw = yaml.safe_load((results_dir / CONFIG_COPY).read_text())
    objectives = (raw.get("search") or {}).get("objectives") or {"bleu": "max", "storage_mb": "min"}
    seed = int((raw.get("train") or {}).get("seed", 0))
    if test:
        done = trials.loc[trials["status"] == "completed", "trial_id"].astype(str).tolist()
        trials = score_on_test(results_dir, trials, objectives, named=done, log=log).trials
    rows = []
    for _, t in trials.iterrows():
        row = {p: t.get(p) for p in PARAMS}
        row["seed"] = int(t["train.seed"]) if "train.seed" in t and pd.notna(t["train.seed"]) else seed
        curve = history[history["trial_id"].astype(str) == str(t["trial_id"])].sort_values("epoch") if len(history) else history
        for _, h in curve.iterrows():
            row[f"val_bleu_epoch{int(h['epoch'])}"] = float(h["bleu"])
        row["val_bleu_final"] = float(curve["bleu"].iloc[-1]) if len(curve) else float("nan")
        row["val_bleu"] = t.get("bleu")
        row["best_epoch"] = t.get("best_epoch")
        row["test_bleu"] = t.get("test_bleu")
        row["test_chrf"] = t.get("test_chrf")
        artefact = results_dir / str(t.get("artifact_path") or "")
        row["storage_bytes"] = folder_size(artefact) if t.get("artifact_path") and artefact.is_dir() else pd.NA
        row["storage_mb"] = t.get("storage_mb")
        row["trainable_params"] = t.get("trainable_params")
        row["wall_time_s"] = t.get("wall_time_s")
        row["train_time_s"] = t.get("train_time_s")
        row["status"] = t["status"]
        row["trial_id"] = t["trial_id"]
        rows.append(row)
    df = pd.DataFrame(rows)
    epochs = sorted(c for c in df.columns if c.startswith("val_bleu_epoch"))
    order = [*PARAMS, "seed", *epochs, "val_bleu_final", "val_bleu", "best_epoch", "test_bleu", "test_chrf"]
    order += ["storage_bytes", "storage_mb", "trainable_params", "wall_time_s", "train_time_s", "status", "trial_id"]
    df = df[order].sort_values(["method", "lora.r", "adapter.size", "train.lr", "seed"], na_position="first", kind="mergesort")
    return df.reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", type=Path, help="results folder of `raymt search search_spaces/ground_truth.yaml`")
    ap.add_argument("--out", type=Path, default=OUT_CSV, help=f"CSV to write (default {OUT_CSV})")
    ap.add_argument("--no-test", action="store_true", help="skip scoring every trial on the test split")
    args = ap.parse_args(argv)
    df = ground_truth(args.results_dir, test=not args.no_test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, float_format="%.6g")
    shown = df.drop(columns=["trial_id"]).to_string(index=False, float_format=lambda v: f"{v:.4g}")
    print(shown)
    print(f"\n{len(df)} trials ({(df['status'] == 'completed').sum()} completed) -> {args.out}")


if __name__ == "__main__":
    main()
