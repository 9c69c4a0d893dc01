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
    df = pd.DataFrame({"trial_id": ["big", "small"], "status": "completed", "bleu": [25.0, 25.0],
                       "storage_mb": [100.0, 10.0]})
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
    assert Front(df).knee()["trial_id"] == "elbow"
    with pytest.raises(DataError, match="<= 0"):  # log needs positive values
        Front(df).knee(log_objectives=["storage_mb"])
    # Storage spanning decades: linear normalisation squeezes 1..1000 MB together near 0,
    # so "mid" looks like the knee; on a log10 scale (as plotted) it is "elbow":
    # normalised (x, y) elbow = (0.25, 0.5) -> 0.25/sqrt2; mid = (0.75, 0.05) -> 0.2/sqrt2.
    pos = df.assign(storage_mb=[1.0, 10.0, 1000.0, 10000.0], bleu=[10.0, 20.0, 29.0, 30.0])
    assert Front(pos).knee(log_objectives=["storage_mb"])["trial_id"] == "elbow"
    assert Front(pos).knee()["trial_id"] == "mid"


def test_knee_of_small_fronts_prefers_the_cheaper_member():
    df = pd.DataFrame({"trial_id": ["a", "b"], "status": "completed", "bleu": [10.0, 20.0],
                       "storage_mb": [1.0, 100.0]})
    assert Front(df).knee()["trial_id"] == "a"
    assert Front(df.iloc[[1]]).knee()["trial_id"] == "b"
    three = df.assign(latency=[1.0, 2.0])
    with pytest.raises(ConfigError, match="two objectives"):
        Front(three, {"bleu": "max", "storage_mb": "min", "latency": "min"}).knee()


def test_hypervolume_and_compare_use_one_common_reference():
    a = _trials()
    # Search B found one model better in both objectives than A's lora16, and is otherwise A.
    b = pd.concat([a, pd.DataFrame({"trial_id": ["better"], "status": ["completed"], "method": ["lora"],
                                    "bleu": [29.5], "storage_mb": [10.0]})], ignore_index=True)
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
