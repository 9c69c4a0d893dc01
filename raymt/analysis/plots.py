"""Plots of a search: the trade-off, the parameters behind it, and how training went.

Each plot is two steps, as in optuna's ``visualization/_pareto_front.py``: a ``*_data``
function computes everything the picture shows (which points, which front, which trials
were left out and why) as plain data the tests check, and a ``draw_*`` function only turns
that data into a matplotlib figure. Figures are built on ``matplotlib.figure.Figure`` with
the Agg canvas directly, never through ``pyplot``: no global backend switch, no GUI, safe
in a headless Ray driver and in threads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from raymt.analysis.pareto import DEFAULT_OBJECTIVES, pareto_front, validate_objectives
from raymt.analysis.results import hyperparameter_columns
from raymt.errors import ConfigError
from raymt.io import atomic_savefig
from raymt.results.files import HISTORY_PLOT, PARALLEL_PLOT, PARETO_PLOT

__all__ = [
    "HistoryPlotData",
    "NA_POSITION",
    "ParallelPlotData",
    "ParetoPlotData",
    "draw_history",
    "draw_parallel",
    "draw_pareto",
    "history_plot_data",
    "method_colours",
    "parallel_plot_data",
    "pareto_plot_data",
    "write_plots",
]

PLOTTED_STATUSES = ("completed", "early_stopped")
#: Where a parameter that does not apply to a trial (NaN) is drawn on its axis: just below
#: the axis, labelled "n/a", so a LoRA rank axis still shows the full-fine-tuning trials.
NA_POSITION = -0.1
#: A positive numeric axis whose max/min reaches this ratio is drawn on a log scale: learning
#: rates (1e-5..5e-4) and storage (0.1 MB..2 GB) need it, LoRA ranks (4..16) do not.
LOG_RATIO = 30.0


def method_colours(methods: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """A stable colour per method (sorted names over the tab10 palette)."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {m: palette(i % 10) for i, m in enumerate(sorted(set(map(str, methods))))}


def _methods(df: pd.DataFrame) -> pd.Series:
    if "method" in df.columns:
        return df["method"].astype(object).where(df["method"].notna(), "?").astype(str)
    return pd.Series("?", index=df.index)


# ---------------------------------------------------------------------------- pareto
class ParetoPlotData(NamedTuple):
    x: str
    y: str
    log_x: bool
    points: pd.DataFrame  # trial_id, method, status, x, y, on_front
    front_x: np.ndarray  # front in drawing order (ascending x)
    front_y: np.ndarray
    drawstyle: str  # matplotlib drawstyle of the step line
    omitted: dict[str, int]  # reason -> number of trials not drawn
    methods: list[str]


