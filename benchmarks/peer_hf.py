"""raymt against its nearest peer, side by side in one run: Hugging Face
``Trainer.hyperparameter_search`` (optuna backend, multi-objective) on the same tiny offline task,
like for like.

    python -m benchmarks.peer_hf [--out DIR] [--reuse-raymt] [--trials N --epochs N --train-size N --cache DIR]

raymt runs first: `raymt search` on `search_spaces/default.yaml` in a fresh process
(`benchmarks.search_default`), with no early stopping (``--scheduler none``: every trial runs all
its epochs, as HF's do). HF then runs THE SAME configurations: raymt's trials table
is enqueued into the Optuna study HF creates (``enqueue_trial``), so the comparison is of
the two systems, not of two samplers. Like for like:

- the same task (tiny base, 2,000 medical pairs, 3 epochs, greedy BLEU on 200 validation pairs);
- the same GLOBAL batch and optimizer steps: raymt's ``batch_size`` is per worker, so HF's one
  process takes ``batch_size x num_workers`` (64) sentences per step: 32 steps per epoch on both;
- the same schedule: linear decay after ``round(warmup_ratio x total steps)`` warm-up steps
  (HF's own ratio rounds up; it gets the step count), AdamW with the same weight decay and
  clipping, the same seed;
- the same result definition: a trial's BLEU is its best epoch's on both sides (raymt's
  default; HF's objective is made the best evaluation so far, the last one is kept too);
- the same objectives (max BLEU, min storage MB of the artefact: each method's exact size).

HF's ``model_init(trial)`` applies raymt's method modules (HF has no notion of a PEFT method as
a hyperparameter). Hypervolume: both tables under one reference point, storage on a log10 scale.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "peer_hf"


def hf_params(row) -> dict:
    """One raymt trial's configuration as the HF side's Optuna parameters."""
    params = {"method": row["method"], "learning_rate": float(row["train.lr"]), "warmup_ratio": float(row["train.warmup_ratio"])}
    if row["method"] == "lora":
        targets = row["lora.target_modules"]
        params["lora_r"] = int(row["lora.r"])
        params["lora_alpha_over_r"] = int(row["lora.alpha_over_r"])
        params["lora_target_modules"] = targets if isinstance(targets, str) else "+".join(targets)
    elif row["method"] == "adapter":
        params["adapter_size"] = int(row["adapter.size"])
    return params


def hf_search(configs: list[dict], out: Path, global_batch: int, overrides: dict) -> tuple[pd.DataFrame, float, list[str]]:
    import optuna
    import torch
    from transformers import AutoConfig, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback

    from raymt.config.load import load_config
    from raymt.data.cache import load_tokenized
    from raymt.methods import get_method
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import forced_bos_id, load_model, load_tokenizer
    from raymt.train.prepare import prepare_experiment

    torch.set_num_threads(2)
    from raymt.config.load import deep_merge

    cfg = load_config(ROOT / "search_spaces" / "default.yaml", deep_merge(overrides, {"storage_path": str(out), "name": "peer"}))
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
    total_steps = math.ceil(len(train) / global_batch) * cfg.train.epochs
    current: dict = {}

    def hp_space(trial):
        if current.get("trial") != trial.number:  # a new trial: its best and last evaluations
            current.update(trial=trial.number, bleu=[])
        method = trial.suggest_categorical("method", ["full", "lora", "adapter"])
        ratio = trial.suggest_float("warmup_ratio", 0.0, 0.2)
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
            # transformers 5.24 has no warmup_ratio field (a ratio would be ignored with a
            # warning); raymt warms up round(ratio x steps) steps: give HF that count
            "warmup_steps": float(round(ratio * total_steps)),
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
        # the trial's result = its best epoch so far, as raymt's (the last call's value is kept)
        current["bleu"].append(metrics["eval_bleu"])
        return [max(current["bleu"]), storage[current["trial"]]]

    last_bleu: dict[int, float] = {}

    class KeepLast(TrainerCallback):
        def on_train_end(self, args, state, control, **kwargs):
            last_bleu[current["trial"]] = current["bleu"][-1] if current["bleu"] else math.nan

    args = Seq2SeqTrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=global_batch,
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
        lr_scheduler_type=cfg.train.schedule,
        weight_decay=cfg.train.weight_decay,
        max_grad_norm=cfg.train.max_grad_norm,
    )
    trainer = Seq2SeqTrainer(
        model_init=model_init,
        args=args,
        train_dataset=train,
        eval_dataset=valid,
        data_collator=DataCollatorForSeq2Seq(tok, label_pad_token_id=-100),
        compute_metrics=compute_metrics,
        callbacks=[KeepLast()],
    )
    study_storage = optuna.storages.InMemoryStorage()
    # raymt's configurations, in raymt's order: HF's create_study loads this study and runs them
    study = optuna.create_study(storage=study_storage, study_name="peer", directions=["maximize", "minimize"])
    for params in configs:
        study.enqueue_trial(params)
    t0 = time.perf_counter()
    best = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=compute_objective,
        n_trials=len(configs),
        direction=["maximize", "minimize"],
        backend="optuna",
        sampler=optuna.samplers.TPESampler(seed=0),  # never asked: every trial is enqueued
        storage=study_storage,
        study_name="peer",
        load_if_exists=True,
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
                "bleu_last_epoch": last_bleu.get(t.number, math.nan),
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
    parser.add_argument("--scheduler", default="none", help="raymt's early stopping (none: every trial runs all epochs, as HF's)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--reuse-raymt", action="store_true", help="take raymt's finished search from --out instead of running it again")
    import yaml

    from benchmarks.search_default import add_size_options, link_cache, log_storage_hv, run_one, size_overrides

    add_size_options(parser)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    link_cache(args.out, args.cache)
    overrides = size_overrides(args)

    load = {"before": os.getloadavg()}
    print(f"raymt search (default space, scheduler {args.scheduler}) ...", flush=True)
    done = args.out / f"default-{args.scheduler}"
    if args.reuse_raymt and (done / "timings.json").exists():
        raymt_run = {"kind": args.scheduler, "trials": pd.read_parquet(done / "trials.parquet"), "dir": done}
    else:
        raymt_run = run_one(args.scheduler, args.out, None, overrides=overrides)
    raymt_df = raymt_run["trials"].reset_index(drop=True)  # HF runs them in this order
    space = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    global_batch = space["train"]["batch_size"] * space["resources"]["num_workers"]
    configs = [hf_params(row) for _, row in raymt_df.iterrows()]
    load["between"] = os.getloadavg()
    print(f"HF Trainer.hyperparameter_search on raymt's {len(configs)} configurations, global batch {global_batch} ...", flush=True)
    hf_df, hf_wall, hf_left = hf_search(configs, args.out, global_batch, overrides)
    load["after"] = os.getloadavg()
    hf_df.to_csv(args.out / "hf_trials.csv", index=False)
    hv = log_storage_hv([raymt_run, {"kind": "hf", "trials": hf_df}])
    timings = json.loads((raymt_run["dir"] / "timings.json").read_text())
    side = pd.DataFrame(
        {
            "method": raymt_df["method"].to_numpy(),
            "raymt_bleu": raymt_df["bleu"].round(2).to_numpy(),
            "hf_bleu": hf_df["bleu"].round(2).to_numpy(),
            "hf_bleu_last_epoch": hf_df["bleu_last_epoch"].round(2).to_numpy(),
            "storage_mb": raymt_df["storage_mb"].round(3).to_numpy(),
            "train.lr": raymt_df["train.lr"].to_numpy(),
        }
    )
    side.to_csv(args.out / "side_by_side.csv", index=False)
    rows = {
        "raymt search": {
            "wall_s (search only)": round(timings["tune_fit_s"], 1),
            "trials": len(raymt_df),
            "best BLEU per method": raymt_df[raymt_df.status == "completed"].groupby("method")["bleu"].max().round(2).to_dict(),
            "hypervolume (bleu x log10 MB)": round(hv[args.scheduler], 3),
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
    (args.out / "summary.json").write_text(json.dumps({"rows": rows, "load": load}, indent=1, default=str))
    print(f"\nper configuration (global batch {global_batch}, best epoch on both):\n{side.to_string(index=False)}")
    print("\n| | " + " | ".join(rows) + " |\n|---|---|---|")
    for key in next(iter(rows.values())):
        print(f"| {key} | " + " | ".join(str(r[key]) for r in rows.values()) + " |")
    print(f"load averages (1, 5, 15 min): {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
