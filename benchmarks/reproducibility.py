"""Same recipe, same bytes; same config, same BLEU (issue 20 item 2), measured.

    python -m benchmarks.reproducibility --part tokenizer   # the cause: tokenizer trainers, N fresh processes each
    python -m benchmarks.reproducibility --part threads     # the other cause: thread count vs bytes; OpenMP spin-waits vs time
    python -m benchmarks.reproducibility --part build       # tiny base built twice (bytes) + quiet vs one busy process (time)
    python -m benchmarks.reproducibility --part search      # the default search twice from empty caches: per-trial BLEU
    python -m benchmarks.reproducibility --part search --repo /tmp/raymt-main   # the same on another checkout ("before")

Every run is a fresh process (``python -m raymt.cli search``, or ``python -c``), as two machines
would be. ``--repo`` runs another checkout's code with this interpreter (its folder first on
PYTHONPATH), for the before/after comparison. Prints its table last; raw numbers go to
``benchmarks/out/reproducibility/``. Load: the script prints ``uptime`` before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from benchmarks.machine_load import uptime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "reproducibility"

#: a small corpus for the tokenizer part: the tiny base's own pre-training text
_TEXTS = """
from raymt.data.synthetic import SyntheticSpec, generate_splits, DOMAINS
texts = []
for dom in DOMAINS:
    pairs = generate_splits(SyntheticSpec(domain=dom, seed=0, train_size=3000, valid_size=0, test_size=0, lexicon_size=20))["train"]
    texts += [s for s, _ in pairs] + [t for _, t in pairs]
"""
_HF = (
    _TEXTS
    + """
import hashlib, json
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
tok = Tokenizer(models.Unigram())
tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=1000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                                       unk_token="<unk>", show_progress=False))
vocab = json.loads(tok.to_str())["model"]["vocab"]
print(hashlib.sha256(json.dumps([p for p, _ in vocab]).encode()).hexdigest()[:12], hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:12])
"""
)
_SPM = (
    _TEXTS
    + """
import hashlib, json
from raymt.model.tokenizer_training import train_unigram_pieces
vocab = train_unigram_pieces(texts, 1000, threads=THREADS)
print(hashlib.sha256(json.dumps([p for p, _ in vocab]).encode()).hexdigest()[:12], hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:12])
"""
)
_THREADS = """
import hashlib, time, torch
from transformers import MBartForConditionalGeneration
from raymt.data.synthetic import SyntheticSpec, generate_splits
from raymt.model.pretrain import Recipe, encode_pairs, pretrain
from raymt.model.tiny import TinyModelSpec, tiny_config
from raymt.model.tokenizer_training import train_tokenizer
pairs = generate_splits(SyntheticSpec(domain="general", seed=0, train_size=600, valid_size=0, test_size=0, lexicon_size=20))["train"]
tok = train_tokenizer([s for s, _ in pairs] + [t for _, t in pairs], 1000)
torch.manual_seed(0)
model = MBartForConditionalGeneration(tiny_config(TinyModelSpec(), tok))
t0 = time.time()
pretrain(model, encode_pairs(tok, pairs, src_lang="en_XX", tgt_lang="de_DE", max_length=128),
         Recipe(epochs=1, lr=1e-3, batch_size=16, seed=0, threads=THREADS), pad_id=tok.pad_token_id, log=lambda m: None)
h = hashlib.sha256()
for _, v in sorted(model.state_dict().items()):
    h.update(v.detach().numpy().tobytes())
