"""Held-out TEST BLEU of a finished search's front, with bootstrap 95% intervals.

    python -m benchmarks.real_text_test raymt_results/real_text

The search chose its front (and each trial's epoch) on the validation split; this scores the
kept artefacts once on the test split, which nothing in the search ever read, with the
trial's own decoding settings (beam size, max_new_tokens, language codes, max_length). Systems
scored: every completed trial on the validation front, the best completed trial of each
method by validation BLEU, and the untouched base. Intervals and p-values: sacrebleu's paired
bootstrap resampling (Koehn 2004; ``sacrebleu.significance.PairedTest``, 1,000 resamples,
sacrebleu's fixed seed), each system against the untouched base, and the best full, LoRA and
adapter trials against each other. Until the search scores its front on the test split itself
(issue 20 item 1), this is how BENCHMARKS.md gets test figures. Prints its table last; raw
numbers go to ``<results>/test_scores.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml


def _systems(trials: pd.DataFrame, front: pd.DataFrame) -> pd.DataFrame:
    done = trials[trials["status"] == "completed"].copy()
    best = done.sort_values("bleu", ascending=False).groupby("method").head(1)
    chosen = pd.concat([front[front["trial_id"].isin(done["trial_id"])], best]).drop_duplicates("trial_id")
    chosen["on_front"] = chosen["trial_id"].isin(front["trial_id"])
    chosen["best_of_method"] = chosen["trial_id"].isin(best["trial_id"])
    return chosen.reset_index(drop=True)


def _decode(model, tokenizer, cfg, sources: list[str]) -> list[str]:
    from raymt.model.decode import translate_texts

    hyps, _ = translate_texts(
        model,
        tokenizer,
        sources,
        src_lang=cfg["model"]["src_lang"],
        tgt_lang=cfg["model"]["tgt_lang"],
        beam_size=cfg["eval"].get("beam_size", 1),
        max_new_tokens=cfg["eval"].get("max_new_tokens", 64),
        batch_size=cfg["eval"].get("batch_size", 64),
        max_length=cfg["model"].get("max_length", 64),
    )
    return hyps


def paired(systems: list[tuple[str, list[str]]], refs: list[str], n_samples: int) -> dict:
    """sacrebleu's paired bootstrap: the first system is the baseline; returns per system its
    BLEU, bootstrap mean, 95% interval half-width and p-value against the baseline."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    logger = logging.getLogger("sacrebleu")
    logger.setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        test = PairedTest(systems, {"BLEU": BLEU()}, references=[refs], test_type="bs", n_samples=n_samples)
        _, scores = test()
    out = {}
    for (name, _), result in zip(systems, scores["BLEU"]):
        out[name] = {"bleu": result.score, "mean": result.mean, "ci95": result.ci, "p": result.p_value}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a finished search's results folder")
    parser.add_argument("--n-samples", type=int, default=1000)
    args = parser.parse_args(argv)
    import torch

    from raymt.data.cache import load_tokenized
    from raymt.export.bundle import artifact_dir, trial_config
    from raymt.methods import get_method
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import load_model, load_tokenizer
    from raymt.object_store import localize

    torch.set_num_threads(2)
    results = args.results
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", flush=True)
    cfg = yaml.safe_load((results / "search_config.yaml").read_text())
    prepared = json.loads((results / "prepared.json").read_text())
    base = localize(prepared["base_path"])
    test = load_tokenized(localize(prepared["data_path"]))["test"]
    sources, refs = list(test["src_text"]), list(test["tgt_text"])
    trials = pd.read_parquet(results / "trials.parquet")
    front = pd.read_csv(results / "pareto.csv")
    chosen = _systems(trials, front)
    tokenizer = load_tokenizer(base, cfg["model"]["src_lang"], cfg["model"]["tgt_lang"])
    t0 = time.perf_counter()
    hyps = {"untouched base": _decode(load_model(base), tokenizer, cfg, sources)}
    for row in chosen.itertuples():
        trial_cfg = trial_config(results, pd.Series(row._asdict()))
        model = get_method(trial_cfg["method"]["name"]).load(load_model(base), artifact_dir(pd.Series(row._asdict()), results))
        hyps[row.trial_id] = _decode(model, tokenizer, cfg, sources)
    decode_s = time.perf_counter() - t0
    vs_base = paired(list(hyps.items()), refs, args.n_samples)
    rows = []
    for name, h in hyps.items():
        scores = corpus_scores(h, refs)
        info = chosen[chosen["trial_id"] == name].iloc[0] if name in set(chosen["trial_id"]) else None
        rows.append(
            {
                "system": name,
                "method": info["method"] if info is not None else "-",
                "storage_mb": float(info["storage_mb"]) if info is not None else float("nan"),
                "val_bleu": float(info["bleu"]) if info is not None else prepared.get("base_scores", {}).get("", {}).get("bleu"),
                "test_bleu": scores.bleu,
                "test_ci95": vs_base[name]["ci95"],
                "test_chrf": scores.chrf,
                "p_vs_base": vs_base[name]["p"],
                "on_front": bool(info["on_front"]) if info is not None else False,
                "best_of_method": bool(info["best_of_method"]) if info is not None else False,
                "params": ", ".join(
                    f"{c}={info[c]}"
                    for c in ("train.lr", "lora.r", "adapter.size", "augment.word_dropout.ratio")
                    if info is not None and c in info and pd.notna(info[c])
                ),
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(results / "test_scores.csv", index=False)
    best = table[table["best_of_method"]].sort_values("test_bleu", ascending=False)
    pairwise = []
    ordered = list(best["system"])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            p = paired([(a, hyps[a]), (b, hyps[b])], refs, args.n_samples)[b]["p"]
            pairwise.append((a, b, p))
    print(
        f"\nTest split: {len(refs)} sentences ({results}); decoding {decode_s:.0f} s; signature {corpus_scores(hyps['untouched base'], refs).bleu_signature}"
    )
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    fmt = table.assign(test=lambda d: d.apply(lambda r: f"{r.test_bleu:.2f} ± {r.test_ci95:.2f}", axis=1))
    print(
        fmt[["system", "method", "params", "storage_mb", "val_bleu", "test", "test_chrf", "p_vs_base", "on_front", "best_of_method"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    print("\nBest trial of each method, paired bootstrap on test (p < 0.05: the difference is beyond resampling noise):")
    for a, b, p in pairwise:
        print(f"  {a} ({best.set_index('system').loc[a, 'method']}) vs {b} ({best.set_index('system').loc[b, 'method']}): p = {p:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
