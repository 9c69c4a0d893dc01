"""The real-text targets on test (benchmarks/real_text_test.py): the best trial of each method is
chosen on validation (never on test), scored on test if the search did not, and compared with
the others and with the untouched base."""

from __future__ import annotations

import json

import pandas as pd
from hand_made_results import make_results_folder

from benchmarks.real_text_test import apart, beats_base_per_direction, best_of_each_method, main
from raymt.analysis.results import load

TRIALS = (("t_lora", "lora", {"r": 8}, 30.0), ("t_adapter", "adapter", {"size": 16}, 31.0), ("t_lora4", "lora", {"r": 4}, 10.0))


def test_the_best_of_each_method_is_chosen_on_validation_among_completed_trials():
    table = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d", "e"],
            "method": ["lora", "lora", "adapter", "adapter", "full"],
            "status": ["completed", "completed", "completed", "early_stopped", "failed"],
            "bleu": [5.0, 6.0, 2.0, 9.0, float("nan")],
            "test_bleu": [7.0, 1.0, 2.0, 9.0, float("nan")],  # test must not decide
        }
    )
    best = best_of_each_method(table)
    assert sorted(best["trial_id"]) == ["b", "c"]  # an early-stopped or failed trial has no finished model


def test_intervals_apart_only_when_they_do_not_overlap():
    assert apart((5.0, 1.0), (2.0, 1.0)) and apart((2.0, 1.0), (5.0, 1.0))
    assert not apart((5.0, 1.5), (2.0, 1.5)) and not apart((5.0, 2.0), (2.0, 1.5))


def test_a_multi_pair_search_is_compared_with_the_base_in_each_direction():
    """One direction at the base's level fails the target, even when the mean is well above it."""
    scored = pd.DataFrame(
        {
            "trial_id": ["a", "b"],
            "test_bleu_en_XX-cs_CZ": [11.4, 0.6],
            "test_bleu_ci95_en_XX-cs_CZ": [1.0, 0.3],
            "test_bleu_cs_CZ-en_XX": [18.0, 20.0],
            "test_bleu_ci95_cs_CZ-en_XX": [1.1, 1.0],
        }
    )
    base = {"en_XX-cs_CZ": {"test_bleu": 0.17, "test_bleu_ci95": 0.13}, "cs_CZ-en_XX": {"test_bleu": 0.54, "test_bleu_ci95": 0.21}}
    lines, beats = beats_base_per_direction(scored, ["a"], base)
    assert beats and len(lines) == 2 and all("above beyond both intervals" in line for line in lines)
    lines, beats = beats_base_per_direction(scored, ["a", "b"], base)
    assert not beats
    assert [line for line in lines if "NOT above" in line] == [
        "  b vs the untouched base, en_XX-cs_CZ: 0.60 ± 0.30 vs 0.17 ± 0.13, NOT above beyond both intervals"
    ]


def test_scores_the_validation_best_off_the_front_and_compares_with_the_base(tmp_path, tiny_base, capsys):
    folder = make_results_folder(tmp_path / "results", tiny_base, TRIALS, perturb=0.05, test_size=24)
    trials = load(folder)
    # both LoRA trials are off the front (the adapter scores more with less storage); t_lora
    # (validation 30.0) is LoRA's best, t_lora4 (10.0) is not
    trials.loc[trials["method"] == "lora", "storage_mb"] = trials["storage_mb"].max() * 2
    trials.to_parquet(folder / "trials.parquet")
    prepared = json.loads((folder / "prepared.json").read_text())
    prepared["base_scores"] = {"": {"bleu": 1.5, "chrf": 12.0, "sentences": 24, "split": "validation"}}
    (folder / "prepared.json").write_text(json.dumps(prepared))

    assert main([str(folder), "--n-samples", "50"]) == 0
    out = capsys.readouterr().out
    table = load(folder).set_index("trial_id")
    assert table.loc[["t_lora", "t_adapter"], "test_bleu"].notna().all()  # LoRA's validation best was decoded
    assert pd.isna(table.loc["t_lora4", "test_bleu"])  # neither on the front nor a method's best
    assert "t_adapter (adapter) vs t_lora (lora)" in out or "t_lora (lora) vs t_adapter (adapter)" in out
    assert "t_lora (lora) vs the untouched base" in out and "t_adapter (adapter) vs the untouched base" in out
    assert "untouched base" in out.split("Best trial of each method", 1)[0]  # the reference row
    assert "Target 1 (best full, LoRA, adapter differ on test beyond their intervals): FAILS" in out  # no full trial
    base = json.loads((folder / "prepared.json").read_text())["base_scores"][""]
    above = [
        table.at[t, "test_bleu"] > base["test_bleu"]
        and apart((table.at[t, "test_bleu"], table.at[t, "test_bleu_ci95"]), (base["test_bleu"], base["test_bleu_ci95"]))
        for t in ("t_lora", "t_adapter")
    ]
    target2 = "holds" if all(above) else "FAILS"
    assert f"Target 2 (every method beats the untouched base on test): {target2}" in out
