"""Plots of a search: the trade-off, the parameters behind it, and how training went.

Each plot is two steps, as in optuna's ``visualization/_pareto_front.py``: a ``*_data``
function computes everything the picture shows (which points, which front, which trials
were left out and why, which axes are logarithmic, which ticks and labels) as plain data the
tests check, and a ``draw_*`` function only turns that data into a matplotlib figure. Figures
are built on ``matplotlib.figure.Figure`` with the Agg canvas directly, never through
``pyplot``: no global backend switch, no GUI, safe in a headless Ray driver and in threads.

Readability rules, the same in every plot: a parameter searched on a log scale is drawn on a
log axis (the caller names them from the search space; without that, learning rates and
positive axes spanning a factor of :data:`LOG_RATIO` are), storage is always on a log axis
(as the knee measures it, :mod:`raymt.analysis.knee`), axes carry labelled ticks at round
values, and every trial can be found again by its short id, printed next to its point or line
(all of them up to :data:`LABEL_ALL_UP_TO` trials, the front's members beyond that).
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from raymt.analysis.front import Front
from raymt.analysis.knee import LOG_SCALE_OBJECTIVES
from raymt.analysis.pareto import DEFAULT_OBJECTIVES, pareto_front, pareto_mask, validate_objectives
from raymt.analysis.results import hyperparameter_columns
from raymt.errors import ConfigError, RaymtError
from raymt.io import atomic_savefig
from raymt.results.files import HISTORY_PLOT, PARALLEL_PLOT, PARETO_PLOT

__all__ = [
    "HistoryPlotData",
    "KneeMark",
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
    "short_id",
    "write_plots",
]

PLOTTED_STATUSES = ("completed", "early_stopped")
#: Where a parameter that does not apply to a trial (NaN) is drawn on its axis: just below
#: the axis, labelled "n/a", so a LoRA rank axis still shows the full-fine-tuning trials.
NA_POSITION = -0.1
#: Without the search space's word, a positive numeric axis whose max/min reaches this ratio is
#: drawn on a log scale: storage (0.1 MB..2 GB) needs it, LoRA ranks (4..16) do not.
LOG_RATIO = 30.0
#: Without the search space's word, these parameters are drawn on a log axis: learning rates
#: are searched log-uniformly by convention (every shipped search_spaces/*.yaml does).
LOG_BY_NAME = ("train.lr", "lr", "learning_rate")
#: Up to this many trials in a plot, every point / line is labelled with its short trial id;
#: beyond it, only the front's members are (more labels would hide the data).
LABEL_ALL_UP_TO = 20
#: A whole-number axis with at most this many distinct values (a ``choices`` parameter such as
#: a LoRA rank) gets one tick per value instead of round numbers.
DISTINCT_TICKS = 6


def method_colours(methods: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """A stable colour per method (sorted names over the tab10 palette)."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {m: palette(i % 10) for i, m in enumerate(sorted(set(map(str, methods))))}


def short_id(trial_id) -> str:
    """The id printed on plots: Tune's 8-character ids as they are, longer ones cut to 8."""
    text = str(trial_id)
    return text if len(text) <= 10 else text[:8]


def _methods(df: pd.DataFrame) -> pd.Series:
    if "method" in df.columns:
        return df["method"].astype(object).where(df["method"].notna(), "?").astype(str)
    return pd.Series("?", index=df.index)


def _ids(df: pd.DataFrame) -> list[str]:
    return [str(t) for t in (df["trial_id"] if "trial_id" in df.columns else df.index)]


def _tick_label(value: float) -> str:
    return f"{value:.3g}"


