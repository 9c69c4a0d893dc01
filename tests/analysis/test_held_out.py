"""Validation next to held-out test, on tables alone: the report says which choice changes."""

from __future__ import annotations

import pandas as pd

from raymt.analysis.held_out import choice_changes, held_out_section, held_out_objectives

OBJ = {"bleu": "max", "storage_mb": "min"}


def table(test_bleu):
    """Four validation-front members (a < b < e < c in storage and validation BLEU; the knee
    is b) and d off the front; all but d scored on test."""
    return pd.DataFrame(
        {
            "trial_id": ["a", "b", "e", "c", "d"],
            "status": ["completed"] * 5,
            "method": ["lora", "adapter", "lora", "full", "lora"],
            "storage_mb": [0.1, 1.0, 10.0, 100.0, 5.0],
            "bleu": [20.0, 40.0, 41.0, 42.0, 10.0],
            "chrf": [50.0] * 5,
            "test_bleu": [*test_bleu, None],
            "test_chrf": [48.0, 49.0, 49.0, 50.0, None],
            "test_bleu_ci95": [1.5, 1.4, 1.4, 1.3, None],
        }
    )


def test_agreeing_splits_say_the_choices_stand():
    lines = choice_changes(table([19.0, 38.0, 39.0, 41.0]), OBJ)
    assert "The best bleu is the same trial by validation and by test: c (full)." in lines
    assert "The knee is the same by validation and by test: b (adapter)." in lines
    assert "Every scored member of the validation front is also on the front by test." in lines


def test_disagreeing_splits_name_both_choices():
    """On test the full model is no better than a LoRA ten times smaller, and the adapter
    gains little over the smallest LoRA: best trial and knee both move."""
    lines = choice_changes(table([20.0, 25.0, 39.0, 38.0]), OBJ)
    assert "The best bleu by validation is c (full), by test e (lora): the choice changes." in lines
    assert "On test, c is dominated by another scored trial: off the front by test." in lines
    lines = choice_changes(table([20.0, 25.0, 38.0, 39.0]), OBJ)
    assert "The best bleu is the same trial by validation and by test: c (full)." in lines
    assert "The knee by validation is b (adapter), by test e (lora): the choice changes." in lines


def test_no_knee_on_one_split_is_said():
    lines = choice_changes(table([20.0, 21.0, 39.0, 38.0]), OBJ)
    assert "By test the front has no knee (the member with the best bleu stands in): by validation b (adapter), by test e (lora)." in lines


def test_section_lists_trials_by_test_score_with_the_interval():
    text = held_out_section(table([30.0, 35.0, 29.0, 31.0]), OBJ, seconds=12.3)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "trial_id" not in line and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["b", "c", "a", "e"]  # d was never scored
    assert "35.00 ± 1.40" in text and "Test scoring took 12.3 s for 4 trial(s)" in text
    assert "Validation minus test BLEU" in text


def test_no_test_scores_no_section():
    assert held_out_section(table([None] * 4).drop(columns=["test_bleu"]), OBJ) == ""
    assert held_out_objectives(OBJ, ["bleu", "storage_mb"]) is None
    assert held_out_objectives({"bleu": "max", "storage_mb": "min"}, ["test_bleu"]) == {"test_bleu": "max", "storage_mb": "min"}


def test_the_untouched_base_is_a_reference_row_and_trials_not_above_it_are_named():
    base = {"": {"bleu": 2.0, "chrf": 20.0, "test_bleu": 28.0, "test_chrf": 30.0, "test_bleu_ci95": 1.0}}
    text = held_out_section(table([30.0, 35.0, 29.0, 31.0]), OBJ, base_scores=base)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "trial_id" not in line and "---" not in line]
    assert rows[-1].split("|")[1].strip() == "untouched base" and "28.00 ± 1.00" in rows[-1]
    # a (30 ± 1.5) and e (29 ± 1.4) overlap the base's 28 ± 1.0; b and c are above it beyond both intervals
    assert "The untouched base scores 28.00 ± 1.00 test BLEU: a, e are not above it beyond both intervals." in text
    base[""]["test_bleu"] = 1.0
    assert "every scored trial is above it beyond both intervals" in held_out_section(table([30.0, 35.0, 29.0, 31.0]), OBJ, base_scores=base)


def test_without_a_test_score_of_the_base_there_is_no_reference_row():
    text = held_out_section(table([30.0, 35.0, 29.0, 31.0]), OBJ, base_scores={"": {"bleu": 2.0, "chrf": 20.0}})
    assert "untouched base" not in text


def test_a_multi_pair_base_is_the_mean_over_pairs():
    from raymt.analysis.held_out import base_reference

    ref = base_reference(
        {
            "en-de": {"bleu": 2.0, "chrf": 20.0, "test_bleu": 4.0, "test_chrf": 30.0, "test_bleu_ci95": 0.3},
            "en-fr": {"bleu": 4.0, "chrf": 22.0, "test_bleu": 6.0, "test_chrf": 32.0, "test_bleu_ci95": 0.4},
        }
    )
    assert ref["bleu"] == 3.0 and ref["test_bleu"] == 5.0 and abs(ref["test_bleu_ci95"] - 0.25) < 1e-12
