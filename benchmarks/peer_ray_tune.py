"""raymt against plain Ray Tune: what a Ray user writes by hand, side by side in one run.

    python -m benchmarks.peer_ray_tune [--out DIR] [--reuse-raymt] [--trials N --epochs N --train-size N --cache DIR]

The peer runs first, then raymt: `raymt search` on `search_spaces/default.yaml` in a fresh process
(`benchmarks.search_default`, its default sampler and multi-objective early stopping, mo_asha).

The peer, in this file and without raymt's search or trial code: a Tune function trainable that
builds a ``TorchTrainer`` and calls ``fit()`` (the Ray 2.60 pattern for Train inside Tune), a
per-worker loop written the way Ray's guides write one (``prepare_model`` for DDP,
``prepare_data_loader`` for the ``DistributedSampler``, AdamW with linear warm-up and decay,
greedy BLEU on rank 0, ``ray.train.report`` every epoch, ``TuneReportCallback`` to Tune), and
``OptunaSearch`` (multi-objective: max BLEU, min storage MB; seeded TPE, define-by-run
conditional space) with ``ASHAScheduler`` on BLEU. The same task (tiny base, 2,000 medical
pairs, 3 epochs, 2 DDP workers x 0.95 CPU, batch 32 per worker, greedy BLEU on 200 validation
pairs), the same space, the same three first points (``search.points_to_evaluate`` of the
default space), 8 trials, one at a time, ASHA's rungs as raymt's (grace 1 epoch, factor 2).

What the peer borrows from raymt: the task only, not the search. The tiny base and the
tokenised corpus (``prepare_experiment``, built once before both), the method modules that put
LoRA / a bottleneck adapter on the model and give its exact storage size (Ray has no notion of a
PEFT method as a hyperparameter; the HF peer does the same), and the BLEU function (so both
score alike). Compared: wall time of the search and the front (hypervolume, BLEU x log10 MB, one
reference point). The peer's front is built from what Tune leaves: every trial's last reported
BLEU, stopped trials included (Tune's ASHA stops; it does not mark a result as truncated).
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
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "peer_ray_tune"


def method_spec(config: dict) -> tuple[str, dict]:
    """The searched configuration as (method, its parameters)."""
    if config["method"] == "lora":
        targets = config["lora_target_modules"]
        targets = "all-linear" if targets == "all-linear" else targets.split("+")
        return "lora", {"r": config["lora_r"], "alpha": config["lora_r"] * config["lora_alpha_over_r"], "target_modules": targets}
    if config["method"] == "adapter":
        return "adapter", {"size": config["adapter_size"]}
    return "full", {}


def train_loop_per_worker(config: dict) -> None:
    """One DDP worker, as a Ray user writes it."""
    import ray.train
    import ray.train.torch
    import torch
    from datasets import load_from_disk
    from torch.utils.data import DataLoader
    from transformers import DataCollatorForSeq2Seq, get_linear_schedule_with_warmup

    from raymt.methods import get_method
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import forced_bos_id, load_model, load_tokenizer

    task = config["task"]
    torch.set_num_threads(1)
    torch.manual_seed(task["seed"] + ray.train.get_context().get_world_rank())
    tok = load_tokenizer(task["base_path"], task["src_lang"], task["tgt_lang"])
    name, params = method_spec(config)
    method = get_method(name)
    base = load_model(task["base_path"])
    storage_mb = method.estimate_bytes(base.config, method.validate_params(params)) / 1e6
    model = method.apply(base, method.validate_params(params))
    model = ray.train.torch.prepare_model(model)
    splits = load_from_disk(task["data_path"])
    cols = ["input_ids", "attention_mask", "labels"]
    collate = DataCollatorForSeq2Seq(tok, label_pad_token_id=-100, padding=True, return_tensors="pt")
    loader = DataLoader(splits["train"].select_columns(cols), batch_size=task["batch_size"], shuffle=True, collate_fn=collate)
    loader = ray.train.torch.prepare_data_loader(loader)
    valid = splits["validation"].select(range(task["eval_samples"]))
    refs = list(valid["tgt_text"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=config["lr"])
    total = len(loader) * task["epochs"]
    schedule = get_linear_schedule_with_warmup(opt, int(round(config["warmup_ratio"] * total)), total)
    bare = model.module if hasattr(model, "module") else model
    bos = forced_bos_id(tok, task["tgt_lang"])
    rank = ray.train.get_context().get_world_rank()
    for epoch in range(task["epochs"]):
        if ray.train.get_context().get_world_size() > 1:
            loader.sampler.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            schedule.step()
            opt.zero_grad(set_to_none=True)
        train_s = time.perf_counter() - t0
        metrics = {"storage_mb": storage_mb, "epoch": epoch + 1, "train_time_s": train_s}
        t0 = time.perf_counter()
        if rank == 0:  # greedy decoding of the validation sentences on rank 0
            bare.eval()
            hyps = []
            with torch.no_grad():
                for start in range(0, len(valid), 64):
                    rows = valid.select(range(start, min(start + 64, len(valid))))
                    batch = tok.pad({"input_ids": rows["input_ids"]}, return_tensors="pt")
                    out = bare.generate(**batch, forced_bos_token_id=bos, max_new_tokens=64, num_beams=1)
                    hyps += [h.strip() for h in tok.batch_decode(out, skip_special_tokens=True)]
            metrics["bleu"] = corpus_scores(hyps, refs).bleu
        metrics["eval_time_s"] = time.perf_counter() - t0
        ray.train.report(metrics)


def tune_trial(config: dict) -> None:
    """The Tune trial: one TorchTrainer run (Train V2's pattern for Train inside Tune)."""
    import ray.train
    from ray import tune
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    task = config["task"]
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(num_workers=task["workers"], resources_per_worker={"CPU": task["cpus_per_worker"]}),
        run_config=ray.train.RunConfig(
            name=f"train-{tune.get_context().get_trial_id()}", storage_path=task["storage"], callbacks=[TuneReportCallback()]
        ),
    )
    trainer.fit()