def round_ticks(lo: float, hi: float, *, log: bool) -> list[float]:
    """Round values to label an axis from ``lo`` to ``hi`` (1-2-5 steps on a log axis).

    The exact ends are added where no round value lies within a tenth of the axis of them,
    so the reader sees the range that was searched.
    """
    from matplotlib.ticker import LogLocator, MaxNLocator

    if not hi > lo:
        return [lo]
    decades = math.log10(hi / lo) if log else 0.0
    if log:
        subs = (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
        candidates = LogLocator(base=10, subs=subs).tick_values(lo, hi)
        if decades > 6:  # keep about six labels
            step = math.ceil(decades / 6)
            candidates = [t for t in candidates if round(math.log10(t)) % step == 0]
    else:
        candidates = MaxNLocator(nbins=5).tick_values(lo, hi)
    to_pos = (lambda v: (math.log10(v) - math.log10(lo)) / decades) if log else (lambda v: (v - lo) / (hi - lo))
    inside = sorted(float(t) for t in candidates if -1e-9 <= to_pos(float(t)) <= 1 + 1e-9)
    ticks = list(inside)
    if not inside or to_pos(inside[0]) > 0.1:
        ticks.insert(0, lo)
    if not inside or to_pos(inside[-1]) < 0.9:
        ticks.append(hi)
    return ticks


def _log_axis(axis, lo: float, hi: float) -> None:
    """Round, labelled ticks on a matplotlib log axis (its default labels only decades)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    axis.set_major_locator(FixedLocator(round_ticks(lo, hi, log=True)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_label(v)))


def _spread(values: Sequence[float], gap: float) -> np.ndarray:
    """Label positions near ``values`` at least ``gap`` apart, in the same order, so labels of
    lines ending close together do not print over each other."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    out = values.copy()
    for prev, cur in zip(order[:-1], order[1:]):
        out[cur] = max(values[cur], out[prev] + gap)
    if len(values):  # centre the block again on the lines it labels
        out -= (out - values).mean() / 2
    return out


# ---------------------------------------------------------------------------- pareto
class KneeMark(NamedTuple):
    trial_id: str
    x: float
    y: float
    found: bool  # False: the front has no knee; the mark is the member chosen instead
    why: str  # the sentence of raymt.analysis.knee


class ParetoPlotData(NamedTuple):
    x: str
    y: str
    log_x: bool
    points: pd.DataFrame  # trial_id, method, status, x, y, on_front, label ("" = not labelled)
    front_x: np.ndarray  # front in drawing order (ascending x)
    front_y: np.ndarray
    drawstyle: str  # matplotlib drawstyle of the step line
    omitted: dict[str, int]  # reason -> number of trials not drawn
    methods: list[str]
    knee: KneeMark | None  # None when the objectives are not exactly (x, y) or the front is empty


def pareto_plot_data(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    x: str = "storage_mb",
    y: str = "bleu",
    log_x: bool = True,
) -> ParetoPlotData:
    """Points and front for ``y`` vs ``x``, the knee, and which points carry their trial id.

    Completed and early-stopped trials are drawn (the latter marked apart); failed and
    running trials have no final objectives and are counted in ``omitted``. The step line
    is the 2-D front of (``x``, ``y``) over completed trials: the best ``y`` reachable
    within each ``x`` budget, so it steps *after* each point when ``x`` is minimised. The
    knee is ``Front(df, objectives).knee()``: the trial ``raymt export --knee`` exports.
    """
    objectives = validate_objectives(objectives, df)
    df = df.reset_index(drop=True)  # positional alignment below; callers' indexes may repeat
    for axis in (x, y):
        if axis not in objectives:
            raise ConfigError(f"{axis!r} is not an objective", where="pareto_plot_data", fix=f"plot two of {list(objectives)}")
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
    ids = _ids(sub)
    label_all = len(sub) <= LABEL_ALL_UP_TO
    points = pd.DataFrame(
        {
            "trial_id": ids,
            "method": _methods(sub).to_numpy(),
            "status": status[keep].to_numpy(),
            "x": xs[keep].to_numpy(dtype=float),
            "y": ys[keep].to_numpy(dtype=float),
            "on_front": on_front,
            "label": [short_id(t) if label_all or f else "" for t, f in zip(ids, on_front)],
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
        knee=_knee_mark(df, objectives, x, y),
    )


def _knee_mark(df: pd.DataFrame, objectives: Mapping[str, str], x: str, y: str) -> KneeMark | None:
    if set(objectives) != {x, y}:
        return None
    try:
        front = Front(df, objectives)
        if front.members.empty:
            return None
        knee = front.knee()
    except RaymtError:  # no status column, storage <= 0: the plot still draws, without a knee
        return None
    return KneeMark(knee.trial_id, float(knee[x]), float(knee[y]), knee.found, knee.why)


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def draw_pareto(data: ParetoPlotData, *, title: str | None = None):
    """The figure for :func:`pareto_plot_data`."""
    fig = _new_figure(8, 5.5)
    ax = fig.add_subplot()
    colours = method_colours(data.methods)
    pts = data.points
    for method in data.methods:
        for status, marker, filled in (("completed", "o", True), ("early_stopped", "x", False)):
            sel = pts[(pts["method"] == method) & (pts["status"] == status)]
            if sel.empty:
                continue
            label = method if status == "completed" else f"{method} (early-stopped)"
            ax.scatter(
                sel["x"], sel["y"], marker=marker, s=36 if filled else 30, color=colours[method], alpha=0.85 if filled else 0.6, label=label, zorder=3
            )
    if len(data.front_x):
        ax.plot(data.front_x, data.front_y, drawstyle=data.drawstyle, color="black", lw=1.2, label="Pareto front", zorder=2)
        ax.scatter(data.front_x, data.front_y, s=90, facecolors="none", edgecolors="black", zorder=4)
    if data.knee is not None:
        text = "knee" if data.knee.found else "no knee: best " + data.y
        # under the trial's own dot (its method's colour stays visible), larger than it
        ax.scatter(
            [data.knee.x],
            [data.knee.y],
            marker="*",
            s=520,
            facecolor="gold",
            edgecolor="black",
            zorder=2.5,
            label=f"{text} ({short_id(data.knee.trial_id)})",
        )
    labelled = pts.loc[pts["label"] != ""]
    if len(labelled):
        tx = np.log10(pts["x"]) if data.log_x else pts["x"]
        span = float(tx.max() - tx.min()) or 1.0
        for row, t in zip(labelled.itertuples(), (tx[labelled.index] - tx.min()) / span):
            right = t > 0.85  # near the right edge: the label goes to the left of its point
            ax.annotate(
                row.label,
                (row.x, row.y),
                xytext=(-5 if right else 5, 4),
                textcoords="offset points",
                fontsize=7,
                ha="right" if right else "left",
                color="black" if row.on_front else "dimgrey",
                zorder=6,
            )
    if data.log_x:
        ax.set_xscale("log")
        if len(pts):
            _log_axis(ax.xaxis, float(pts["x"].min()), float(pts["x"].max()))
    ax.set_xlabel(f"{data.x}" + (" (log scale)" if data.log_x else ""))
    ax.set_ylabel(data.y)
    omitted = ", ".join(f"{n} {why}" for why, n in data.omitted.items())
    ax.set_title(title or f"{data.y} vs {data.x}: labels = trial ids" + (f"  (not drawn: {omitted})" if omitted else ""), fontsize=10)
    ax.margins(x=0.08, y=0.06)  # room for the labels of the extreme points
    ax.grid(True, which="major", alpha=0.3)
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
    on_front: np.ndarray  # one bool per trial: drawn bold
    labels: list[str]  # short id printed at the line's right end ("" = none)


def _is_log(name: str, vals: np.ndarray, log_params: Collection[str] | None) -> bool:
    finite = vals[np.isfinite(vals)]
    if len(finite) == 0 or finite.min() <= 0:
        return False
    if name in LOG_SCALE_OBJECTIVES:
        return True
    if log_params is not None:
        return name in log_params
    return name in LOG_BY_NAME or finite.max() / finite.min() >= LOG_RATIO


def _numeric_axis(name: str, col: pd.Series, log_params: Collection[str] | None = None) -> tuple[ParallelAxis, np.ndarray]:
    vals = col.to_numpy(dtype=float, na_value=np.nan)
    finite = vals[np.isfinite(vals)]
    lo, hi = float(finite.min()), float(finite.max())
    log = _is_log(name, vals, log_params)
    t = np.log10(vals) if log else vals
    tlo, thi = (np.log10(lo), np.log10(hi)) if log else (lo, hi)
    norm = (t - tlo) / (thi - tlo) if thi > tlo else np.where(np.isfinite(t), 0.5, np.nan)
    if not hi > lo:
        return ParallelAxis(name, "log" if log else "linear", [(0.5, _tick_label(lo))]), norm
    distinct = np.unique(finite)
    choices = len(distinct) <= DISTINCT_TICKS and bool(np.all(distinct == np.round(distinct)))
    tick_values = list(distinct) if choices else round_ticks(lo, hi, log=log)
    to_pos = (lambda v: (math.log10(v) - tlo) / (thi - tlo)) if log else (lambda v: (v - tlo) / (thi - tlo))
    ticks = [(float(to_pos(v)), _tick_label(v)) for v in tick_values]
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
    log_params: Collection[str] | None = None,
) -> ParallelPlotData:
    """One polyline per trial over its hyperparameters then its objectives.

    ``params`` defaults to every hyperparameter column of the table (see
    ``results.hyperparameter_columns``); axes holding only NaN are dropped. ``log_params``
    names the parameters searched on a log scale (from the search space); ``None`` guesses
    (learning rates, and positive axes spanning a factor of ``LOG_RATIO``). Storage is always
    log-scaled. A NaN (a parameter the trial's method does not have) sits at ``NA_POSITION``.
    Colour is the first objective; front members are drawn bold. Only ``statuses`` trials are
    drawn: an early-stopped trial's BLEU would mislead the colour.
    """
    objectives = validate_objectives(objectives, df)
    if "status" in df.columns:
        df = df.loc[df["status"].isin(list(statuses)).to_numpy()]
    df = df.reset_index(drop=True)
    names = list(params) if params is not None else [c for c in hyperparameter_columns(df) if c not in objectives]
    missing_cols = [c for c in names if c not in df.columns]
    if missing_cols:
        raise ConfigError(
            f"parameter column(s) {missing_cols} not in the trials table", where="parallel_plot_data(params=)", fix="use columns of the table"
        )
    axes: list[ParallelAxis] = []
    columns: list[np.ndarray] = []
    for name in [*names, *objectives]:
        col = df[name]
        if col.isna().all():
            continue
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            axis, norm = _categorical_axis(name, col)
        else:
            axis, norm = _numeric_axis(name, col, log_params)
        axes.append(axis)
        columns.append(norm)
    values = np.column_stack(columns) if columns else np.empty((len(df), 0))
    missing = ~np.isfinite(values)
    values = np.where(missing, NA_POSITION, values)
    first = next(iter(objectives))
    on_front = pareto_mask(df, objectives, statuses=None).to_numpy() if len(df) else np.zeros(0, dtype=bool)
    ids = _ids(df)
    label_all = len(df) <= LABEL_ALL_UP_TO
    return ParallelPlotData(
        axes=axes,
        values=values,
        missing=missing,
        colour=pd.to_numeric(df[first], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
        colour_label=first,
        trial_ids=ids,
        on_front=on_front,
        labels=[short_id(t) if label_all or f else "" for t, f in zip(ids, on_front)],
    )


def draw_parallel(data: ParallelPlotData):
    """The figure for :func:`parallel_plot_data`."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    n_axes = len(data.axes)
    fig = _new_figure(max(7.0, 1.6 * n_axes + 2.5), 5.2)
    ax = fig.add_subplot()
    xs = np.arange(n_axes)
    colour = data.colour
    finite = colour[np.isfinite(colour)]
    norm = Normalize(vmin=finite.min(), vmax=finite.max()) if len(finite) else Normalize(0, 1)
    cmap = colormaps["viridis"]
    for row, c, bold in zip(data.values, colour, data.on_front):
        ax.plot(
            xs,
            row,
            color=cmap(norm(c)) if np.isfinite(c) else "grey",
            alpha=0.9 if bold else 0.45,
            lw=2.2 if bold else 1.0,
            zorder=3 if bold else 2,
            marker="o",
            markersize=3,
        )
    for i, axis in enumerate(data.axes):
        ax.axvline(i, color="black", lw=0.8, zorder=1)
        for pos, label in axis.ticks:
            ax.plot([i - 0.03, i], [pos, pos], color="black", lw=0.8, zorder=1)
            ax.text(
                i - 0.05,
                pos,
                label,
                fontsize=7,
                va="center",
                ha="right",
                zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 0.4},
            )
        if data.missing[:, i].any():
            ax.text(i - 0.05, NA_POSITION, "n/a", fontsize=7, va="center", ha="right", color="grey")
    labelled = [k for k, text in enumerate(data.labels) if text]
    if labelled and n_axes:
        ends = _spread(data.values[labelled, -1], 0.045)
        for k, y in zip(labelled, ends):
            ax.annotate(
                data.labels[k],
                (n_axes - 1, data.values[k, -1]),
                (n_axes - 1 + 0.12, y),
                fontsize=7,
                va="center",
                fontweight="bold" if data.on_front[k] else "normal",
                arrowprops={"arrowstyle": "-", "color": "lightgrey", "lw": 0.6},
            )
    ax.set_xticks(xs, [a.name + (" (log)" if a.kind == "log" else "") for a in data.axes], rotation=20, ha="right")
    ax.set_yticks([])
    ax.set_ylim(NA_POSITION - 0.08, 1.08)
    ax.set_xlim(-0.7, max(n_axes - 0.4, 0.5) + (0.45 if labelled else 0))
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=data.colour_label)
    handles = [Line2D([], [], color="black", lw=2.2, label="Pareto front"), Line2D([], [], color="black", lw=1.0, alpha=0.45, label="other trials")]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 1.12), ncols=2, frameon=False)
    ax.set_title(f"Hyperparameters and objectives ({len(data.values)} completed trials; labels = trial ids)", fontsize=10, pad=18)
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


def history_plot_data(history_df: pd.DataFrame, trials_df: pd.DataFrame | None = None, *, metric: str = "bleu") -> HistoryPlotData:
    """One line per trial: ``metric`` by epoch (the last evaluation of each epoch).

    Method and status come from ``trials_df`` when given, so early-stopped trials can be
    drawn dashed: their curves end early by design, not by failure.
    """
    if metric not in history_df.columns:
        raise ConfigError(
            f"{metric!r} is not a column of the history table",
            where="history_plot_data(metric=)",
            fix=f"use one of: {', '.join(map(str, history_df.columns))}",
        )
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
            HistoryLine(str(trial_id), method, status, rows["epoch"].to_numpy(dtype=float), pd.to_numeric(rows[metric]).to_numpy(dtype=float))
        )
    return HistoryPlotData(metric, lines, sorted({line.method for line in lines}))


def draw_history(data: HistoryPlotData):
    """The figure for :func:`history_plot_data`: one panel per method, one colour per trial,
    each line labelled with its trial id at its last epoch (dashed = early-stopped)."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    methods = data.methods or ["?"]
    ncols = min(len(methods), 3)
    nrows = math.ceil(len(methods) / ncols)
    fig = _new_figure(4.3 * ncols + 0.6, 3.8 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    values = np.concatenate([line.values for line in data.lines]) if data.lines else np.zeros(1)
    gap = 0.045 * (float(np.nanmax(values) - np.nanmin(values)) or 1.0)
    last_epoch = max((float(line.epochs.max()) for line in data.lines), default=1.0)
    for ax, method in zip(axes, methods):
        lines = [line for line in data.lines if line.method == method]
        palette = colormaps["tab10" if len(lines) <= 10 else "tab20"]
        ends: dict[float, list[tuple[float, str, tuple]]] = {}
        for k, line in enumerate(lines):
            colour = palette(k % palette.N)
            early = line.status == "early_stopped"
            ax.plot(line.epochs, line.values, color=colour, lw=1.5, linestyle="--" if early else "-", marker="o", markersize=3)
            if early:  # where the scheduler stopped it
                ax.plot(line.epochs[-1:], line.values[-1:], color=colour, marker="x", markersize=8, linestyle="none")
            ends.setdefault(float(line.epochs[-1]), []).append((float(line.values[-1]), short_id(line.trial_id), colour))
        for epoch, group in ends.items():
            for (_, label, colour), y in zip(group, _spread([g[0] for g in group], gap)):
                ax.text(
                    epoch + 0.08,
                    y,
                    label,
                    fontsize=7,
                    color=colour,
                    va="center",
                    zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.3},
                )
        ax.set_title(f"{method} ({len(lines)} trial{'s' if len(lines) != 1 else ''})", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.8, last_epoch + 0.7)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(methods) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(data.metric)
    if any(line.status == "early_stopped" for line in data.lines):
        axes[0].legend(
            handles=[
                Line2D([], [], color="grey", label="completed"),
                Line2D([], [], color="grey", linestyle="--", marker="x", label="early-stopped"),
            ],
            fontsize=7,
            loc="lower right",
        )
    fig.suptitle(f"{data.metric} over epochs ({len(data.lines)} trials; one panel per method, one colour per trial, labels = trial ids)", fontsize=10)
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
    *,
    log_params: Collection[str] | None = None,
) -> dict[str, Path]:
    """Write pareto.png, parallel.png and (with history) bleu_over_epochs.png; name -> path.

    ``log_params``: the parameters the search space samples on a log scale (see
    :func:`parallel_plot_data`). A plot with nothing to show (no plottable trial, a
    one-objective search) is skipped rather than drawn empty.
    """
    folder = Path(results_dir)
    objectives = validate_objectives(objectives, trials_df)
    written: dict[str, Path] = {}
    pair = plot_axes(objectives)
    if pair is not None:
        x, y = pair
        data = pareto_plot_data(trials_df, objectives, x=x, y=y, log_x=(x in LOG_SCALE_OBJECTIVES))
        if len(data.points):
            written["pareto"] = atomic_savefig(draw_pareto(data), folder / PARETO_PLOT, dpi=120)
    pdata = parallel_plot_data(trials_df, objectives, log_params=log_params)
    if len(pdata.values) and pdata.axes:
        written["parallel"] = atomic_savefig(draw_parallel(pdata), folder / PARALLEL_PLOT, dpi=120)
    if history_df is not None and len(history_df) and "bleu" in history_df.columns:
        hdata = history_plot_data(history_df, trials_df, metric="bleu")
        if hdata.lines:
            written["bleu_over_epochs"] = atomic_savefig(draw_history(hdata), folder / HISTORY_PLOT, dpi=120)
    return written
