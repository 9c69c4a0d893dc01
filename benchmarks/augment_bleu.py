"""BLEU with and without each augmentation operator, on the real Multi30k de-en corpus.

Run: ``python -m benchmarks.augment_bleu`` (about 15-25 minutes on 2 cores; ``--smoke`` for a
2-minute check, ``--ops`` to pick operators). Needs ../shared/data/multi30k (read in place).

The setting is the low-resource one augmentation is meant for: a tiny mBART-shaped model
(raymt.model.tiny's size: 2+2 layers, d=128) with a Unigram tokenizer trained on the Multi30k
training text, trained from scratch (``method: full``) on a ``--pairs`` subset of the 29,000
training pairs, scored each epoch on ``--eval`` sentences of the official validation set
(greedy, sacreBLEU); the table reports the best epoch's BLEU, as raymt does for a trial. Each
run is ``raymt.api.train`` with the same config except ``augment: {op: {ratio: R}}`` (R x |train|
perturbed copies of training pairs added, source side only). Back-translation uses an en->de model
trained the same way (same base, pairs and epochs, directions swapped). A run whose config is
unchanged is not repeated: its result is kept next to its YAML in ``--work``. Every run uses the same seed; the
gap between runs should be read against the spread of ``--seeds`` repeats of the baseline.
There is no pre-trained model for real German here (no hub), so the numbers say what each
operator does for a small model that learns the language pair from these pairs alone.

Writes benchmarks/out/augment_bleu.csv and prints a Markdown table last.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
MULTI30K = ROOT.parent / "shared" / "data" / "multi30k" / "task1" / "raw"


def build_real_base(out: Path, pairs: int, vocab: int) -> Path:
    """A randomly initialised tiny mBART with a tokenizer trained on Multi30k train (de + en)."""
    from transformers import MBartForConditionalGeneration

    from raymt.model.tiny import TinyModelSpec, tiny_config
    from raymt.model.tokenizer_training import train_tokenizer

    folder = out / f"multi30k-base-v{vocab}"
    if (folder / "config.json").exists():
        return folder
    texts = []
    for lang in ("de", "en"):
        with gzip.open(MULTI30K / f"train.{lang}.gz", "rt", encoding="utf-8") as fh:
            texts += [line.strip() for line in fh]
    tokenizer = train_tokenizer(texts, vocab, src_lang="de_DE", tgt_lang="en_XX")
    import torch

    torch.manual_seed(0)
    model = MBartForConditionalGeneration(tiny_config(TinyModelSpec(vocab_size=vocab), tokenizer))
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def run_config(out: Path, base: Path, op: str | None, ratio: float, args, seed: int) -> dict:
    raw = {
        "name": f"aug-{op or 'none'}-s{seed}",
        "storage_path": str(out),
        "model": {"name_or_path": str(base), "src_lang": "de_DE", "tgt_lang": "en_XX", "max_length": 64},
        "method": {"name": "full"},
        "data": {
            "source": "local",
            "path": str(MULTI30K),
            "format": "moses",
            "src": "de",
            "tgt": "en",
            "train": "train",
            "validation": "val",
            "test": "test_2016_flickr",
            "max_train_pairs": args.pairs,
        },
        "train": {"epochs": args.epochs, "lr": 1e-3, "batch_size": 16, "warmup_ratio": 0.1, "seed": seed},
        "eval": {"max_samples": args.eval, "batch_size": 64},
        "resources": {"num_workers": 1, "cpus_per_worker": 1.9},
    }
    if op:
        raw["augment"] = {op: {"ratio": ratio}}
    return raw


def reverse_model(work: Path, base: Path, args) -> Path:
    """An en->de model for back-translation, trained exactly like the forward baseline (same
    base, pairs, epochs) with the directions swapped; its best epoch plus the base's tokenizer."""
    from raymt import api

    folder = work / f"multi30k-reverse-p{args.pairs}-e{args.epochs}"
    if (folder / "config.json").exists():
        return folder
    raw = run_config(work, base, None, 0.0, args, 0)
    raw["name"] = folder.name + "-run"
    raw["model"].update(src_lang="en_XX", tgt_lang="de_DE")
    raw["data"].update(src="en", tgt="de")
    path = work / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    m = api.train(path, log=lambda msg: None)
    ckpt = Path(m["checkpoint"])
    best = ckpt / "best" if (ckpt / "best").exists() else ckpt / "artifact"
    shutil.copytree(best, folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"):
        if (base / name).exists():
            shutil.copy2(base / name, folder / name)
    (folder / "reverse_run.json").write_text(json.dumps({"bleu_en_de": m["bleu"], "best_epoch": m["best_epoch"]}))
    return folder


def main(argv: list[str] | None = None) -> int:
    from raymt.data.augment import available_operators

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="+", default=available_operators(), help="operators to compare with no augmentation")
    parser.add_argument("--ratio", type=float, default=0.5, help="augmentation ratio of every operator")
    parser.add_argument("--pairs", type=int, default=3000, help="training pairs (a seeded subset of Multi30k train)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--eval", type=int, default=500, help="validation sentences scored each epoch")
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=2, help="repeats of the no-augmentation run (its spread = noise)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script runs")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "raymt-augment-bleu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    if not MULTI30K.exists():
        raise SystemExit(f"{MULTI30K} not found: this benchmark reads the shared Multi30k corpus in place")
    if args.smoke:
        args.pairs, args.epochs, args.eval, args.seeds = 300, 1, 50, 1

    from raymt import api

    args.work.mkdir(parents=True, exist_ok=True)
    base = build_real_base(args.work, args.pairs, args.vocab)
    runs = [(None, 0.0, s) for s in range(args.seeds)] + [(op, args.ratio, 0) for op in args.ops]
    rows = []
    for op, ratio, seed in runs:
        raw = run_config(args.work, base, op, ratio, args, seed)
        if op == "back_translation":  # no hub here: back-translate with our own en->de model
            raw["augment"][op]["params"] = {"model": str(reverse_model(args.work, base, args))}
        path = args.work / f"{raw['name']}.yaml"
        text = yaml.safe_dump(raw, sort_keys=False)
        done = args.work / f"{raw['name']}.result.json"
        if done.exists() and path.exists() and path.read_text() == text:  # same config already measured
            rows.append(json.loads(done.read_text()))
            print(json.dumps(rows[-1]), flush=True)
            continue
        path.write_text(text)
        t0 = time.perf_counter()
        m = api.train(path, log=lambda msg: None)
        rows.append(
            {
                "augment": op or "none",
                "ratio": ratio,
                "seed": seed,
                "bleu": m["bleu"],
                "chrf": m["chrf"],
                "best_epoch": m["best_epoch"],
                "train_time_s": m["train_time_s"],
                "wall_s": time.perf_counter() - t0,
                "augment_prep_s": m["timings"].get("augment_s", 0.0),
            }
        )
        done.write_text(json.dumps(rows[-1]))
        print(json.dumps(rows[-1]), flush=True)
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "augment_bleu.csv", index=False)
    base_bleu = df[df["augment"] == "none"]["bleu"]
    print(
        f"\nMulti30k de->en, {args.pairs} training pairs, {args.epochs} epochs, BLEU on {args.eval} validation sentences "
        f"(best epoch); no-augmentation spread over {len(base_bleu)} seeds: {base_bleu.min():.2f}-{base_bleu.max():.2f}\n"
    )
    print("| augmentation | ratio | BLEU | Δ vs none (mean) | chrF | train s | prep s |\n|---|---|---|---|---|---|---|")
    for r in df.itertuples():
        delta = r.bleu - base_bleu.mean()
        print(
            f"| {r.augment}{'' if r.augment != 'none' else f' (seed {r.seed})'} | {r.ratio} | {r.bleu:.2f} | {delta:+.2f} | "
            f"{r.chrf:.1f} | {r.train_time_s:.0f} | {r.augment_prep_s:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
