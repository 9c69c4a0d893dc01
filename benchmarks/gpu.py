"""Throughput, model FLOPs utilisation and peak memory of LoRA, adapter and full fine-tuning on
an mBART-large-50-shaped model, against ``raymt plan``.

    python -m benchmarks.gpu                        # on a CUDA machine: bf16 autocast, batch 16 x 128 tokens
    python -m benchmarks.gpu --gradient-checkpointing --batch-size 32
    python -m benchmarks.gpu --cpu                  # the smoke form: a toy model on CPU, 3 steps per method

The model is built from mBART-large-50's published config with random weights (no download); the
batch is random token ids of exactly ``--length`` tokens on both sides. Each method trains as the
raymt worker trains it (its ``apply``, the model's own loss, AdamW on the trainable parameters,
gradient clipping, bf16 autocast around forward and backward) in ONE process on ONE device:
``--warmup`` steps, then ``--steps`` timed steps. Reported per method:

- tokens/s: (source + target tokens) per second over the timed steps;
- MFU: model FLOPs per step / step time / the device's peak dense bf16 FLOP/s (``--peak-tflops``,
  or a table of common GPUs). Model FLOPs count every matmul of forward (linear layers,
  attention scores and values, LM head) and, for backward, twice that for full fine-tuning (input
  and weight gradients) but once for a frozen base (input gradients only; the adapters' own
  weight gradients are negligible);
- peak memory: ``torch.cuda.max_memory_allocated`` (on CPU: the growth of the peak RSS) against
  the plan's training peak for the same setup (one worker, no DDP; the CUDA context is not in
  either figure).

No GPU has been lent to this project yet: only the ``--cpu`` smoke form has run here (a test runs it).
Writes benchmarks/out/gpu.json (gpu_smoke.json with --cpu) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
METHODS = {
    "lora": {"name": "lora", "r": 16, "target_modules": "all-linear", "dropout": 0.05},
    "adapter": {"name": "adapter", "size": 64},
    "full": {"name": "full"},
}
#: Peak dense bf16 tensor FLOP/s (no sparsity) by device-name fragment, from the vendors' data sheets.
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 125.0,
    "A10": 125.0,
    "V100": 125.0,
    "T4": 65.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
}


def model_config(cpu: bool):
    from transformers import MBartConfig

    from raymt.plan.model_config import KNOWN_MODELS

    values = dict(KNOWN_MODELS["facebook/mbart-large-50"])
    if cpu:  # the smoke form: the same layout at toy size
        values.update(
            d_model=64,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=256,
            decoder_ffn_dim=256,
            vocab_size=1000,
            max_position_embeddings=128,
        )
    return MBartConfig(**values)


def forward_flops(config, batch: int, src: int, tgt: int) -> float:
    """Matmul FLOPs of one forward pass of mBART (2 per multiply-add)."""
    d, f, v = config.d_model, config.encoder_ffn_dim, config.vocab_size
    s_tok, t_tok = batch * src, batch * tgt
    enc = config.encoder_layers * (s_tok * (4 * d * d + 2 * d * f) + 2 * s_tok * src * d)
    dec = config.decoder_layers * (
        t_tok * (6 * d * d + 2 * d * config.decoder_ffn_dim) + s_tok * 2 * d * d + 2 * t_tok * tgt * d + 2 * t_tok * src * d
    )
    return 2.0 * (enc + dec + t_tok * d * v)


def plan_peak(config, method: dict, args, device: str) -> int:
    """The plan's training peak (train / optimizer step phases, no baseline) for this setup."""
    from raymt.config.load import validate_config
    from raymt.plan.build import method_footprint, trial_setup
    from raymt.plan.memory import ModelShape, estimate_memory

    cfg = validate_config(
        {
            "method": method,
            "model": {"max_length": args.length},
            "train": {
                "batch_size": args.batch_size,
                "gradient_checkpointing": args.gradient_checkpointing,
                "precision": "fp32" if device == "cpu" else "bf16",
            },
            "resources": {"num_workers": 1, "strategy": "none", "use_gpu": device == "gpu"},
        },
        "benchmarks.gpu",
    )
    fp, _, _ = method_footprint(cfg, config)
    est = estimate_memory(ModelShape.from_config(config), fp, trial_setup(cfg))
    return max(est.phases["train"], est.phases["optimizer_step"])


