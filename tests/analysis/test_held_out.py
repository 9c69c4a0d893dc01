"""Validation next to held-out test, on tables alone: the report says which choice changes."""

from __future__ import annotations

import pandas as pd

from raymt.analysis.held_out import choice_changes, held_out_section, held_out_objectives

OBJ = {"bleu": "max", "storage_mb": "min"}


def table(test_bleu):
    """Three front members (a < b < c in storage and validation BLEU), all scored on test."""
    return pd.DataFrame({"trial_id": ["a", "b", "c", "d"], "status": ["completed"] * 4,
                         "method": ["lora", "adapter", "full", "lora"],
                         "storage_mb": [0.1, 1.0, 100.0, 5.0], "bleu": [20.0, 40.0, 42.0, 10.0], "chrf": [50.0] * 4,
                         "test_bleu": [*test_bleu, None], "test_chrf": [48.0, 49.0, 50.0, None],
                         "test_bleu_ci95": [1.5, 1.4, 1.3, None]})


def test_agreeing_splits_say_the_choices_stand():
    lines = choice_changes(table([19.0, 38.0, 41.0]), OBJ)
    assert "The best bleu is the same trial by validation and by test: c (full)." in lines
    assert "The knee is the same by validation and by test: b (adapter)." in lines
    assert "Every scored member of the validation front is also on the front by test." in lines


def test_disagreeing_splits_name_both_choices():
    """Test says the adapter is no better than LoRA and the full model is worse than the adapter."""
    lines = choice_changes(table([30.0, 30.0, 29.0]), OBJ)
    assert "The best bleu by validation is c (full), by test a (lora): the choice changes." in lines
    assert any(line.startswith("The knee by validation is b (adapter), by test ") and "the choice changes" in line
               for line in lines)
    assert "On test, b, c are dominated by another scored trial: off the front by test." in lines


def test_section_lists_trials_by_test_score_with_the_interval():
    text = held_out_section(table([30.0, 35.0, 29.0]), OBJ, seconds=12.3)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "trial_id" not in line and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["b", "a", "c"]  # d was never scored
    assert "35.00 ± 1.40" in text and "Test scoring took 12.3 s for 3 trial(s)" in text
    assert "Validation minus test BLEU" in text


def test_no_test_scores_no_section():
    assert held_out_section(table([None, None, None]).drop(columns=["test_bleu"]), OBJ) == ""
    assert held_out_objectives(OBJ, ["bleu", "storage_mb"]) is None
    assert held_out_objectives({"bleu": "max", "storage_mb": "min"}, ["test_bleu"]) == {"test_bleu": "max", "storage_mb": "min"}
