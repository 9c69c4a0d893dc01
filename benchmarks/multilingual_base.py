"""The real-text base (tiny-multilingual): build time, its own validation BLEU per direction, and
the throughput of candidate sizes that chose its default recipe.

    python -m benchmarks.multilingual_base                  # build the default recipe in a fresh cache
    python -m benchmarks.multilingual_base --cache DIR      # ... into DIR/models (a search's .cache reuses it)
    python -m benchmarks.multilingual_base --probe          # tokens/s of candidate sizes, 1 and 2 threads

Reads Multi30k in place from ../shared/data/multi30k. Prints ``uptime`` before and after: the
build's time depends on what else the machine runs (the budget is 15 minutes on 2 quiet cores).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from benchmarks.machine_load import uptime

SIZES = [(128, 2, 512, 8000), (128, 3, 512, 8000), (128, 3, 512, 4000), (192, 3, 768, 8000), (256, 3, 1024, 8000)]


def probe(threads_list: list[int], steps: int = 40) -> None:
    import raymt  # noqa: F401  (OpenMP wait policy before torch loads)
    import torch
    from transformers import MBartForConditionalGeneration

    from raymt.data.files import read_lines
    from raymt.model.multilingual import MultilingualSpec, base_config, corpus_files
    from raymt.model.pretrain import batches, collate, encode_pairs, torch_threads
    from raymt.model.tokenizer_training import train_tokenizer

    spec0 = MultilingualSpec()
    text = {k: read_lines(v) for k, v in corpus_files(spec0).items()}
    tokenizers = {vs: train_tokenizer([t for lang in spec0.languages for t in text[f"train.{lang}"]], vs, threads=2) for vs in (4000, 8000)}
    print("threads  d_model  layers  ffn   vocab  params   target tokens/s  sentences/s")
    for threads in threads_list:
        for d, layers, ffn, vs in SIZES:
            spec = MultilingualSpec(d_model=d, layers=layers, ffn_dim=ffn, vocab_size=vs)
            tok = tokenizers[vs]
            ex = encode_pairs(tok, list(zip(text["train.en"][:5000], text["train.de"][:5000])), src_lang="en_XX", tgt_lang="de_DE", max_length=128)
            torch.manual_seed(0)
            model = MBartForConditionalGeneration(base_config(spec, tok)).train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            with torch_threads(threads):
                for i, batch in enumerate(batches(ex, 64, random.Random(0))[: steps + 5]):
                    if i == 5:  # warm-up steps excluded
                        t0, tokens = time.perf_counter(), 0
                    ids, labels = collate(batch, tok.pad_token_id)
                    model(input_ids=ids, attention_mask=(ids != tok.pad_token_id).long(), labels=labels).loss.backward()
                    opt.step()
                    opt.zero_grad()
                    if i >= 5:
                        tokens += int((labels != -100).sum())
                seconds = time.perf_counter() - t0
            params = sum(p.numel() for p in model.parameters())
            print(
                f"{threads:7d}  {d:7d}  {layers:6d}  {ffn:4d}  {vs:5d}  {params / 1e6:5.2f}M  {tokens / seconds:15.0f}  {steps * 64 / seconds:11.1f}",
                flush=True,
            )


def build(cache: Path) -> dict:
    import raymt  # noqa: F401
    from raymt.model.multilingual import MARKER, MultilingualSpec, build_multilingual_base

    t0 = time.perf_counter()
    folder = build_multilingual_base(MultilingualSpec(), cache, log=lambda m: print(m, flush=True))
    meta = json.loads((folder / MARKER).read_text())
    meta["wall_s"] = time.perf_counter() - t0
    print(f"\nReal-text base, default recipe: {meta['wall_s']:.0f} s wall ({meta['seconds']}), {meta['parameters']:,} parameters")
    print("direction  validation BLEU  chrF   sentences")
    for direction, s in meta["validation"].items():
        print(f"{direction:9s}  {s['bleu']:15.2f}  {s['chrf']:5.2f}  {s['sentences']}")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="throughput of candidate sizes instead of a build")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="--probe: thread counts")
    parser.add_argument("--cache", type=Path, default=None, help="cache root (default: a fresh temporary folder)")
    args = parser.parse_args(argv)
    print(f"uptime before: {uptime()}", flush=True)
    if args.probe:
        probe(args.threads)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(args.cache or Path(tmp))
    print(f"uptime after: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