def _peak_rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run_method(name: str, config, args, device: str) -> dict:
    import gc

    import torch
    from transformers import MBartForConditionalGeneration

    from raymt.methods import get_method

    gc.collect()
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    torch.manual_seed(0)
    if device == "gpu":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with dev:
        model = MBartForConditionalGeneration(config)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    method = get_method(name)
    model = method.apply(model, {k: v for k, v in METHODS[name].items() if k != "name"}).to(dev).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    gen = torch.Generator().manual_seed(1)
    batch = {
        "input_ids": torch.randint(4, config.vocab_size, (args.batch_size, args.length), generator=gen),
        "labels": torch.randint(4, config.vocab_size, (args.batch_size, args.length), generator=gen),
    }
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    batch = {k: v.to(dev) for k, v in batch.items()}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "gpu" else torch.autocast("cpu", enabled=False)
    rss_before = _peak_rss()

    def step():
        with autocast:
            loss = model(**batch).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        step()
    if device == "gpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    if device == "gpu":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / args.steps
    frozen = sum(p.numel() for p in trainable) < sum(p.numel() for p in model.parameters())
    flops = forward_flops(config, args.batch_size, args.length, args.length) * (2 if frozen else 3)
    peak = torch.cuda.max_memory_allocated() if device == "gpu" else _peak_rss() - rss_before
    row = {
        "method": name,
        "params": {k: v for k, v in METHODS[name].items() if k != "name"},
        "step_s": seconds,
        "tokens_per_s": 2 * args.batch_size * args.length / seconds,
        "tflops": flops / seconds / 1e12,
        "peak_bytes": peak,
        "plan_bytes": plan_peak(config, METHODS[name], args, device),
        "loss": float(loss.detach()),
    }
    return row  # the model and optimizer go with this frame (gc.collect() at the next call)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="smoke form on CPU: toy model, 3 steps (what CI runs)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--length", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s of the device (default: from its name)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the JSON result")
    args = parser.parse_args(argv)
    import torch

    device = "cpu" if args.cpu else "gpu"
    if device == "gpu" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible: run with --cpu for the smoke form")
    defaults = dict(batch_size=4, length=16, steps=3, warmup=1) if args.cpu else dict(batch_size=16, length=128, steps=20, warmup=3)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    name = "cpu" if args.cpu else torch.cuda.get_device_name(0)
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    config = model_config(args.cpu)
    rows = [run_method(m, config, args, device) for m in args.methods]
    for row in rows:
        row["mfu"] = row["tflops"] / peak if peak else None
    result = {
        "device": name,
        "peak_tflops": peak,
        "torch": torch.__version__,
        "load": os.getloadavg(),
        "setup": {k: getattr(args, k) for k in ("batch_size", "length", "steps", "warmup", "gradient_checkpointing")},
        "precision": "fp32" if args.cpu else "bf16 autocast",
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ("gpu_smoke.json" if args.cpu else "gpu.json")).write_text(json.dumps(result, indent=1))
    print(
        f"device: {name}; {result['precision']}; batch {args.batch_size} x {args.length} tokens; "
        f"{args.steps} timed steps after {args.warmup}; load {' '.join(f'{x:.2f}' for x in result['load'])}"
    )
    print("| method | tokens/s | TFLOP/s | MFU | peak memory (GiB) | plan (GiB) | error |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        # on CPU the toy model's tensors are a few MB, below the allocator's and imports' noise: no comparison
        err = "smoke" if args.cpu else f"{r['peak_bytes'] / r['plan_bytes'] - 1:+.0%}"
        print(
            f"| {r['method']} | {r['tokens_per_s']:,.0f} | {r['tflops']:.2f} | {mfu} | {r['peak_bytes'] / 2**30:.3f} | "
            f"{r['plan_bytes'] / 2**30:.3f} | {err} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
