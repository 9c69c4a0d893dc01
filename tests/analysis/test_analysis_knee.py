"""One knee everywhere: Front.knee(), the report, the terminal summary, pareto.png and
`raymt export --knee` name the same trial, on a front with a knee and on one without."""

from __future__ import annotations

import pandas as pd
import pytest

from raymt.analysis.front import Front
from raymt.analysis.knee import find_knee, normalised_losses
from raymt.analysis.plots import pareto_plot_data
from raymt.analysis.report import build_report, front_summary
from raymt.export.bundle import choose_trial

WITH_KNEE = pd.DataFrame(
    {
        "trial_id": ["a", "elbow", "c", "d"],
        "status": "completed",
        "method": "lora",
        "bleu": [10.0, 20.0, 29.0, 30.0],
        "storage_mb": [1.0, 10.0, 1000.0, 10000.0],
    }
)
WITHOUT_KNEE = pd.DataFrame(
    {
        "trial_id": ["cheap", "b", "c", "best"],
        "status": "completed",
        "method": "lora",
        "bleu": [25.7, 27.0, 30.0, 36.7],
        "storage_mb": [0.029, 0.1, 0.5, 2.8],
    }
)


@pytest.mark.parametrize("df, expected, found", [(WITH_KNEE, "elbow", True), (WITHOUT_KNEE, "best", False)], ids=["knee", "no-knee"])
def test_every_place_names_the_same_knee(df, expected, found):
    knee = Front(df).knee()
    assert (knee.trial_id, knee.found) == (expected, found)
    said = []
    assert choose_trial(df, knee=True, log=said.append)["trial_id"] == expected
    assert said == [knee.why]
    plotted = pareto_plot_data(df).knee
    assert (plotted.trial_id, plotted.found) == (expected, found)
    sentence = knee.why[:1].upper() + knee.why[1:]  # the report and the terminal start it with a capital
    assert sentence in build_report(df, significance=False)
    assert front_summary(df).splitlines()[-1].startswith(sentence)
    # Optuna's spelling of the directions picks the same member
    assert Front(df, {"bleu": "maximize", "storage_mb": "minimize"}).knee().trial_id == expected


def test_normalisation_puts_the_extremes_at_the_corners():
    losses = normalised_losses(WITH_KNEE, {"bleu": "max", "storage_mb": "min"}, ("storage_mb",))
    assert losses[0].tolist() == [1.0, 0.0] and losses[-1].tolist() == [0.0, 1.0]
    assert losses[1].tolist() == pytest.approx([0.5, 0.25])  # elbow: 20 BLEU, 10 MB = a quarter of 4 decades


def test_duplicates_of_the_best_member_go_to_table_order():
    df = pd.concat([WITHOUT_KNEE, WITHOUT_KNEE.iloc[[3]].assign(trial_id="best-copy")], ignore_index=True)
    assert find_knee(Front(df).members, {"bleu": "max", "storage_mb": "min"}).trial_id == "best"