print(h.hexdigest()[:12], round(time.time() - t0, 1))
"""
_BUILD = """
import sys, time
from raymt.model.tiny import TinyModelSpec, build_tiny_base
t0 = time.time()
build_tiny_base(TinyModelSpec(), sys.argv[1], log=lambda m: None)
print(round(time.time() - t0, 1))
"""


def python(code: str, *args: str, repo: Path = ROOT, env: dict | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(repo), **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=repo)
    if proc.returncode:
        raise SystemExit(f"subprocess failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def part_tokenizer(runs: int) -> dict:
    out = {"hf_tokenizers_unigram": [python(_HF) for _ in range(runs)]}
    for threads in (1, 2):
        out[f"sentencepiece_threads{threads}"] = [python(_SPM.replace("THREADS", str(threads))) for _ in range(runs)]
    print("\nTokenizer trainer, one corpus, fresh processes: distinct (piece order, pieces+scores) outcomes")
    for name, results in out.items():
        print(f"  {name:28s} {len({r.split()[0] for r in results})} piece orders, {len(set(results))} vocabularies in {runs} runs")
    return out


def part_threads() -> dict:
    """Weights hash by thread count (same everything else), and seconds by thread count x
    OpenMP wait policy, quiet and next to one busy process (``python -c 'while True: pass'``)."""
    runs = [
        (1, "PASSIVE", False),
        (1, "PASSIVE", False),
        (2, "PASSIVE", False),
        (2, "PASSIVE", False),
        (3, "PASSIVE", False),
        (2, "ACTIVE", False),
        (1, "PASSIVE", True),
        (2, "PASSIVE", True),
        (2, "ACTIVE", True),
    ]
    rows = []
    for threads, policy, busy in runs:
        load = uptime()
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            digest, seconds = python(_THREADS.replace("THREADS", str(threads)), env={"OMP_WAIT_POLICY": policy}).split()
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        rows.append({"threads": threads, "policy": policy, "busy_process": busy, "weights": digest, "seconds": float(seconds), "uptime_before": load})
    print("\nSame tokenizer, seed and batches, 1 epoch on 600 synthetic pairs: weights hash and seconds")
    print("  threads  OMP_WAIT_POLICY  competitor  weights       seconds  load before")
    for r in rows:
        print(
            f"  {r['threads']:7d}  {r['policy']:15s}  {str(r['busy_process']):10s}  {r['weights']}  {r['seconds']:7.1f}  "
            f"{r['uptime_before'].split('load average:')[-1].strip()}"
        )
    return {"rows": rows}


def folder_digest(folder: Path, skip: set[str]) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in sorted(folder.iterdir()) if f.is_file() and f.name not in skip}


def part_build(repo: Path) -> dict:
    """Two builds from empty caches (bytes), then one with a competing busy process (time)."""
    from raymt.model.tiny import TINY_MARKER

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, busy in (("quiet", False), ("quiet", False), ("one busy process", True)):
            cache = Path(tmp) / f"cache{len(rows)}"
            load = uptime()
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                seconds = float(python(_BUILD, str(cache), repo=repo))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            folder = next((cache / "models").iterdir())
            rows.append({"run": label, "seconds": seconds, "uptime_before": load, "files": folder_digest(folder, {TINY_MARKER})})
    same = all(r["files"] == rows[0]["files"] for r in rows)
    print(f"\nTiny base build ({repo}): every file but the marker byte-identical across the {len(rows)} builds: {same}")
    for r in rows:
        print(f"  {r['run']:18s} {r['seconds']:7.1f} s   model.safetensors {r['files'].get('model.safetensors')}   [{r['uptime_before']}]")
    quiet = min(r["seconds"] for r in rows if r["run"] == "quiet")
    busy = rows[-1]["seconds"]
    print(f"  slowdown with one busy process: {busy / quiet:.2f}x")
    return {"builds": rows, "identical": same, "slowdown": busy / quiet}


def run_search(repo: Path, folder: Path) -> object:
    import pandas as pd
    import yaml

    raw = yaml.safe_load((repo / "search_spaces" / "default.yaml").read_text())
    raw["storage_path"] = str(folder)
    space = folder / "default.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    space.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(repo)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "raymt.cli", "search", str(space)], cwd=repo, env=env, capture_output=True, text=True)
    (folder / "search.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise SystemExit(f"search failed (exit {proc.returncode}); log: {folder / 'search.log'}")
    df = pd.read_parquet(folder / raw["name"] / "trials.parquet")
    df["wall_s"] = time.perf_counter() - t0
    return df


PARAMS = ("method", "train.lr", "train.warmup_ratio", "lora.r", "lora.alpha_over_r", "lora.target_modules", "adapter.size")


def config_key(row) -> tuple:
    def norm(v):
        if isinstance(v, float):
            return None if math.isnan(v) else round(v, 10)
        return str(v)

    return tuple((c, norm(row[c])) for c in PARAMS if c in row.index)


def part_search(repo: Path, out: Path) -> dict:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for i in (1, 2):
        load = uptime()
        df = run_search(repo, out / f"search-{stamp}-{i}")
        runs.append((df, load))
    a, b = runs[0][0], runs[1][0]
    rows = []
    for i in range(max(len(a), len(b))):
        ra = a.iloc[i] if i < len(a) else None
        rb = b.iloc[i] if i < len(b) else None
        same_config = ra is not None and rb is not None and config_key(ra) == config_key(rb)
        rows.append(
            {
                "trial": i + 1,
                "method": ra["method"] if ra is not None else rb["method"],
                "same_config": same_config,
                "bleu_1": float(ra["bleu"]) if ra is not None else math.nan,
                "bleu_2": float(rb["bleu"]) if rb is not None else math.nan,
                "status_1": ra["status"] if ra is not None else "",
                "status_2": rb["status"] if rb is not None else "",
            }
        )
    for r in rows:
        r["diff"] = abs(r["bleu_1"] - r["bleu_2"]) if r["same_config"] else math.nan
    matched = [r for r in rows if r["same_config"]]
    worst = max((r["diff"] for r in matched if not math.isnan(r["diff"])), default=math.nan)
    print(f"\nDefault search twice from empty caches ({repo}); trials in proposal order")
    print(f"  run 1: {runs[0][0]['wall_s'].iloc[0]:.0f} s [{runs[0][1]}]\n  run 2: {runs[1][0]['wall_s'].iloc[0]:.0f} s [{runs[1][1]}]")
    print("  trial  method    same config  BLEU run 1  BLEU run 2  |diff|  status 1 / 2")
    for r in rows:
        diff = "n/a" if math.isnan(r["diff"]) else f"{r['diff']:.2f}"
        print(
            f"  {r['trial']:5d}  {r['method']:8s}  {str(r['same_config']):11s}  {r['bleu_1']:10.2f}  {r['bleu_2']:10.2f}  {diff:>6s}  "
            f"{r['status_1']} / {r['status_2']}"
        )
    print(
        f"  trials with the same configuration in both runs: {len(matched)}/{len(rows)}; largest |BLEU difference| {worst:.2f}; "
        f"within 0.5 for all: {all(r['diff'] <= 0.5 for r in matched)}"
    )
    return {"rows": rows, "max_diff": worst, "matched": len(matched), "trials": len(rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["tokenizer", "threads", "build", "search"], required=True)
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose raymt runs (build/search parts)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per tokenizer trainer")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    repo = args.repo.resolve()
    before = uptime()
    print(f"uptime before: {before}", flush=True)
    if args.part == "tokenizer":
        result = part_tokenizer(args.runs)
    elif args.part == "threads":
        result = part_threads()
    elif args.part == "build":
        result = part_build(repo)
    else:
        result = part_search(repo, args.out)
    after = uptime()
    print(f"uptime after: {after}")
    record = {"part": args.part, "repo": str(repo), "cpus": os.cpu_count(), "uptime_before": before, "uptime_after": after, "result": result}
    (args.out / f"{args.part}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(record, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
