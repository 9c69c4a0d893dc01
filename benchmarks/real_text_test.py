"""The real_text targets on held-out TEST BLEU: do the best full, LoRA and adapter trials differ
beyond their bootstrap intervals, and does every method beat the untouched base?

    python -m benchmarks.real_text_test raymt_results/real_text

The search chose its front, each trial's epoch and (here) the best trial of each method on the
validation split. The test scores are the search's own (:mod:`raymt.results.test_scores`: the
trials table's ``test_bleu`` / ``test_bleu_ci95``, the untouched base's in ``prepared.json``);
this script only asks that search scoring for the best trial of each method too (as ``raymt
report DIR --test ID...`` does: a trial already scored is not decoded again), then reads the
saved test hypotheses (``test_hyps/``) for sacrebleu's paired bootstrap (Koehn 2004; 1,000
resamples, sacrebleu's fixed seed) between the best trials and against the base. Two readings
of "differ": the 95% intervals do not overlap (the stricter), and paired p < 0.05. A multi-pair
search (``python -m benchmarks.real_text_test raymt_results/multi_pair``) is compared with the
base in each direction, by the per-direction intervals (as the report's Data section does).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from benchmarks.machine_load import uptime

PARAMS = ("train.lr", "lora.r", "adapter.size", "augment.word_dropout.ratio")


def best_of_each_method(trials: pd.DataFrame) -> pd.DataFrame:
    """The completed trial with the best validation BLEU of each method (chosen on validation)."""
    done = trials[trials["status"] == "completed"]
    return done.sort_values("bleu", ascending=False, kind="stable").groupby("method").head(1)


def _system(results: Path, name: str, hyps: str, signature: str) -> dict:
    from raymt.results.files import TEST_HYPS_DIR, TEST_REFERENCES

    return {
        "trial_id": name,
        "hyps_path": str(results / TEST_HYPS_DIR / hyps),
        "refs_path": str(results / TEST_REFERENCES),
        "sacrebleu_signature": signature,
    }


def apart(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two (score, 95% half-width) pairs whose intervals do not overlap."""
    return abs(a[0] - b[0]) > a[1] + b[1]


