"""raymt against its nearest peer, side by side in one run: Hugging Face
``Trainer.hyperparameter_search`` (optuna backend, multi-objective) on the same tiny offline task.

    python -m benchmarks.peer_hf [--trials 8]

Both get the same task as `search_spaces/default.yaml` (tiny base, 2,000 medical pairs, 3 epochs,
batch 32, greedy BLEU on 200 validation pairs), the same conditional space (method full / lora /
adapter, learning rate, warmup, LoRA rank and targets, adapter size), the same objectives (max
BLEU, min storage MB of the artefact) and the same number of trials. The HF side uses
``Seq2SeqTrainer`` in one process with both cores, its ``model_init(trial)`` applying raymt's
method modules (HF has no notion of a PEFT method as a hyperparameter); storage is each method's
exact estimate. The raymt side is `raymt search` in a fresh process (`benchmarks.search_default`),
with its default early stopping. Hypervolume: both tables under one reference point, storage on a
log10 scale.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "peer_hf"


def hf_search(n_trials: int, out: Path) -> tuple[pd.DataFrame, float, list[str]]:
    import optuna
    import torch
    from transformers import AutoConfig, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from raymt.config.load import load_config
    from raymt.data.cache import load_tokenized
    from raymt.methods import get_method
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import forced_bos_id, load_model, load_tokenizer
    from raymt.train.prepare import prepare_experiment

    torch.set_num_threads(2)
    cfg = load_config(ROOT / "search_spaces" / "default.yaml", {"storage_path": str(out), "name": "peer"})
    prepared = prepare_experiment(cfg, log=lambda m: None)
    tok = load_tokenizer(prepared.base_path, cfg.model.src_lang, cfg.model.tgt_lang)
    splits = load_tokenized(prepared.data_path)
    cols = ["input_ids", "attention_mask", "labels"]
    train = splits["train"].select_columns(cols)
    valid = splits["validation"].select(range(cfg.eval.max_samples)).select_columns(cols)
    refs = list(splits["validation"]["tgt_text"])[: cfg.eval.max_samples]
    model_config = AutoConfig.from_pretrained(prepared.base_path)
    bos = forced_bos_id(tok, cfg.model.tgt_lang)
    storage: dict[int, float] = {}

    current: dict = {}

    def hp_space(trial):
        current["trial"] = trial.number
        method = trial.suggest_categorical("method", ["full", "lora", "adapter"])
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
            "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.2),
        }
        if method == "lora":
            trial.suggest_categorical("lora_r", [2, 8, 32])
            trial.suggest_categorical("lora_alpha_over_r", [1, 2])
            trial.suggest_categorical("lora_target_modules", ["q_proj+v_proj", "all-linear"])
        elif method == "adapter":
            trial.suggest_categorical("adapter_size", [8, 32, 128])
        return params

    def method_of(trial):
        p = trial.params
        if p["method"] == "lora":
            targets = "all-linear" if p["lora_target_modules"] == "all-linear" else p["lora_target_modules"].split("+")
            return "lora", {"r": p["lora_r"], "alpha": p["lora_r"] * p["lora_alpha_over_r"], "target_modules": targets}
        if p["method"] == "adapter":
            return "adapter", {"size": p["adapter_size"]}
        return "full", {}

    def model_init(trial):
        model = load_model(prepared.base_path)
        model.generation_config.forced_bos_token_id = bos
        model.generation_config.max_new_tokens = cfg.eval.max_new_tokens
        if trial is None:
            return model
        if "method" not in trial.params:
            # transformers 5.24 calls model_init BEFORE hp_space: sample the space here (Optuna
            # returns the same values when hp_space suggests them again)
            hp_space(trial)
        name, params = method_of(trial)
        method = get_method(name)
        storage[trial.number] = method.estimate_bytes(model_config, method.validate_params(params)) / 1e6
        trial.set_user_attr("storage_mb", storage[trial.number])
        return method.apply(model, method.validate_params(params))

    def compute_metrics(pred):
        ids = pred.predictions
        ids = ids.where(ids >= 0, tok.pad_token_id) if hasattr(ids, "where") else ids.clip(min=0)
        hyps = [h.strip() for h in tok.batch_decode(ids, skip_special_tokens=True)]
        return {"bleu": corpus_scores(hyps, refs).bleu}

    def compute_objective(metrics):
        return [metrics["eval_bleu"], storage[current["trial"]]]

    args = Seq2SeqTrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=cfg.train.batch_size,
        per_device_eval_batch_size=cfg.eval.batch_size,
        num_train_epochs=cfg.train.epochs,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="epoch",
        predict_with_generate=True,
        generation_num_beams=1,
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        seed=cfg.train.seed,
    )
    trainer = Seq2SeqTrainer(
        model_init=model_init,
        args=args,
        train_dataset=train,
        eval_dataset=valid,
        data_collator=DataCollatorForSeq2Seq(tok, label_pad_token_id=-100),
        compute_metrics=compute_metrics,
    )
    study_storage = optuna.storages.InMemoryStorage()
    t0 = time.perf_counter()
    best = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=compute_objective,
        n_trials=n_trials,
        direction=["maximize", "minimize"],
        backend="optuna",
        sampler=optuna.samplers.TPESampler(seed=0),
        storage=study_storage,
        study_name="peer",
    )
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name="peer", storage=study_storage)
    rows = []
    for t in study.trials:
        rows.append(
            {
                "trial_id": str(t.number),
                "status": "completed" if t.state.name == "COMPLETE" else "failed",
                "method": t.params.get("method"),
                "bleu": t.values[0] if t.values else math.nan,
                "storage_mb": t.values[1] if t.values else math.nan,
                **{k: v for k, v in t.params.items() if k != "method"},
            }
        )
    left = [
        f"BestRun list of {len(best)} Pareto trials (in memory)",
        "nothing on disk (save_strategy='no'; with saving: one checkpoint folder per step, no table)",
    ]
    return pd.DataFrame(rows), wall, left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from benchmarks.search_default import log_storage_hv, run_one

    print("raymt search (default space) ...", flush=True)
    raymt_run = run_one("mo_asha", args.out, None)
    print("HF Trainer.hyperparameter_search (optuna, multi-objective) ...", flush=True)
    hf_df, hf_wall, hf_left = hf_search(args.trials, args.out)
    hf_df.to_csv(args.out / "hf_trials.csv", index=False)
    hv = log_storage_hv([raymt_run, {"kind": "hf", "trials": hf_df}])
    timings = json.loads((raymt_run["dir"] / "timings.json").read_text())
    raymt_df = raymt_run["trials"]
    rows = {
        "raymt search": {
            "wall_s (search only)": round(timings["tune_fit_s"], 1),
            "trials": len(raymt_df),
            "best BLEU per method": raymt_df[raymt_df.status == "completed"].groupby("method")["bleu"].max().round(2).to_dict(),
            "hypervolume (bleu x log10 MB)": round(hv["mo_asha"], 3),
            "left for the user": "trials.parquet/csv, pareto.csv, report.md + plots, artefacts of the front, Optuna journal",
        },
        "HF hyperparameter_search": {
            "wall_s (search only)": round(hf_wall, 1),
            "trials": len(hf_df),
            "best BLEU per method": hf_df[hf_df.status == "completed"].groupby("method")["bleu"].max().round(2).to_dict(),
            "hypervolume (bleu x log10 MB)": round(hv["hf"], 3),
            "left for the user": "; ".join(hf_left),
        },
    }
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1, default=str))
    print("\n| | " + " | ".join(rows) + " |\n|---|---|---|")
    for key in next(iter(rows.values())):
        print(f"| {key} | " + " | ".join(str(r[key]) for r in rows.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
