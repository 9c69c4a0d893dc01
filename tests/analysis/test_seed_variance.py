"""Seed variance of the front: mean ± sd over seeds and Welch's t-test groups, on tables alone."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raymt.analysis.seed_variance import seed_groups, seed_summary, seed_values, seed_variance_section, welch_p


def _tables(members: dict[str, tuple[float, list[float], float]]):
    """trial id -> (original BLEU, repeats' BLEU, storage MB)."""
    trials = pd.DataFrame(
        [{"trial_id": t, "status": "completed", "method": "lora", "bleu": b, "storage_mb": mb} for t, (b, _, mb) in members.items()]
    )
    repeats = pd.DataFrame(
        [{"trial_id": t, "seed": i + 1, "status": "completed", "bleu": v} for t, (_, vs, _) in members.items() for i, v in enumerate(vs)]
    )
    return trials, repeats


def test_welch_p_is_scipys_two_sided_unequal_variance_test():
    from scipy.stats import ttest_ind

    a, b = [30.0, 31.0, 29.5], [33.0, 35.0, 34.0, 36.5]
    assert welch_p(a, b) == pytest.approx(ttest_ind(a, b, equal_var=False).pvalue)
    assert math.isnan(welch_p([30.0], [31.0, 32.0]))  # one seed: no variance to test against
    assert welch_p([30.0, 30.0], [30.0, 30.0]) == 1.0 and welch_p([30.0, 30.0], [31.0, 31.0]) == 0.0


def test_original_run_counts_as_one_seed_and_failed_repeats_do_not():
    trials, repeats = _tables({"a": (30.0, [28.0], 1.0)})
    repeats = pd.concat([repeats, pd.DataFrame([{"trial_id": "a", "seed": 2, "status": "failed", "bleu": float("nan")}])])
    assert seed_values(trials, repeats) == {"a": [30.0, 28.0]}
    row = seed_summary(trials, repeats).loc["a"]
    assert row["n_seeds"] == 2 and row["bleu_mean"] == 29.0 and row["bleu_sd"] == pytest.approx(math.sqrt(2))
    assert row["test_n_seeds"] == 0 and math.isnan(row["test_bleu_mean"])


def test_members_within_seed_noise_share_a_group_and_far_ones_do_not():
    # small and big overlap within their seed spread; huge is 20 BLEU above with a tight spread
    trials, repeats = _tables({"small": (30.0, [27.0, 33.5], 1.0), "big": (31.0, [34.0, 28.5], 5.0), "huge": (52.0, [51.5, 52.5], 50.0)})
    groups, split = seed_groups(trials, repeats)
    assert split == "validation"  # no test scores here
    by_id = groups.set_index("trial_id")
    assert list(groups["trial_id"]) == ["small", "big", "huge"]  # smallest storage first
    assert by_id.loc["small", "group"] == by_id.loc["big", "group"] == 0 and by_id.loc["huge", "group"] == 1
    assert by_id.loc["big", "compared_with"] == "small" and by_id.loc["big", "p_value"] > 0.05
    assert by_id.loc["huge", "representative"] and by_id.loc["huge", "p_value"] < 0.05
    text = seed_variance_section(trials, repeats)
    assert "form 2 group(s)" in text and "{small, big} | {huge}" in text and "**validation** BLEU" in text


def test_test_split_is_used_when_every_member_has_two_test_scores():
    trials, repeats = _tables({"a": (30.0, [31.0], 1.0), "b": (40.0, [41.0], 2.0)})
    trials["test_bleu"] = [20.0, 35.0]
    repeats["test_bleu"] = [21.0, 36.0]
    assert seed_groups(trials, repeats)[1] == "test"
    assert seed_summary(trials, repeats).loc["b", "test_bleu_mean"] == 35.5
    repeats.loc[repeats["trial_id"] == "b", "test_bleu"] = float("nan")  # one member lacks a second test score
    assert seed_groups(trials, repeats)[1] == "validation"


def test_a_member_whose_repeats_all_failed_is_named_not_tested():
    trials, repeats = _tables({"a": (30.0, [31.0], 1.0), "b": (40.0, [], 2.0)})
    repeats = pd.concat([repeats, pd.DataFrame([{"trial_id": "b", "seed": 1, "status": "failed", "bleu": float("nan"), "error": "boom"}])])
    groups, _ = seed_groups(trials, repeats)
    assert pd.isna(groups.set_index("trial_id").loc["b", "group"])
    text = seed_variance_section(trials, repeats)
    assert "Not tested (one seed: its repeats failed): b" in text and "- b seed 1: failed: boom" in text
