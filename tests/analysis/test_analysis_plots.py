"""Plot data (what is drawn and what is left out), and that the files are written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raymt.analysis.plots import (
    NA_POSITION,
    history_plot_data,
    parallel_plot_data,
    pareto_plot_data,
    write_plots,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _trials():
    return pd.DataFrame(
        {
            "trial_id": ["full", "lora8", "lora16", "es", "failed", "running", "dominated"],
            "status": ["completed", "completed", "completed", "early_stopped", "failed", "running", "completed"],
            "method": ["full", "lora", "lora", "ia3", "adapter", "lora", "lora"],
            "lr": [1e-5, 1e-4, 3e-4, 1e-3, 2e-4, 1e-4, 5e-4],
            "lora_r": [np.nan, 8.0, 16.0, np.nan, np.nan, 4.0, 32.0],
            "adapter_size": [np.nan] * 7,
            "bleu": [30.0, 25.0, 28.0, 29.0, np.nan, np.nan, 20.0],
            "storage_mb": [2000.0, 2.0, 4.0, 0.2, np.nan, np.nan, 8.0],
        }
    )


def test_pareto_data_draws_completed_and_early_stopped_and_counts_the_rest():
    data = pareto_plot_data(_trials())
    pts = data.points.set_index("trial_id")
    assert set(pts.index) == {"full", "lora8", "lora16", "es", "dominated"}
    assert data.omitted == {"failed": 1, "running": 1}
    assert pts.loc["es", "status"] == "early_stopped"
    assert not pts.loc["es", "on_front"]  # a truncated run never makes the front line
    assert list(data.front_x) == [2.0, 4.0, 2000.0] and list(data.front_y) == [25.0, 28.0, 30.0]
    assert data.drawstyle == "steps-post" and data.log_x
    assert data.methods == ["full", "ia3", "lora"]


def test_pareto_data_omits_non_positive_storage_on_a_log_axis():
    df = _trials()
    df.loc[df.trial_id == "lora8", "storage_mb"] = 0.0
    data = pareto_plot_data(df)
    assert "lora8" not in set(data.points["trial_id"])
    assert data.omitted["storage_mb <= 0 (log axis)"] == 1
    assert "lora8" in set(pareto_plot_data(df, log_x=False).points["trial_id"])


def test_parallel_data_is_nan_safe_and_log_scales_wide_axes():
    data = parallel_plot_data(_trials())
    names = [a.name for a in data.axes]
    assert names == ["method", "lr", "lora_r", "bleu", "storage_mb"]  # all-NaN adapter_size dropped
    assert data.trial_ids == ["full", "lora8", "lora16", "dominated"]  # completed only
    kinds = {a.name: a.kind for a in data.axes}
    assert kinds["lr"] == "log" and kinds["storage_mb"] == "log" and kinds["lora_r"] == "linear"
    assert kinds["method"] == "categorical"
    col = names.index("lora_r")
    assert data.missing[0, col] and data.values[0, col] == NA_POSITION  # full has no LoRA rank
    finite = data.values[~data.missing]
    assert finite.min() >= 0 and finite.max() <= 1
    lr = data.values[:, names.index("lr")]
    assert lr[0] == pytest.approx(0.0) and lr[3] == pytest.approx(1.0)  # 1e-5 .. 5e-4, log
    assert dict((label, pos) for pos, label in data.axes[0].ticks) == {"full": 0.0, "lora": 1.0}
    assert list(data.colour) == [30.0, 25.0, 28.0, 20.0]


def test_parallel_data_handles_a_text_parameter_missing_for_other_methods():
    """LoRA target modules are text, NaN for full/adapter trials (a real search's table)."""
    df = _trials()
    df["lora_target_modules"] = [np.nan, "q_proj+v_proj", "all-linear", np.nan, np.nan, "all-linear", "all-linear"]
    data = parallel_plot_data(df)
    axis = next(a for a in data.axes if a.name == "lora_target_modules")
    assert axis.kind == "categorical" and {label for _, label in axis.ticks} == {"all-linear", "q_proj+v_proj"}
    col = [a.name for a in data.axes].index("lora_target_modules")
    assert data.missing[0, col] and not data.missing[1, col]


def test_history_data_uses_last_eval_per_epoch_and_trial_status():
    history = pd.DataFrame(
        {
            "trial_id": ["a", "a", "a", "b", "b"],
            "epoch": [1, 1, 2, 1, 2],
            "step": [5, 10, 20, 10, 20],
            "bleu": [5.0, 6.0, 9.0, 4.0, np.nan],
        }
    )
    trials = pd.DataFrame({"trial_id": ["a", "b"], "status": ["completed", "early_stopped"], "method": ["lora", "full"]})
    data = history_plot_data(history, trials)
    a, b = data.lines
    assert list(a.epochs) == [1, 2] and list(a.values) == [6.0, 9.0]
    assert (b.status, b.method, list(b.values)) == ("early_stopped", "full", [4.0])
    assert data.methods == ["full", "lora"]


def test_write_plots_writes_pngs(tmp_path):
    history = pd.DataFrame({"trial_id": ["full", "full"], "epoch": [1, 2], "bleu": [20.0, 30.0]})
    written = write_plots(tmp_path, _trials(), history_df=history)
    assert set(written) == {"pareto", "parallel", "bleu_over_epochs"}
    for path in written.values():
        assert path.read_bytes()[:8] == PNG
    # Nothing plottable: no empty figures.
    empty = _trials().assign(status="failed")
    assert write_plots(tmp_path / "empty", empty) == {}


def test_pareto_data_marks_the_knee_of_the_report_and_labels_trials():
    from raymt.analysis.front import Front

    df = _trials()
    data = pareto_plot_data(df)
    knee = Front(df).knee()
    assert data.knee is not None and data.knee.trial_id == knee.trial_id and data.knee.found == knee.found
    assert (data.knee.x, data.knee.y) == (knee["storage_mb"], knee["bleu"])
    # few trials: every drawn point carries its id; many: only the front's members do
    assert list(data.points["label"]) == list(data.points["trial_id"])
    many = pd.concat([df] + [df.assign(trial_id=df["trial_id"] + f"-{i}") for i in range(4)], ignore_index=True)
    labelled = pareto_plot_data(many).points
    assert (labelled["label"] != "").equals(labelled["on_front"])
    # a third objective: no knee is defined, none is drawn
    three = df.assign(latency=1.0)
    assert pareto_plot_data(three, {"bleu": "max", "storage_mb": "min", "latency": "min"}).knee is None


def test_parallel_axes_follow_the_space_log_scale_and_carry_round_ticks():
    df = _trials().assign(lr=[3e-4, 5e-4, 1e-3, 1e-3, 2e-4, 1e-4, 2.5e-3])  # a factor 8: not "wide"
    guessed = parallel_plot_data(df)
    assert {a.name: a.kind for a in guessed.axes}["lr"] == "log"  # learning rates are log by name
    told = parallel_plot_data(df, log_params=[])
    assert {a.name: a.kind for a in told.axes}["lr"] == "linear"  # the space says uniform
    told = parallel_plot_data(df, log_params=["lr"])
    lr = next(a for a in told.axes if a.name == "lr")
    labels = [label for _, label in lr.ticks]
    assert lr.kind == "log" and "0.001" in labels and len(labels) >= 3  # round values inside the range
    positions = [pos for pos, _ in lr.ticks]
    assert positions == sorted(positions) and min(positions) >= 0 and max(positions) <= 1
    lora_r = next(a for a in told.axes if a.name == "lora_r")
    assert [label for _, label in lora_r.ticks] == ["8", "16", "32"]  # a choices parameter: one tick per value
    assert next(a for a in told.axes if a.name == "storage_mb").kind == "log"  # storage: always log
    # front members are bold and every line is labelled with its trial id (few trials)
    assert list(told.on_front) == [True, True, True, False] and told.labels == told.trial_ids


def test_round_ticks_cover_the_range_with_round_values():
    from raymt.analysis.plots import round_ticks

    ticks = round_ticks(3e-4, 3e-3, log=True)
    assert ticks[0] == 3e-4 and ticks[-1] == 3e-3 and 1e-3 in ticks and 5e-4 in ticks
    assert round_ticks(0.0, 0.2, log=False) == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16, 0.2])
    assert round_ticks(0.013, 0.19, log=False) == pytest.approx([0.013, 0.04, 0.08, 0.12, 0.16, 0.19])
    assert round_ticks(5.0, 5.0, log=False) == [5.0]


def test_history_is_drawn_one_panel_per_method_one_colour_per_trial():
    from raymt.analysis.plots import draw_history

    history = pd.DataFrame({"trial_id": ["a", "a", "b", "b", "c"], "epoch": [1, 2, 1, 2, 1], "bleu": [5.0, 9.0, 4.0, 6.0, 3.0]})
    trials = pd.DataFrame({"trial_id": ["a", "b", "c"], "status": ["completed", "completed", "early_stopped"], "method": ["lora", "lora", "full"]})
    fig = draw_history(history_plot_data(history, trials))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["full (1 trial)", "lora (2 trials)"]
    lora = panels[1]
    colours = {line.get_color() for line in lora.get_lines()}
    assert len(colours) == 2  # one per trial, not one per method
    assert {t.get_text() for t in lora.texts} == {"a", "b"}  # each line labelled with its trial id
    assert panels[0].get_lines()[0].get_linestyle() == "--"  # early-stopped
