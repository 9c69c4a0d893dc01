"""Trial efficiency: time to first step (and its parts), worker throughput vs a plain loop, peak memory.

    python -m benchmarks.trial_efficiency [--workers 1] [--cpus-per-worker 2] [--epochs 2]

Side by side in one run, on the same tiny model and the same tokenised batches:
  1. a plain single-process PyTorch loop (AdamW, same batch size, same threads);
  2. one `raymt train` trial as a Ray Train TorchTrainer.
Throughput is target tokens per second of training (evaluation excluded). Peak memory is the
largest total RSS of every process on the machine that belongs to this run (this process, its
children and the Ray processes), sampled every second (a busier sampler would itself steal CPU from the
loops it measures on a 2-core machine).
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
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            procs = [me] + me.children(recursive=True)
            pids = {p.pid for p in procs}
            for p in psutil.process_iter(["name", "cmdline"]):
                try:
                    if p.pid in pids or any("ray" in (c or "") for c in (p.info["cmdline"] or [])[:2]):
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


def plain_loop(cfg, prepared, threads: int, epochs: int) -> float:
    """Target tokens/s of a plain single-process loop over the same data and model."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorForSeq2Seq

    from raymt.data.cache import load_tokenized
    from raymt.methods import get_method
    from raymt.model.loading import load_model, load_tokenizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tok = load_tokenizer(prepared.base_path, cfg.model.src_lang, cfg.model.tgt_lang)
    model = get_method(cfg.method.name).apply(load_model(prepared.base_path), cfg.method.params)
    train = load_tokenized(prepared.data_path)["train"].select_columns(["input_ids", "attention_mask", "labels"])
    loader = DataLoader(
        train,
        batch_size=cfg.train.batch_size,
        shuffle=True,
        collate_fn=DataCollatorForSeq2Seq(tok, label_pad_token_id=-100, padding=True, return_tensors="pt"),
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lr)
    model.train()
    tokens, seconds = 0, 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        for batch in loader:
            out = model(**batch)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += int((batch["labels"] != -100).sum())
        seconds += time.perf_counter() - t0
    return tokens / seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpus-per-worker", type=float, default=1.9)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--method", default="lora")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--storage", default="./raymt_results")
    args = parser.parse_args(argv)

    from raymt.config.load import validate_config
    from raymt.runtime import init_ray
    from raymt.train.prepare import prepare_experiment
    from raymt.train.trial import run_trial

    cfg = validate_config(
        {
            "name": "bench-trial",
            "storage_path": args.storage,
            "data": {
                "source": "synthetic",
                "domain": "medical",
                "train_size": args.train_size,
                "valid_size": 200,
                "test_size": 200,
                "lexicon_size": 20,
            },
            "train": {"epochs": args.epochs, "batch_size": 32},
            "eval": {"max_samples": 200},
            "method": {"name": args.method},
            "resources": {"num_workers": args.workers, "cpus_per_worker": args.cpus_per_worker, "trial_cpus": 0.1},
        },
        "benchmark",
    )
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        prepared = prepare_experiment(cfg, log=lambda m: None)
        prepare_s = time.perf_counter() - t0
        threads = max(1, int(round(args.cpus_per_worker)))
        plain = plain_loop(cfg, prepared, threads * args.workers, args.epochs)
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
        "plain loop tokens/s": plain,
        "Ray Train worker tokens/s (last epoch)": metrics["tokens_per_s"],
        "throughput ratio (Ray/plain)": metrics["tokens_per_s"] / plain,
        "peak RSS of the run (GB)": mem.peak / 1e9,
        "BLEU": metrics["bleu"],
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "trial_efficiency.json").write_text(json.dumps({"args": vars(args), "results": rows}, indent=1))
    width = max(map(len, rows))
    print(f"\ntrial efficiency ({args.workers} worker(s) x {args.cpus_per_worker} CPU, {args.method}, {os.cpu_count()} cores)")
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value:10.3f}")


if __name__ == "__main__":
    main()
