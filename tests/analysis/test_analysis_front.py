"""Front: choosing a model under limits, the knee, comparing searches, storage for K tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raymt.analysis.front import Front
from raymt.errors import ConfigError, DataError


def _trials():
    return pd.DataFrame(
        {
            "trial_id": ["full", "lora16", "lora4", "ia3", "dominated", "es", "failed"],
            "status": ["completed"] * 5 + ["early_stopped", "failed"],
            "method": ["full", "lora", "lora", "ia3", "lora", "prefix", "adapter"],
            "bleu": [30.0, 29.0, 27.0, 20.0, 26.0, 29.5, np.nan],
            "storage_mb": [2000.0, 20.0, 5.0, 0.5, 30.0, 0.1, np.nan],
        }
    )


def test_members_exclude_dominated_early_stopped_and_failed():
    front = Front(_trials())
    assert list(front.members["trial_id"]) == ["ia3", "lora4", "lora16", "full"]
    assert len(front) == 4 and len(front.eligible) == 5


def test_select_best_bleu_within_limits():
    front = Front(_trials())
    assert front.select()["trial_id"] == "full"
    assert front.select(max_storage_mb=100)["trial_id"] == "lora16"
    assert front.select(max_storage_mb=5)["trial_id"] == "lora4"  # the limit is inclusive
    assert front.select(max_storage_mb=10, min_bleu=25)["trial_id"] == "lora4"
    with pytest.raises(ConfigError) as err:
        front.select(max_storage_mb=1, min_bleu=25)
    message = str(err.value)
    assert "no trial on the front" in message and "0.5 MB" in message and "30.00" in message


def test_select_breaks_bleu_ties_towards_less_storage():
    df = pd.DataFrame({"trial_id": ["big", "small"], "status": "completed", "bleu": [25.0, 25.0], "storage_mb": [100.0, 10.0]})
    assert Front(df).select()["trial_id"] == "small"


def test_select_on_empty_front_says_why():
    df = _trials().assign(status="failed")
    with pytest.raises(DataError, match="front is empty"):
        Front(df).select()


def test_knee_is_the_point_farthest_from_the_extreme_line():
    # A convex front with an obvious elbow at (90 BLEU, 10 MB).
    df = pd.DataFrame(
        {
            "trial_id": ["tiny", "elbow", "mid", "huge"],
            "status": "completed",
            "bleu": [0.0, 90.0, 95.0, 100.0],
            "storage_mb": [0.0, 10.0, 50.0, 100.0],
        }
    )
    knee = Front(df).knee(log_objectives=())
    assert knee.found and knee["trial_id"] == "elbow" and knee.trial_id == "elbow"
    assert knee.distance == pytest.approx((1 - 0.1 - 0.1) / np.sqrt(2))
    assert knee.why.startswith("knee: trial elbow") and "Das 1999" in knee.why
    with pytest.raises(DataError, match="<= 0.*log_objectives=\\(\\)"):  # storage is log-scaled by default
        Front(df).knee()
    # Storage spanning decades: linear normalisation squeezes 1..1000 MB together near 0,
    # so "mid" looks like the knee; on a log10 scale (the default, as plotted) it is "elbow":
    # normalised (x, y) elbow = (0.25, 0.5) -> 0.25/sqrt2; mid = (0.75, 0.05) -> 0.2/sqrt2.
    pos = df.assign(storage_mb=[1.0, 10.0, 1000.0, 10000.0], bleu=[10.0, 20.0, 29.0, 30.0])
    assert Front(pos).knee()["trial_id"] == "elbow"
    assert "storage_mb on a log10 scale" in Front(pos).knee().why
    assert Front(pos).knee(log_objectives=["storage_mb"])["trial_id"] == "elbow"
    assert Front(pos).knee(log_objectives=())["trial_id"] == "mid"


def _no_knee_front():
    """The front of issue 19: on the log storage scale every middle member lies beyond the line
    joining the extremes (BLEU per log-MB grows along it), so the old rule picked the cheapest,
    weakest model at distance 0."""
    return pd.DataFrame(
        {
            "trial_id": ["8e6257b1", "b", "c", "83884cdd"],
            "status": "completed",
            "method": ["lora", "lora", "adapter", "full"],
            "bleu": [25.7, 27.0, 30.0, 36.7],
            "storage_mb": [0.029, 0.1, 0.5, 2.8],
        }
    )


def test_a_front_bent_the_other_way_has_no_knee_and_says_what_it_chose_instead():
    knee = Front(_no_knee_front()).knee()
    assert not knee.found
    assert knee.trial_id == "83884cdd"  # the highest BLEU, not the cheapest end point
    assert knee.why.startswith("no knee: every middle member lies on or beyond the line")
    assert "chosen instead: trial 83884cdd" in knee.why and "best bleu" in knee.why
    # a member exactly on the line is no bend either: (0.5, 0.5) in normalised units
    on_line = pd.DataFrame({"trial_id": ["lo", "on", "hi"], "status": "completed", "bleu": [10.0, 20.0, 30.0], "storage_mb": [1.0, 10.0, 100.0]})
    assert not Front(on_line).knee().found and Front(on_line).knee().trial_id == "hi"
    # ... and one a hair on the ideal side is
    assert Front(on_line.assign(bleu=[10.0, 20.001, 30.0])).knee().trial_id == "on"


def test_small_fronts_have_no_knee_and_choose_the_best_bleu():
    df = pd.DataFrame({"trial_id": ["a", "b"], "status": "completed", "bleu": [10.0, 20.0], "storage_mb": [1.0, 100.0]})
    knee = Front(df).knee()
    assert not knee.found and knee.trial_id == "b" and "the front has 2 members" in knee.why
    one = Front(df.iloc[[0]]).knee()
    assert not one.found and one.trial_id == "a" and "1 member," in one.why
    three = df.assign(latency=[1.0, 2.0])
    with pytest.raises(ConfigError, match="two objectives"):
        Front(three, {"bleu": "max", "storage_mb": "min", "latency": "min"}).knee()


def test_front_takes_optuna_directions():
    import optuna

    df = _trials()
    expected = list(Front(df).members["trial_id"])
    assert list(Front(df, {"bleu": "maximize", "storage_mb": "minimize"}).members["trial_id"]) == expected
    front = Front(df, {"bleu": optuna.study.StudyDirection.MAXIMIZE, "storage_mb": optuna.study.StudyDirection.MINIMIZE})
    assert front.objectives == {"bleu": "max", "storage_mb": "min"}
    assert list(front.members["trial_id"]) == expected
    with pytest.raises(ConfigError, match="maximise"):
        Front(df, {"bleu": "maximise", "storage_mb": "min"})


def test_select_refuses_a_storage_limit_that_is_not_a_size():
    front = Front(_trials())
    for bad in (0, -1.0, float("nan"), "big"):
        with pytest.raises(ConfigError, match="max_storage_mb"):
            front.select(max_storage_mb=bad)


def test_hypervolume_and_compare_use_one_common_reference():
    a = _trials()
    # Search B found one model better in both objectives than A's lora16, and is otherwise A.
    b = pd.concat(
        [a, pd.DataFrame({"trial_id": ["better"], "status": ["completed"], "method": ["lora"], "bleu": [29.5], "storage_mb": [10.0]})],
        ignore_index=True,
    )
    # Search C is far worse, which moves the union's nadir and thus the shared reference.
    c = a.assign(bleu=a["bleu"] - 15)
    fa, fb, fc = Front(a), Front(b), Front(c)
    table = fa.compare(fb, names=("A", "B"))
    assert list(table["front"]) == ["A", "B"]
    assert table["hypervolume"].iloc[1] > table["hypervolume"].iloc[0]
    assert table["hv_ratio"].iloc[0] == pytest.approx(1.0)
    ref = table.attrs["reference"]
    assert table.loc[0, "hypervolume"] == pytest.approx(fa.hypervolume(ref))
    # The reference comes from the union: comparing with C lowers the BLEU reference, so A's
    # volume differs from A's own-default volume, but is identical for both rows' yardstick.
    with_c = fa.compare(fc)
    assert with_c.attrs["reference"]["bleu"] < ref["bleu"]
    assert with_c.loc[0, "hypervolume"] == pytest.approx(fa.hypervolume(with_c.attrs["reference"]))
    assert with_c.loc[0, "hypervolume"] > with_c.loc[1, "hypervolume"]
    explicit = fa.compare(fb, reference={"bleu": 0.0, "storage_mb": 3000.0})
    assert explicit["ref_storage_mb"].tolist() == [3000.0, 3000.0]
    with pytest.raises(ConfigError, match="different objectives"):
        fa.compare(Front(a, {"bleu": "max"}))


def test_storage_for_tasks_shares_one_base_except_for_full_fine_tuning():
    front = Front(_trials())
    table = front.storage_for_tasks(10, base_mb=2000.0).set_index("trial_id")
    assert table.loc["lora4", "needed_mb"] == pytest.approx(2000 + 10 * 5)
    assert table.loc["ia3", "needed_mb"] == pytest.approx(2000 + 10 * 0.5)
    assert table.loc["full", "needed_mb"] == pytest.approx(10 * 2000)  # no base to share
    assert table.loc["full", "saving"] == pytest.approx(1.0)
    assert table.loc["lora4", "k_full_models_mb"] == pytest.approx(20000)
    assert table.loc["lora4", "saving"] == pytest.approx(20000 / 2050)
    one = front.storage_for_tasks(1, base_mb=2000.0).set_index("trial_id")
    assert one.loc["lora4", "saving"] < 1  # one task: an adapter next to a base costs more
    with pytest.raises(ConfigError):
        front.storage_for_tasks(0, 2000.0)
    with pytest.raises(ConfigError):
        front.storage_for_tasks(3, -1.0)