def pareto_plot_data(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    x: str = "storage_mb",
    y: str = "bleu",
    log_x: bool = True,
) -> ParetoPlotData:
    """Points and front for ``y`` vs ``x``.

    Completed and early-stopped trials are drawn (the latter marked apart); failed and
    running trials have no final objectives and are counted in ``omitted``. The step line
    is the 2-D front of (``x``, ``y``) over completed trials: the best ``y`` reachable
    within each ``x`` budget, so it steps *after* each point when ``x`` is minimised.
    """
    objectives = validate_objectives(objectives, df)
    df = df.reset_index(drop=True)  # positional alignment below; callers' indexes may repeat
    for axis in (x, y):
        if axis not in objectives:
            raise ConfigError(f"{axis!r} is not an objective", where="pareto_plot_data",
                              fix=f"plot two of {list(objectives)}")
    status = df["status"].astype(str) if "status" in df.columns else pd.Series("completed", index=df.index)
    omitted: dict[str, int] = {}
    for st in sorted(set(status) - set(PLOTTED_STATUSES)):
        omitted[st] = int((status == st).sum())
    keep = status.isin(PLOTTED_STATUSES)
    xs = pd.to_numeric(df[x], errors="coerce")
    ys = pd.to_numeric(df[y], errors="coerce")
    finite = np.isfinite(xs.to_numpy(dtype=float, na_value=np.nan)) & np.isfinite(ys.to_numpy(dtype=float, na_value=np.nan))
    if (keep & ~finite).any():
        omitted["no objective value"] = int((keep & ~finite).sum())
    keep &= finite
    if log_x:
        nonpos = keep & (xs <= 0)
        if nonpos.any():
            omitted[f"{x} <= 0 (log axis)"] = int(nonpos.sum())
        keep &= ~nonpos
    sub = df.loc[keep.to_numpy()]
    pair = {y: objectives[y], x: objectives[x]}
    front_rows = pareto_front(sub.assign(status=status[keep]), pair) if len(sub) else sub
    on_front = sub.index.isin(front_rows.index)
    points = pd.DataFrame(
        {
            "trial_id": sub["trial_id"].to_numpy() if "trial_id" in sub.columns else sub.index.to_numpy(),
            "method": _methods(sub).to_numpy(),
            "status": status[keep].to_numpy(),
            "x": xs[keep].to_numpy(dtype=float),
            "y": ys[keep].to_numpy(dtype=float),
            "on_front": on_front,
        }
    )
    front = points.loc[points["on_front"]].sort_values(["x", "y"], kind="mergesort")
    return ParetoPlotData(
        x=x,
        y=y,
        log_x=log_x,
        points=points,
        front_x=front["x"].to_numpy(),
        front_y=front["y"].to_numpy(),
        drawstyle="steps-post" if objectives[x] == "min" else "steps-pre",
        omitted=omitted,
        methods=sorted(set(points["method"])),
    )


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def draw_pareto(data: ParetoPlotData, *, title: str | None = None):
    """The figure for :func:`pareto_plot_data`."""
    fig = _new_figure(7.5, 5)
    ax = fig.add_subplot()
    colours = method_colours(data.methods)
    pts = data.points
    for method in data.methods:
        for status, marker, filled in (("completed", "o", True), ("early_stopped", "x", False)):
            sel = pts[(pts["method"] == method) & (pts["status"] == status)]
            if sel.empty:
                continue
            label = method if status == "completed" else f"{method} (early-stopped)"
            ax.scatter(sel["x"], sel["y"], marker=marker, s=36 if filled else 30, color=colours[method],
                       alpha=0.85 if filled else 0.6, label=label, zorder=3)
    if len(data.front_x):
        ax.plot(data.front_x, data.front_y, drawstyle=data.drawstyle, color="black", lw=1.2,
                label="Pareto front", zorder=2)
        ax.scatter(data.front_x, data.front_y, s=90, facecolors="none", edgecolors="black", zorder=4)
    if data.log_x:
        ax.set_xscale("log")
    ax.set_xlabel(f"{data.x}" + (" (log scale)" if data.log_x else ""))
    ax.set_ylabel(data.y)
    omitted = ", ".join(f"{n} {why}" for why, n in data.omitted.items())
    ax.set_title(title or f"{data.y} vs {data.x}" + (f"  (not drawn: {omitted})" if omitted else ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if len(pts):
        ax.legend(fontsize=8, loc="best")
    return fig


# ---------------------------------------------------------------------------- parallel
class ParallelAxis(NamedTuple):
    name: str
    kind: str  # "linear" | "log" | "categorical"
    ticks: list[tuple[float, str]]  # (position in [0, 1], label)


class ParallelPlotData(NamedTuple):
    axes: list[ParallelAxis]
    values: np.ndarray  # trials x axes, in [0, 1]; NA_POSITION where not applicable
    missing: np.ndarray  # trials x axes, True where the value was NaN
    colour: np.ndarray  # one value per trial (the first objective)
    colour_label: str
    trial_ids: list[str]


def _numeric_axis(name: str, col: pd.Series) -> tuple[ParallelAxis, np.ndarray]:
    vals = col.to_numpy(dtype=float, na_value=np.nan)
    finite = vals[np.isfinite(vals)]
    lo, hi = float(finite.min()), float(finite.max())
    log = lo > 0 and hi / lo >= LOG_RATIO
    t = np.log10(vals) if log else vals
    tlo, thi = (np.log10(lo), np.log10(hi)) if log else (lo, hi)
    norm = (t - tlo) / (thi - tlo) if thi > tlo else np.where(np.isfinite(t), 0.5, np.nan)
    ticks = [(0.0, f"{lo:.3g}"), (1.0, f"{hi:.3g}")] if hi > lo else [(0.5, f"{lo:.3g}")]
    return ParallelAxis(name, "log" if log else "linear", ticks), norm


def _categorical_axis(name: str, col: pd.Series) -> tuple[ParallelAxis, np.ndarray]:
    present = col.notna().to_numpy()
    # a plain list: pandas 3 turns None back into NaN inside an object Series
    labels = [str(v) if ok else None for v, ok in zip(col.tolist(), present)]
    cats = sorted({v for v in labels if v is not None})
    pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    norm = np.array([pos[v] if ok else np.nan for v, ok in zip(labels, present)], dtype=float)
    return ParallelAxis(name, "categorical", [(pos[c], c) for c in cats]), norm


def parallel_plot_data(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    params: Sequence[str] | None = None,
    statuses: Sequence[str] = ("completed",),
) -> ParallelPlotData:
    """One polyline per trial over its hyperparameters then its objectives.

    ``params`` defaults to every hyperparameter column of the table (see
    ``results.hyperparameter_columns``); axes holding only NaN are dropped. Positive numeric
    axes spanning a factor of ``LOG_RATIO`` or more (learning rate, storage) are log-scaled. A NaN (a parameter
    the trial's method does not have) sits at ``NA_POSITION``. Colour is the first objective.
    Only ``statuses`` trials are drawn: an early-stopped trial's BLEU would mislead the colour.
    """
    objectives = validate_objectives(objectives, df)
    if "status" in df.columns:
        df = df.loc[df["status"].isin(list(statuses)).to_numpy()]
    df = df.reset_index(drop=True)
    names = list(params) if params is not None else [c for c in hyperparameter_columns(df) if c not in objectives]
    missing_cols = [c for c in names if c not in df.columns]
    if missing_cols:
        raise ConfigError(f"parameter column(s) {missing_cols} not in the trials table",
                          where="parallel_plot_data(params=)", fix="use columns of the table")
    axes: list[ParallelAxis] = []
    columns: list[np.ndarray] = []
    for name in [*names, *objectives]:
        col = df[name]
        if col.isna().all():
            continue
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            axis, norm = _categorical_axis(name, col)
        else:
            axis, norm = _numeric_axis(name, col)
        axes.append(axis)
        columns.append(norm)
    values = np.column_stack(columns) if columns else np.empty((len(df), 0))
    missing = ~np.isfinite(values)
    values = np.where(missing, NA_POSITION, values)
    first = next(iter(objectives))
    return ParallelPlotData(
        axes=axes,
        values=values,
        missing=missing,
        colour=pd.to_numeric(df[first], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
        colour_label=first,
        trial_ids=[str(t) for t in (df["trial_id"] if "trial_id" in df.columns else df.index)],
    )


def draw_parallel(data: ParallelPlotData):
    """The figure for :func:`parallel_plot_data`."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    n_axes = len(data.axes)
    fig = _new_figure(max(6.0, 1.3 * n_axes + 1.5), 4.8)
    ax = fig.add_subplot()
    xs = np.arange(n_axes)
    colour = data.colour
    finite = colour[np.isfinite(colour)]
    norm = Normalize(vmin=finite.min(), vmax=finite.max()) if len(finite) else Normalize(0, 1)
    cmap = colormaps["viridis"]
    for row, c in zip(data.values, colour):
        ax.plot(xs, row, color=cmap(norm(c)) if np.isfinite(c) else "grey", alpha=0.6, lw=1)
    for i, axis in enumerate(data.axes):
        ax.axvline(i, color="black", lw=0.8)
        for pos, label in axis.ticks:
            ax.text(i + 0.03, pos, label, fontsize=7, va="center")
        if data.missing[:, i].any():
            ax.text(i + 0.03, NA_POSITION, "n/a", fontsize=7, va="center", color="grey")
    ax.set_xticks(xs, [a.name + (" (log)" if a.kind == "log" else "") for a in data.axes], rotation=30, ha="right")
    ax.set_yticks([])
    ax.set_ylim(NA_POSITION - 0.08, 1.08)
    ax.set_xlim(-0.3, max(n_axes - 0.5, 0.5))
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=data.colour_label)
    ax.set_title(f"Hyperparameters and objectives ({len(data.values)} trials)", fontsize=10)
    return fig


# ---------------------------------------------------------------------------- history
class HistoryLine(NamedTuple):
    trial_id: str
    method: str
    status: str
    epochs: np.ndarray
    values: np.ndarray


class HistoryPlotData(NamedTuple):
    metric: str
    lines: list[HistoryLine]
    methods: list[str]


def history_plot_data(
    history_df: pd.DataFrame, trials_df: pd.DataFrame | None = None, *, metric: str = "bleu"
) -> HistoryPlotData:
    """One line per trial: ``metric`` by epoch (the last evaluation of each epoch).

    Method and status come from ``trials_df`` when given, so early-stopped trials can be
    drawn dashed: their curves end early by design, not by failure.
    """
    if metric not in history_df.columns:
        raise ConfigError(f"{metric!r} is not a column of the history table", where="history_plot_data(metric=)",
                          fix=f"use one of: {', '.join(map(str, history_df.columns))}")
    info: dict[str, tuple[str, str]] = {}
    if trials_df is not None and "trial_id" in trials_df.columns:
        methods = _methods(trials_df)
        status = trials_df["status"].astype(str) if "status" in trials_df.columns else pd.Series("?", index=trials_df.index)
        info = {str(t): (m, s) for t, m, s in zip(trials_df["trial_id"], methods, status)}
    hist = history_df.loc[pd.to_numeric(history_df[metric], errors="coerce").notna()].copy()
    sort_cols = ["trial_id", "epoch"] + (["step"] if "step" in hist.columns else [])
    hist = hist.sort_values(sort_cols, kind="mergesort").drop_duplicates(["trial_id", "epoch"], keep="last")
    lines = []
    for trial_id, rows in hist.groupby("trial_id", sort=True):
        method, status = info.get(str(trial_id), ("?", "?"))
        lines.append(
            HistoryLine(str(trial_id), method, status, rows["epoch"].to_numpy(dtype=float),
                        pd.to_numeric(rows[metric]).to_numpy(dtype=float))
        )
    return HistoryPlotData(metric, lines, sorted({line.method for line in lines}))


def draw_history(data: HistoryPlotData):
    """The figure for :func:`history_plot_data`."""
    fig = _new_figure(7.5, 4.8)
    ax = fig.add_subplot()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    colours = method_colours(data.methods)
    for line in data.lines:
        ax.plot(line.epochs, line.values, color=colours[line.method], alpha=0.7, lw=1.2,
                linestyle="--" if line.status == "early_stopped" else "-", marker="." if len(line.epochs) < 30 else None)
    handles = [Line2D([], [], color=colours[m], label=m) for m in data.methods]
    if any(line.status == "early_stopped" for line in data.lines):
        handles.append(Line2D([], [], color="grey", linestyle="--", label="early-stopped"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(data.metric)
    ax.set_title(f"{data.metric} over epochs ({len(data.lines)} trials; dashed = early-stopped)", fontsize=10)
    ax.grid(True, alpha=0.3)
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="best")
    return fig


# ---------------------------------------------------------------------------- files
def plot_axes(objectives: Mapping[str, str]) -> tuple[str, str] | None:
    """(x, y) for the trade-off plot: BLEU vs storage when present, else the first two objectives."""
    names = list(objectives)
    if "bleu" in objectives and "storage_mb" in objectives:
        return "storage_mb", "bleu"
    if len(names) < 2:
        return None
    y = next((n for n in names if objectives[n] == "max"), names[0])
    x = next(n for n in names if n != y)
    return x, y


def write_plots(
    results_dir: str | os.PathLike[str],
    trials_df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    history_df: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write pareto.png, parallel.png and (with history) bleu_over_epochs.png; name -> path.

    A plot with nothing to show (no plottable trial, a one-objective search) is skipped
    rather than drawn empty.
    """
    folder = Path(results_dir)
    objectives = validate_objectives(objectives, trials_df)
    written: dict[str, Path] = {}
    pair = plot_axes(objectives)
    if pair is not None:
        x, y = pair
        data = pareto_plot_data(trials_df, objectives, x=x, y=y, log_x=(x == "storage_mb"))
        if len(data.points):
            written["pareto"] = atomic_savefig(draw_pareto(data), folder / PARETO_PLOT, dpi=120)
    pdata = parallel_plot_data(trials_df, objectives)
    if len(pdata.values) and pdata.axes:
        written["parallel"] = atomic_savefig(draw_parallel(pdata), folder / PARALLEL_PLOT, dpi=120)
    if history_df is not None and len(history_df) and "bleu" in history_df.columns:
        hdata = history_plot_data(history_df, trials_df, metric="bleu")
        if hdata.lines:
            written["bleu_over_epochs"] = atomic_savefig(draw_history(hdata), folder / HISTORY_PLOT, dpi=120)
    return written