def beats_base_per_direction(scored: pd.DataFrame, trial_ids: list[str], base: dict[str, dict]) -> tuple[list[str], bool]:
    """A multi-pair search: each trial against the untouched base in each direction, by the
    per-direction test BLEU and bootstrap interval (``test_bleu_<pair>``, ``test_bleu_ci95_<pair>``).
    Intervals only: the saved hypotheses hold the pairs one after the other, and the report's
    Data section reads the same columns. Returns the lines and whether every trial is above the
    base beyond both intervals in every direction."""
    by_id = scored.set_index(scored["trial_id"].astype(str))
    lines, beats = [], True
    for pair, b in base.items():
        for trial in trial_ids:
            score = (float(by_id.at[trial, f"test_bleu_{pair}"]), float(by_id.at[trial, f"test_bleu_ci95_{pair}"]))
            reference = (float(b["test_bleu"]), float(b.get("test_bleu_ci95", 0.0)))
            above = score[0] > reference[0] and apart(score, reference)
            beats &= above
            lines.append(
                f"  {trial} vs the untouched base, {pair}: {score[0]:.2f} ± {score[1]:.2f} vs {reference[0]:.2f} ± {reference[1]:.2f}, "
                f"{'above beyond both intervals' if above else 'NOT above beyond both intervals'}"
            )
    return lines, beats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a finished search's results folder")
    parser.add_argument("--n-samples", type=int, default=1000)
    args = parser.parse_args(argv)
    from raymt.analysis.results import load
    from raymt.analysis.significance import paired_bootstrap
    from raymt.config.load import read_yaml
    from raymt.results.files import CONFIG_COPY, PREPARED
    from raymt.results.test_scores import BASE_HYPS, score_front_on_test
    from raymt.search.load import parse_search

    results = args.results
    print(f"uptime before: {uptime()}", flush=True)
    objectives = parse_search(read_yaml(results / CONFIG_COPY).get("search"), str(results / CONFIG_COPY)).objectives
    best = best_of_each_method(load(results))
    trials = score_front_on_test(results, load(results), objectives, named=list(best["trial_id"].astype(str)))
    base_scores = json.loads((results / PREPARED).read_text()).get("base_scores") or {}
    base = base_scores.get("")
    per_direction = {pair: b for pair, b in base_scores.items() if pair and "test_bleu" in b}
    if (base is None or "test_bleu" not in base) and not per_direction:
        print("the untouched base has no test score (eval.score_base off): no reference row")
    print(f"uptime after scoring: {uptime()}")

    scored = trials[pd.to_numeric(trials.get("test_bleu"), errors="coerce").notna()].copy()
    scored["best_of_method"] = scored["trial_id"].isin(best["trial_id"])
    rows = []
    for r in scored.sort_values("test_bleu", ascending=False).itertuples():
        d = r._asdict()
        params = ", ".join(f"{c}={scored.at[r.Index, c]}" for c in PARAMS if c in scored and pd.notna(scored.at[r.Index, c]))
        rows.append(
            {
                "system": r.trial_id,
                "method": r.method,
                "params": params,
                "storage_mb": r.storage_mb,
                "val_bleu": r.bleu,
                "test": f"{r.test_bleu:.2f} ± {d['test_bleu_ci95']:.2f}",
                "test_chrf": r.test_chrf,
                "best_of_method": bool(d["best_of_method"]),
            }
        )
    if base is not None and "test_bleu" in base:
        rows.append(
            {
                "system": "untouched base",
                "method": "-",
                "params": "",
                "storage_mb": float("nan"),
                "val_bleu": base["bleu"],
                "test": f"{base['test_bleu']:.2f} ± {base['test_bleu_ci95']:.2f}",
                "test_chrf": base.get("test_chrf", float("nan")),
                "best_of_method": False,
            }
        )
    sentences = int(scored["test_sentences"].max()) if len(scored) else 0
    print(f"\nTest split: {sentences} sentences ({results}); the search's own test scoring; ± = sacrebleu's bootstrap 95% interval")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    systems = {str(r.trial_id): _system(results, r.trial_id, f"{r.trial_id}.txt", r.test_signature) for r in scored.itertuples()}
    if base is not None and "test_bleu" in base:
        systems["untouched base"] = _system(results, "untouched base", f"{BASE_HYPS}.txt", next(iter(scored["test_signature"]), ""))
    interval = {str(r.trial_id): (r.test_bleu, r.test_bleu_ci95) for r in scored.itertuples()}
    if "untouched base" in systems:
        interval["untouched base"] = (base["test_bleu"], base["test_bleu_ci95"])
    ordered = [(str(r.trial_id), r.method) for r in scored[scored["best_of_method"]].sort_values("test_bleu", ascending=False).itertuples()]
    print("\nBest trial of each method (by validation BLEU), on test:")
    differ = True
    for i, (a, ma) in enumerate(ordered):
        for b, mb in ordered[i + 1 :]:
            p = paired_bootstrap(systems[a], systems[b], n_samples=args.n_samples)
            differ &= apart(interval[a], interval[b])
            print(f"  {a} ({ma}) vs {b} ({mb}): intervals {'apart' if apart(interval[a], interval[b]) else 'OVERLAP'}, paired p = {p:.4f}")
    beats = True
    if "untouched base" in systems:
        for a, ma in ordered:
            p = paired_bootstrap(systems["untouched base"], systems[a], n_samples=args.n_samples)
            above = interval[a][0] > interval["untouched base"][0] and apart(interval[a], interval["untouched base"])
            beats &= above
            print(
                f"  {a} ({ma}) vs the untouched base: {'above beyond both intervals' if above else 'NOT above beyond both intervals'}, paired p = {p:.4f}"
            )
    if per_direction:
        lines, beats = beats_base_per_direction(scored, [a for a, _ in ordered], per_direction)
        print("\n".join(lines))
    has_base = "untouched base" in systems or bool(per_direction)
    print(f"\nTarget 1 (best full, LoRA, adapter differ on test beyond their intervals): {'holds' if differ and len(ordered) == 3 else 'FAILS'}")
    print(f"Target 2 (every method beats the untouched base on test): {'holds' if beats and has_base else 'FAILS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
