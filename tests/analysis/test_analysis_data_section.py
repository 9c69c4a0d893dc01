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