def space(trial) -> None:
    """The default space, define-by-run (conditional on the method)."""
    method = trial.suggest_categorical("method", ["full", "lora", "adapter"])
    trial.suggest_float("lr", 3e-4, 3e-3, log=True)
    trial.suggest_float("warmup_ratio", 0.0, 0.2)
    if method == "lora":
        trial.suggest_categorical("lora_r", [2, 8, 32])
        trial.suggest_categorical("lora_alpha_over_r", [1, 2])
        trial.suggest_categorical("lora_target_modules", ["q_proj+v_proj", "all-linear"])
    elif method == "adapter":
        trial.suggest_categorical("adapter_size", [8, 32, 128])


def first_points(raw: dict) -> list[dict]:
    """The default space's points_to_evaluate in this file's parameter names."""
    points = []
    for p in raw["search"]["points_to_evaluate"]:
        point = {"method": p["method"], "lr": p["train.lr"], "warmup_ratio": p["train.warmup_ratio"]}
        if p["method"] == "lora":
            targets = p["lora.target_modules"]
            point.update(
                lora_r=p["lora.r"],
                lora_alpha_over_r=p["lora.alpha_over_r"],
                lora_target_modules=targets if isinstance(targets, str) else "+".join(targets),
            )
        elif p["method"] == "adapter":
            point["adapter_size"] = p["adapter.size"]
        points.append(point)
    return points


