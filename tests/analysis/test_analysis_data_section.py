"""The report's Data section: tokenizer fit, the base, and directions that did not learn."""

import pandas as pd

from raymt.analysis.data_section import base_level_rows, data_section

FIT = {
    "en_XX-cs_CZ": [
        {"side": "source", "lang": "en_XX", "unk_rate": 0.0, "tokens_per_word": 1.3, "sentences": 900},
        {"side": "target", "lang": "cs_CZ", "unk_rate": 0.0004, "tokens_per_word": 1.6, "sentences": 900},
    ],
    "cs_CZ-en_XX": [
        {"side": "source", "lang": "cs_CZ", "unk_rate": 0.0, "tokens_per_word": 1.6, "sentences": 300},
        {"side": "target", "lang": "en_XX", "unk_rate": 0.0, "tokens_per_word": 1.3, "sentences": 300},
    ],
}


def trials(forward, backward):
    return pd.DataFrame(
        {"trial_id": ["a", "b", "c"], "status": ["completed", "completed", "failed"], "bleu_en_XX-cs_CZ": forward, "bleu_cs_CZ-en_XX": backward}
    )


def test_a_direction_at_the_base_level_is_flagged():
    scores = {"en_XX-cs_CZ": {"bleu": 0.4}, "cs_CZ-en_XX": {"bleu": 2.0}}
    rows = base_level_rows(scores, trials([9.0, 12.5, 30.0], [2.3, 1.1, 40.0]), FIT)
    assert [(r["direction"], r["learned"], r["trials_above"]) for r in rows] == [("en_XX-cs_CZ", True, 2), ("cs_CZ-en_XX", False, 0)]
    assert rows[0]["best_bleu"] == 12.5  # the failed trial's number is not a result
    text = data_section(
        {
            "sizes": {"en_XX-cs_CZ train": 900},
            "tokenizer_fit": FIT,
            "base_scores": scores,
            "base": {"name": "tiny-multilingual", "build_s": 512.0, "validation": {"en-de": {"bleu": 30.1, "chrf": 55.0, "sentences": 500}}},
        },
        trials([9.0, 12.5, 30.0], [2.3, 1.1, 40.0]),
    )
    assert "**NO: stays at the untouched base's level**" in text and "cs_CZ-en_XX did not learn" in text
    assert "0.04%" in text and "1.60" in text  # unknown rate and tokens/word per side
    assert "base's own validation BLEU en-de: 30.10" in text and "512.0 s" in text


def test_single_pair_uses_the_bleu_column_and_names_the_direction():
    fit = {"": FIT["en_XX-cs_CZ"]}
    rows = base_level_rows({"": {"bleu": 0.5}}, pd.DataFrame({"status": ["completed"], "bleu": [14.0]}), fit)
    assert rows[0]["direction"] == "en_XX-cs_CZ" and rows[0]["learned"]
    assert "Warning" not in data_section(
        {"base_scores": {"": {"bleu": 0.5}}, "tokenizer_fit": fit}, pd.DataFrame({"status": ["completed"], "bleu": [14.0]})
    )


def test_each_direction_is_compared_with_the_base_on_test_by_the_trial_validation_ranks_first():
    """Test scores of the front: per direction, the scored trial that validation ranks first
    (never the best on test) against the untouched base's test score, beyond both intervals."""
    scores = {
        "en_XX-cs_CZ": {"bleu": 0.4, "test_bleu": 0.5, "test_bleu_ci95": 0.2},
        "cs_CZ-en_XX": {"bleu": 2.0, "test_bleu": 2.0, "test_bleu_ci95": 0.5},
    }
    table = trials([9.0, 12.5, 30.0], [5.3, 4.1, 40.0])
    # a and b scored on test; c failed
    table["test_bleu_en_XX-cs_CZ"] = [20.0, 8.0, None]
    table["test_bleu_ci95_en_XX-cs_CZ"] = [1.0, 1.0, None]
    table["test_bleu_cs_CZ-en_XX"] = [6.0, 2.9, None]
    table["test_bleu_ci95_cs_CZ-en_XX"] = [1.0, 1.0, None]
    rows = base_level_rows(scores, table, FIT)
    fwd, back = rows
    assert fwd["learned"] and back["learned"]  # on validation both rise 1 BLEU above the base
    # cs->en: a is first by validation (5.3 > 4.1), so a is chosen: 6.0 - 1.0 > 2.0 + 0.5; b's 2.9 is not
    assert (back["test_trial"], back["test_bleu"], back["learned_on_test"], back["test_above"], back["test_scored"]) == ("a", 6.0, True, 1, 2)
    # en->cs: b is first by validation (12.5); its 8.0 +- 1.0 clears 0.5 +- 0.2, and so does a's 20.0
    assert (fwd["test_trial"], fwd["test_bleu"], fwd["test_ci95"], fwd["learned_on_test"], fwd["test_above"]) == ("b", 8.0, 1.0, True, 2)
    text = data_section({"base_scores": scores, "tokenizer_fit": FIT}, table)
    assert "| untouched base test BLEU | test BLEU (trial) | scored trials above base on test | learned on test |" in text
    assert "| en_XX-cs_CZ | 0.40 | 12.50 | +12.10 | 2/2 | yes | 0.50 ± 0.20 | 8.00 ± 1.00 (b) | 2/2 | yes |" in text
    assert "Warning" not in text

    # within the intervals on test: flagged, although validation says it learned
    table.loc[0, "test_bleu_cs_CZ-en_XX"] = 3.4  # 3.4 - 1.0 = 2.4 <= 2.0 + 0.5
    back = base_level_rows(scores, table, FIT)[1]
    assert back["learned"] and back["learned_on_test"] is False and back["test_above"] == 0
    text = data_section({"base_scores": scores, "tokenizer_fit": FIT}, table)
    assert "**NO: not above the untouched base on test**" in text
    assert "on test, cs_CZ-en_XX is not above the untouched base beyond both intervals" in text
    assert "what validation shows did not hold" in text  # it learned on validation, not on test


def test_without_test_scores_the_table_keeps_validation_only():
    scores = {"": {"bleu": 0.5, "test_bleu": 0.6, "test_bleu_ci95": 0.1}}
    done = pd.DataFrame({"trial_id": ["a"], "status": ["completed"], "bleu": [14.0]})
    row = base_level_rows(scores, done, {"": FIT["en_XX-cs_CZ"]})[0]
    assert row["learned_on_test"] is None and row["base_test_bleu"] == 0.6
    assert "n/a (not scored on test)" in data_section({"base_scores": scores}, done)
    assert "test BLEU" not in data_section({"base_scores": {"": {"bleu": 0.5}}}, done)
