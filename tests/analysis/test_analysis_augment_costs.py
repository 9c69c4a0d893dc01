"""The shared-cost section of the report: the pool's cost stated once, with the trials that used it."""

import math

import pandas as pd

from raymt.analysis.augment_costs import augment_cost_section, trials_using

COST = {
    "model": "tiny",
    "sentences": 1000,
    "seconds": 42.0,
    "generate_s": 20.0,
    "startup_s": 22.0,
    "sentences_per_s": 50.0,
    "actors": 2,
    "device": "cpu",
    "cached": False,
    "reverse_model_s": 61.3,
}


def test_counts_only_trials_whose_ratio_was_above_zero():
    df = pd.DataFrame({"augment.back_translation.ratio": [0.0, 0.5, 0.25, math.nan], "method": ["lora"] * 4})
    assert trials_using(df, "back_translation") == 2
    assert trials_using(df, "word_dropout") is None  # not searched: every trial used the configured ratio


def test_section_states_cost_throughput_and_sharing_once():
    df = pd.DataFrame({"augment.back_translation.ratio": [0.0, 0.5, 0.5]})
    text = augment_cost_section({"back_translation": COST}, df)
    assert text.count("\n") == 0
    assert text.startswith("- back-translation pool: 42.0 s for 1000 sentences (50.0 sentences/s of generation on 2 actors, cpu")
    assert "61.3 s to build or load the reverse model" in text and text.endswith("shared by the 2 trials that used it")
    cached = augment_cost_section({"back_translation": {**COST, "cached": True}}, pd.DataFrame({"x": [1]}))
    assert "reused from the cache" in cached and cached.endswith("shared by every trial")
    assert augment_cost_section({}, df) == ""