def start_own_ray(num_cpus: int) -> None:
    """A local Ray of the peer's own, with Ray's default settings, whose processes know its address.

    A plain ``ray.init()`` attaches to a cluster that ``ray start`` left in
    /tmp/ray/ray_current_cluster (and then refuses ``num_cpus``); and when another Ray runs on the
    machine, Ray Train's placement-group cleaner cannot tell which cluster is its own, so ASHA's
    stopped trials never free their workers' CPUs and the next trial waits forever (see
    ``raymt.runtime._start_local_ray``). So: ``address="local"`` (always a new cluster) with
    RAY_ADDRESS pointing at it, inherited by its processes. raymt's Ray Train switches
    (``raymt.runtime.LOCAL_TRAIN_ENV``) are NOT set: the peer runs Ray as a user gets it.
    """
    import socket

    import ray

    with socket.socket() as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    saved = {k: os.environ.get(k) for k in ("RAY_ADDRESS", "RAY_GCS_SERVER_PORT")}
    os.environ.update(RAY_ADDRESS=f"{ray.util.get_node_ip_address()}:{port}", RAY_GCS_SERVER_PORT=str(port))
    try:
        ray.init(address="local", num_cpus=num_cpus, log_to_driver=False)
    finally:
        for key, value in saved.items():  # the raymt search started after the peer starts its own Ray
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def plain_tune(out: Path, overrides: dict) -> tuple[pd.DataFrame, float]:
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from raymt.config.load import load_config
    from raymt.train.prepare import prepare_experiment

    from raymt.config.load import deep_merge

    raw = deep_merge(yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text()), overrides)
    cfg = load_config(ROOT / "search_spaces" / "default.yaml", deep_merge(overrides, {"storage_path": str(out), "name": "peer-tune"}))
    prepared = prepare_experiment(cfg, log=lambda m: None)  # the task: base + tokenised corpus (cached)
    task = {
        "base_path": prepared.base_path,
        "data_path": prepared.data_path,
        "src_lang": cfg.model.src_lang,
        "tgt_lang": cfg.model.tgt_lang,
        "epochs": cfg.train.epochs,
        "batch_size": cfg.train.batch_size,
        "eval_samples": cfg.eval.max_samples,
        "seed": cfg.train.seed,
        "workers": cfg.resources.num_workers,
        "cpus_per_worker": cfg.resources.cpus_per_worker,
        "storage": str((out / "train").resolve()),
    }
    start_own_ray(num_cpus=2)
    t0 = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_resources(tune_trial, {"CPU": cfg.resources.trial_cpus}),
        param_space={"task": task},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(
                space=space,
                metric=["bleu", "storage_mb"],
                mode=["max", "min"],
                points_to_evaluate=first_points(raw),
                sampler=optuna.samplers.TPESampler(seed=0),
            ),
            scheduler=ASHAScheduler(metric="bleu", mode="max", max_t=cfg.train.epochs, grace_period=1, reduction_factor=2),
            num_samples=raw["search"]["num_samples"],
            max_concurrent_trials=1,
        ),
        run_config=tune.RunConfig(name="peer-tune", storage_path=str((out / "tune").resolve())),
    )
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    ray.shutdown()
    rows = []
    for result in grid:
        config, metrics = result.config, result.metrics or {}
        name, params = method_spec(config)
        rows.append(
            {
                "method": name,
                "lr": config.get("lr"),
                **{k: v for k, v in params.items() if k != "alpha"},
                "bleu": metrics.get("bleu", math.nan),
                "storage_mb": metrics.get("storage_mb", math.nan),
                "epochs_done": metrics.get("training_iteration", 0),
                "train_time_s": metrics.get("train_time_s", math.nan),
                # every trial that did not fail is a result to a Tune user; ASHA's stops are marked apart
                "status": "completed" if result.error is None else "failed",
                "early_stopped": result.error is None and metrics.get("training_iteration", 0) < cfg.train.epochs,
            }
        )
    return pd.DataFrame(rows), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--reuse-raymt", action="store_true", help="take raymt's finished search from --out instead of running it again")
    from benchmarks.search_default import add_size_options, link_cache, run_one, size_overrides

    add_size_options(parser)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    link_cache(args.out, args.cache)
    overrides = size_overrides(args)

    load = {"before": os.getloadavg()}
    print("plain Ray Tune: OptunaSearch + ASHAScheduler driving a hand-written TorchTrainer loop ...", flush=True)
    tune_df, tune_wall = plain_tune(args.out, overrides)
    load["between"] = os.getloadavg()
    done = args.out / "default-mo_asha"
    if args.reuse_raymt and (done / "timings.json").exists():
        raymt_run = {"kind": "mo_asha", "trials": pd.read_parquet(done / "trials.parquet"), "dir": done}
    else:
        print("raymt search (default space, mo_asha) ...", flush=True)
        raymt_run = run_one("mo_asha", args.out, None, overrides=overrides)
    load["after"] = os.getloadavg()
    tune_df.to_csv(args.out / "tune_trials.csv", index=False)
    compare(tune_df, tune_wall, raymt_run, args.out, load)
    return 0


