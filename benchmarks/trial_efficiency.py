"""Trial efficiency: time to first step (and its parts), worker throughput vs a plain loop, peak memory.

    python -m benchmarks.trial_efficiency [--cpus-per-worker 1] [--epochs 2]

Side by side in one run, on the same tiny model, like for like:
  1. a plain single-process PyTorch loop that calls the worker's own code for the seed, the
     method, the loader and its sampler, the learning-rate schedule, the loss and the clipping:
     the same batches in the same order under the same schedule (its training loss must equal
     the worker's; the table prints both);
  2. one `raymt train` trial as a Ray Train TorchTrainer with 1 worker and the same threads.
Throughput is target tokens per second of training (evaluation excluded), both taken over the
same steady-state window: the last epoch (the first ones are warm-up: allocator, first
batches). Peak memory is the largest total RSS of every process on the machine that belongs to
this run (this process, its children and the Ray processes), sampled every second (a busier
sampler would itself steal CPU from the loops it measures on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import psutil

OUT = Path(__file__).resolve().parent / "out"


class PeakRSS:
    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        # this process and its descendants: the local Ray it starts (GCS, raylet, and the workers
        # the raylet spawns) included, and no other Ray that runs on the machine
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me] + me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            time.sleep(1.0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def plain_loop(cfg, prepared, epochs: int) -> list[dict]:
    """A plain single-process loop that trains exactly as one Ray Train worker does.

    It calls the worker's own code for everything that decides the numbers: the seed
    (``_seed_everything(seed + rank 0)``, so LoRA/adapter weights start the same), the method,
    the train loader and its ``DistributedSampler`` (``make_train_loader`` with world size 1,
    ``set_epoch`` per epoch: same batches in the same order), the learning-rate schedule
    (``_make_schedule``), the loss, clipping and the thread count. Only Ray is missing.
    Returns one row per epoch: its tokens/s and mean training loss (the loss must equal the
    worker's, which shows both saw the same batches under the same schedule)."""
    import math

    import torch

    from raymt.methods import get_method
    from raymt.model.loading import load_model, load_tokenizer
    from raymt.train.data import make_train_loader, open_trial_data
    from raymt.train.worker import _loss, _make_schedule, _seed_everything

    torch.set_num_threads(max(1, int(round(cfg.resources.cpus_per_worker))))
    _seed_everything(cfg.train.seed)
    loop_config = prepared.loop_config(cfg)
    tok = load_tokenizer(loop_config["base_path"], cfg.model.src_lang, cfg.model.tgt_lang)
    method = get_method(cfg.method.name)
    model = method.apply(load_model(loop_config["base_path"]), cfg.method.params)
    data = open_trial_data(loop_config, cfg)
    loader, sampler = make_train_loader(data, tok, cfg, 0, 1)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    schedule = _make_schedule(opt, cfg, math.ceil(len(loader) / cfg.train.grad_accum) * cfg.train.epochs)
    assert cfg.train.grad_accum == 1 and cfg.train.label_smoothing == 0, "the plain loop mirrors the default train settings only"
    rows = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        model.train()
        tokens, loss_sum = 0, 0.0
        t0 = time.perf_counter()
        for batch in loader:
            loss, n = _loss(model, batch, cfg.train.label_smoothing)
            loss.backward()
            loss_sum += loss.item() * n
            torch.nn.utils.clip_grad_norm_(trainable, cfg.train.max_grad_norm)
            opt.step()
            schedule.step()
            opt.zero_grad(set_to_none=True)
            tokens += n
        seconds = time.perf_counter() - t0
        rows.append({"epoch": epoch + 1, "tokens_per_s": tokens / seconds, "train_loss": loss_sum / tokens, "steps": len(loader)})
    return rows


def bench_config(storage: str, epochs: int, method: str, train_size: int, cpus_per_worker: float):
    """One `raymt train` trial on the default task's data: 1 worker, batch 32."""
    from raymt.config.load import validate_config

    return validate_config(
        {
            "name": "bench-trial",
            "storage_path": storage,
            "data": {
                "source": "synthetic",
                "domain": "medical",
                "train_size": train_size,
                "valid_size": 200,
                "test_size": 200,
                "lexicon_size": 20,
            },
            "train": {"epochs": epochs, "batch_size": 32},
            "eval": {"max_samples": 200},
            "method": {"name": method},
            "resources": {"num_workers": 1, "cpus_per_worker": cpus_per_worker, "trial_cpus": 0.1},
        },
        "benchmark",
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=2, help="the last epoch is the measured window (the first ones warm up)")
    parser.add_argument("--method", default="lora")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--storage", default="./raymt_results")
    args = parser.parse_args(argv)

    from raymt.runtime import init_ray
    from raymt.train.prepare import prepare_experiment
    from raymt.train.trial import run_trial

    cfg = bench_config(args.storage, args.epochs, args.method, args.train_size, args.cpus_per_worker)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        prepared = prepare_experiment(cfg, log=lambda m: None)
        prepare_s = time.perf_counter() - t0
        plain = plain_loop(cfg, prepared, args.epochs)
        t0 = time.perf_counter()
        init_ray(num_cpus=2, log=lambda m: None)
        ray_s = time.perf_counter() - t0
        fit_unix = time.time()
        metrics, _ = run_trial(cfg, prepared, name=f"bench-{int(time.time())}")
    group_s = metrics["worker_started_unix"] - fit_unix  # fit() -> the worker function's first line
    to_step_s = metrics["first_step_unix"] - fit_unix  # fit() -> first optimizer step
    rows = {
        "prepare: base + corpus + tokenise (cached after the first run) s": prepare_s,
        "ray.init s": ray_s,
        "worker group start: fit() -> worker function's first line s": group_s,
        "worker setup: tokenizer, model, method, wrapper, data s": metrics["setup_time_s"],
        "first step itself (setup end -> first optimizer step) s": metrics["first_step_s"] - metrics["setup_time_s"],
        "raymt train start -> first optimizer step s (prepare cached)": ray_s + to_step_s,
        f"steps in the measured window (epoch {args.epochs} of {args.epochs})": plain[-1]["steps"],
        "plain loop tokens/s (same window)": plain[-1]["tokens_per_s"],
        "Ray Train worker tokens/s (same window)": metrics["tokens_per_s"],
        "throughput ratio (Ray/plain)": metrics["tokens_per_s"] / plain[-1]["tokens_per_s"],
        "plain loop train loss (same window)": plain[-1]["train_loss"],
        "Ray Train worker train loss (same window)": metrics["train_loss"],
        "peak RSS of the run (GB)": mem.peak / 1e9,
        "BLEU": metrics["bleu"],
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "trial_efficiency.json").write_text(
        json.dumps({"args": vars(args), "results": rows, "plain_epochs": plain, "load": os.getloadavg()}, indent=1)
    )
    width = max(map(len, rows))
    print(f"\ntrial efficiency (1 worker x {args.cpus_per_worker} CPU, {args.method}, {os.cpu_count()} cores)")
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value:10.3f}")


if __name__ == "__main__":
    main()
