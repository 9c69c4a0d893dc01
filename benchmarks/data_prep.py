"""Data preparation: once per experiment vs once per trial, and back-translation throughput.

    python -m benchmarks.data_prep [--trials 8] [--train-size 2000] [--ratio 0.5] [--bt-sentences 512]

Part 1 runs raymt's own preparation stages (``raymt.train.prepare``: corpus load, tokenisation,
a word-dropout pool, a back-translation pool with the reverse tiny model) on an EMPTY cache,
which is exactly what a trial would pay if it prepared its own data ("before sharing": every
trial pays it, so an N-trial search pays N x the measured time; the multiply is stated, not
run N times), then again on the warm cache, which is what every later experiment on the same
data pays ("after sharing"; within a search the trials pay nothing: they memory-map the pools).
The tiny base itself is reused from the cache in both (it is shared by construction).

Part 2 generates a back-translation pool of ``--bt-sentences`` sentences with the reverse model
on a Ray actor pool of 1 and 2 actors (1 CPU each), plus the same chunks in this process (1 and
2 torch threads), and reports sentences/s of the generation itself and the start-up.

Raw results: benchmarks/out/data_prep.json and data_prep.csv; the table is printed last.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def experiment_config(storage: Path, train_size: int, ratio: float):
    from raymt.config.load import validate_config

    return validate_config(
        {
            "name": "data_prep",
            "storage_path": str(storage),
            "data": {"source": "synthetic", "domain": "medical", "train_size": train_size, "valid_size": 200, "test_size": 200, "lexicon_size": 20},
            "augment": {"word_dropout": {"ratio": ratio}, "back_translation": {"ratio": ratio}},
        },
        "benchmarks.data_prep",
    )


def prepare_stages(cfg, root: Path) -> dict:
    """Each preparation stage of raymt.train.prepare, timed separately (seconds)."""
    from raymt.data.cache import build_tokenized
    from raymt.data.sources import load_corpus
    from raymt.model.loading import load_tokenizer
    from raymt.model.tiny import build_tiny_base
    from raymt.train.prepare import build_augment_pool

    quiet = lambda m: None  # noqa: E731
    base = build_tiny_base(cfg.model.tiny, root, log=quiet)
    tokenizer = load_tokenizer(str(base), cfg.model.src_lang, cfg.model.tgt_lang)
    row: dict = {}
    t0 = time.perf_counter()
    splits, _ = load_corpus(cfg.data)
    row["corpus_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_tokenized(splits, tokenizer, cfg.model.max_length, root / "data")
    row["tokenize_s"] = time.perf_counter() - t0
    costs: dict = {}
    for name in ("word_dropout", "back_translation"):
        t0 = time.perf_counter()
        build_augment_pool(name, cfg, splits, cfg.augment[name].ratio, tokenizer, root, log=quiet, costs=costs)
        row[f"{name}_s"] = time.perf_counter() - t0
    bt = costs.get("back_translation", {})
    row["bt_reverse_model_s"] = bt.get("reverse_model_s", 0.0)
    row["bt_generate_wall_s"] = bt.get("seconds", 0.0) if not bt.get("cached") else 0.0
    row["total_s"] = sum(row[k] for k in ("corpus_s", "tokenize_s", "word_dropout_s", "back_translation_s"))
    return row


def fresh_root(work: Path, name: str, shared_models: Path) -> Path:
    """An empty cache whose models/ holds only the tiny base (reverse models are rebuilt)."""
    root = work / name / ".cache"
    (root / "models").mkdir(parents=True)
    for entry in shared_models.iterdir():
        if entry.name.startswith("tiny-") and not entry.name.startswith("tiny-reverse-"):
            (root / "models" / entry.name).symlink_to(entry, target_is_directory=True)
    return root


def throughput(cfg, root: Path, n: int, actors: list[int], local_threads: list[int], work: Path) -> list[dict]:
    from raymt.data.augment import get_operator
    from raymt.data.augment.back_translation import BackTranslationParams, _sampling
    from raymt.data.augment.generation import Translator, translate_local
    from raymt.data.sources import load_corpus
    from raymt.model.reverse_tiny import build_reverse_tiny
    from raymt.model.tiny import build_tiny_base

    splits, _ = load_corpus(cfg.data)
    train = splits["train"]
    p = BackTranslationParams()
    model = build_reverse_tiny(
        build_tiny_base(cfg.model.tiny, root, log=lambda m: None),
        cfg.model.tiny,
        train,
        root,
        src_lang=cfg.model.src_lang,
        tgt_lang=cfg.model.tgt_lang,
        epochs=p.reverse_epochs,
        log=lambda m: None,
    )
    ratio = n / len(train)
    rows = []
    for k in actors:
        op = get_operator("back_translation")
        run_root = work / f"bt-{k}" / ".cache"
        shutil.copytree(root / "models", run_root / "models", symlinks=True)
        op.build_pool(train, ratio, {"num_actors": k, "cpus_per_actor": 1.0}, seed=0, cfg=cfg, root=run_root, log=lambda m: None)
        c = op.cost
        rows.append(
            {
                "where": f"Ray ActorPool, {c['actors']} actor(s) x 1 CPU",
                "sentences": c["sentences"],
                "startup_s": c["startup_s"],
                "generate_s": c["generate_s"],
                "sentences_per_s": c["sentences_per_s"],
                "wall_sentences_per_s": c["sentences"] / c["seconds"],
            }
        )
    import torch

    from raymt.data.augment.ratio import chosen_pairs

    chosen, _ = chosen_pairs(train, "back_translation", round(ratio * len(train)), 0)
    for threads in local_threads:
        t0 = time.perf_counter()
        translator = Translator(str(model), input_lang=cfg.model.tgt_lang, output_lang=cfg.model.src_lang, threads=threads, **_sampling(p))
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        translate_local(translator, [t for _, t in chosen], seed=0, batch_size=p.batch_size)
        gen = time.perf_counter() - t0
        rows.append(
            {
                "where": f"this process, {torch.get_num_threads()} torch thread(s), no Ray",
                "sentences": len(chosen),
                "startup_s": startup,
                "generate_s": gen,
                "sentences_per_s": len(chosen) / gen,
                "wall_sentences_per_s": len(chosen) / (gen + startup),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="N of the N-trial search the per-trial cost is multiplied by")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--ratio", type=float, default=0.5, help="pool ratio of both operators")
    parser.add_argument("--bt-sentences", type=int, default=512, help="sentences back-translated per throughput run")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--local-threads", type=int, nargs="+", default=[1, 2], help="torch threads of the in-process baseline runs")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(os.environ.get("RAYMT_TEST_CACHE", "raymt_results/.cache")) / "models",
        help="a cache models/ folder holding the tiny base (built there if absent)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from raymt.model.tiny import TinyModelSpec, build_tiny_base
    from raymt.runtime import init_ray

    build_tiny_base(TinyModelSpec(), args.models.parent, log=print)
    work = Path(tempfile.mkdtemp(prefix="raymt-data-prep-"))
    try:
        init_ray(num_cpus=os.cpu_count(), log=lambda m: None)  # started once here, not timed inside the stages
        cold_root = fresh_root(work, "cold", args.models)
        cfg = experiment_config(cold_root.parent, args.train_size, args.ratio)
        print("preparing on an empty cache (what each trial would pay without sharing) ...", flush=True)
        cold = prepare_stages(cfg, cold_root)
        print("preparing again on the warm cache (a later experiment on the same data) ...", flush=True)
        warm = prepare_stages(cfg, cold_root)
        print(f"back-translation throughput, {args.bt_sentences} sentences ...", flush=True)
        bt_rows = throughput(cfg, cold_root, args.bt_sentences, args.actors, args.local_threads, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    stages = ["corpus_s", "tokenize_s", "word_dropout_s", "back_translation_s", "total_s"]
    prep_rows = [
        {"stage": s.removesuffix("_s"), "per_experiment_s": cold[s], "per_trial_total_s": args.trials * cold[s], "warm_cache_s": warm[s]}
        for s in stages
    ]
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_avg_1m": os.getloadavg()[0],
        "trials": args.trials,
        "train_size": args.train_size,
        "ratio": args.ratio,
        "bt_reverse_model_s": cold["bt_reverse_model_s"],
        "bt_generate_wall_s": cold["bt_generate_wall_s"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data_prep.json").write_text(
        json.dumps({"meta": meta, "prepare": prep_rows, "back_translation": bt_rows, "cold": cold, "warm": warm}, indent=1)
    )
    with open(args.out / "data_prep.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["table", "row", "column", "value"])
        for r in prep_rows:
            for k, v in r.items():
                if k != "stage":
                    writer.writerow(["prepare", r["stage"], k, v])
        for r in bt_rows:
            for k, v in r.items():
                if k != "where":
                    writer.writerow(["back_translation", r["where"], k, v])

    print(
        f"\n{meta['date']}, {meta['machine']}, 1-min load average {meta['load_avg_1m']:.1f}; "
        f"{args.train_size} training pairs, pools at ratio {args.ratio}"
    )
    print(
        f"\nPreparation (seconds): shared once per experiment vs paid by every trial of a {args.trials}-trial search "
        f"(= {args.trials} x the per-experiment time, measured once)"
    )
    print(f"{'stage':<18}{'per experiment':>16}{f'{args.trials} trials, per-trial':>24}{'warm cache':>12}")
    for r in prep_rows:
        print(f"{r['stage']:<18}{r['per_experiment_s']:>16.2f}{r['per_trial_total_s']:>24.2f}{r['warm_cache_s']:>12.2f}")
    print(
        f"(back-translation = {cold['bt_reverse_model_s']:.1f} s reverse tiny model + {cold['bt_generate_wall_s']:.1f} s generation incl. actor start)"
    )
    print(f"\nBack-translation throughput ({args.bt_sentences} sentences, reverse tiny model, unrestricted sampling)")
    print(f"{'where':<46}{'start-up s':>11}{'generate s':>11}{'sent/s':>9}{'sent/s incl. start':>20}")
    for r in bt_rows:
        print(f"{r['where']:<46}{r['startup_s']:>11.2f}{r['generate_s']:>11.2f}{r['sentences_per_s']:>9.1f}{r['wall_sentences_per_s']:>20.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