def compare(tune_df: pd.DataFrame, tune_wall: float, raymt_run: dict, out: Path, load: dict) -> dict:
    """The side-by-side table (printed, and ``summary.json`` in ``out``)."""
    from benchmarks.search_default import log_storage_hv

    timings = json.loads((raymt_run["dir"] / "timings.json").read_text())
    raymt_df = raymt_run["trials"]
    # raymt's front leaves early-stopped trials out (their BLEU is a truncated one); a Tune user
    # gets every trial's last result: both as each tool leaves them
    raymt_front = raymt_df[raymt_df.status == "completed"]
    hv = log_storage_hv([{"kind": "raymt", "trials": raymt_front}, {"kind": "tune", "trials": tune_df}])
    front = pd.read_csv(raymt_run["dir"] / "pareto.csv")
    rows = {
        "raymt search (mo_asha)": {
            "wall_s (search only)": round(timings["tune_fit_s"], 1),
            "trials (completed / stopped early)": f"{int((raymt_df.status == 'completed').sum())} / {int((raymt_df.status == 'early_stopped').sum())}",
            "epochs trained": int(raymt_df["epochs_done"].fillna(0).sum()),
            "best BLEU per method": raymt_front.groupby("method")["bleu"].max().round(2).to_dict(),
            "front (method BLEU MB)": "; ".join(f"{r.method} {r.bleu:.2f} {r.storage_mb:.3f}" for r in front.itertuples()),
            "hypervolume (bleu x log10 MB)": round(hv["raymt"], 3),
        },
        "plain Ray Tune (OptunaSearch + ASHA)": {
            "wall_s (search only)": round(tune_wall, 1),
            "trials (completed / stopped early)": f"{int(((tune_df.status == 'completed') & ~tune_df.early_stopped).sum())} / {int(tune_df.early_stopped.sum())}"
            + (f" ({int((tune_df.status == 'failed').sum())} failed)" if (tune_df.status == "failed").any() else ""),
            "epochs trained": int(tune_df["epochs_done"].sum()),
            "best BLEU per method": tune_df[(tune_df.status == "completed") & ~tune_df.early_stopped]
            .groupby("method")["bleu"]
            .max()
            .round(2)
            .to_dict(),
            "front (method BLEU MB)": "; ".join(f"{r.method} {r.bleu:.2f} {r.storage_mb:.3f}" for r in _front(tune_df).itertuples()),
            "hypervolume (bleu x log10 MB)": round(hv["tune"], 3),
        },
    }
    (out / "summary.json").write_text(json.dumps({"rows": rows, "load": load}, indent=1, default=str))
    print(f"\nplain Tune trials:\n{tune_df.to_string(index=False)}")
    print("\n| | " + " | ".join(rows) + " |\n|---|---|---|")
    for key in next(iter(rows.values())):
        print(f"| {key} | " + " | ".join(str(r.get(key, "")) for r in rows.values()) + " |")
    print(f"load averages (1, 5, 15 min): {load}")
    return rows


def _front(df: pd.DataFrame) -> pd.DataFrame:
    from raymt.analysis.front import Front

    return Front(df, {"bleu": "max", "storage_mb": "min"}).members


if __name__ == "__main__":
    sys.exit(main())
