"""``report.md``: what a search found, in one file a person reads top to bottom.

The report answers, in order: how many trials ran and how they ended; which trials are on
the front and which one is the knee; how good the front is as one number (hypervolume,
with the reference point stated so the number can be reproduced); the best trial of each
method; why trials failed; which BLEU was computed (sacrebleu signature); which front
members are really different (paired bootstrap); and what K tasks would cost on disk.
Sections other packages own (e.g. back-translation cost) come in through ``extra``.

Everything is computed from the trials table; :func:`build_report` returns the text (the
tests read it) and :func:`write_report` also draws the plots and writes the file atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raymt.analysis.front import COST, FULL_METHOD, QUALITY, Front
from raymt.analysis.knee import Knee
from raymt.analysis.pareto import DEFAULT_OBJECTIVES, DEFAULT_STATUSES, default_reference, validate_objectives
from raymt.analysis.results import STATUSES, hyperparameter_columns
from raymt.errors import RaymtError
from raymt.io import atomic_write_text
from raymt.metrics.per_pair import pair_metric, pairs_in
from raymt.results.columns import INIT_STAGE
from raymt.results.files import REPORT_FILE
from raymt.results.paths import relative_to

__all__ = ["REPORT_FILE", "build_report", "front_summary", "infer_base_mb", "knee_sentence", "markdown_table", "write_report"]

TASK_COUNTS = (1, 10, 100)
_ERROR_CHARS = 300


# ---------------------------------------------------------------------------- formatting
def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if float(value).is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.4g}"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # lists/arrays are not NA
        pass
    return str(value)


def _cell(value: Any) -> str:
    return _fmt(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(df: pd.DataFrame, formats: Mapping[str, str] | None = None) -> str:
    """A GitHub Markdown table (pipes and newlines in cells escaped); ``formats``: column -> format spec."""
    formats = dict(formats or {})
    header = "| " + " | ".join(_cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = []
    for values in df.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(df.columns, values):
            spec = formats.get(col)
            if spec and isinstance(value, (int, float, np.integer, np.floating)) and not pd.isna(value):
                cells.append(_cell(format(value, spec)))
            else:
                cells.append(_cell(value))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def _params_text(row: pd.Series, params: Sequence[str]) -> str:
    parts = []
    for name in params:
        if name == "method" or name not in row.index:
            continue
        text = _fmt(row[name])
        if text:
            parts.append(f"{name}={text}")
    return ", ".join(parts)


def _objectives_text(objectives: Mapping[str, str]) -> str:
    return ", ".join(f"{name} ({direction})" for name, direction in objectives.items())


def _formats(objectives: Mapping[str, str]) -> dict[str, str]:
    out = {name: ".4g" for name in objectives}
    out.update({"bleu": ".2f", "chrf": ".2f", "storage_mb": ".4g"})
    return out


# ---------------------------------------------------------------------------- sections
def _status_section(df: pd.DataFrame) -> str:
    counts = df["status"].astype(str).value_counts() if "status" in df.columns else pd.Series({"?": len(df)})
    order = [s for s in STATUSES if s in counts.index] + sorted(set(counts.index) - set(STATUSES))
    table = pd.DataFrame({"status": order, "trials": [int(counts[s]) for s in order]})
    table.loc[len(table)] = ["total", len(df)]
    if "method" in df.columns and "status" in df.columns and len(df):
        by_method = pd.crosstab(df["method"].astype(str), df["status"].astype(str))
        by_method = by_method.reindex(columns=[s for s in order if s in by_method.columns]).reset_index()
        return "## Trials by status\n\n" + markdown_table(table) + "\n\nBy method:\n\n" + markdown_table(by_method)
    return "## Trials by status\n\n" + markdown_table(table)


def _front_section(front: Front, objectives: Mapping[str, str], folder: Path | None = None) -> str:
    members = front.members
    n_eligible = len(front.eligible)
    title = f"## Pareto front ({len(members)} of {n_eligible} eligible trials)"
    rule = (
        f"Objectives: {_objectives_text(objectives)}. Eligible: status completed and a value for "
        "every objective; early-stopped trials are left out (their BLEU is that of a truncated run)."
    )
    if members.empty:
        return f"{title}\n\n{rule}\n\nNo eligible trial yet."
    params = hyperparameter_columns(members)
    cols = [c for c in ("trial_id", "method") if c in members.columns] + list(objectives)
    pair_bleu = [pair_metric("bleu", pair) for pair in pairs_in(members.columns)]
    cols += pair_bleu + [c for c in ("chrf", "epochs_done") if c in members.columns and c not in cols]
    if pair_bleu:
        rule += f" Multi-pair run: bleu is the unweighted mean of the {len(pair_bleu)} per-pair BLEU columns."
    table = members[cols].copy()
    table["hyperparameters"] = [_params_text(row, params) for _, row in members.iterrows()]
    if "artifact_path" in members.columns:  # relative to the results folder, which may be moved (raymt.results.paths)
        table["artifact_path"] = [relative_to(v, folder) if folder is not None else v for v in members["artifact_path"]]
    text = f"{title}\n\n{rule}\n\n{markdown_table(table, {**_formats(objectives), **dict.fromkeys(pair_bleu, '.2f')})}"
    if len(objectives) == 2:
        text += "\n\n" + _knee_line(front)
    return text


def _knee_line(front: Front) -> str:
    try:
        return knee_sentence(front.knee())
    except RaymtError as err:  # e.g. a storage of 0 MB has no logarithm: the rest of the report still stands
        return f"Knee: not computed ({err})."


def knee_sentence(knee: Knee) -> str:
    """The knee line of the report and the terminal: what was chosen, and why."""
    return knee.why[:1].upper() + knee.why[1:] + ". `raymt export --knee` exports this trial; pareto.png marks it with a star."


def _hypervolume_section(front: Front, df: pd.DataFrame, objectives: Mapping[str, str], statuses: Iterable[str] | None) -> str:
    if front.members.empty:
        return "## Hypervolume\n\nNot computed: no eligible trial."
    reference = default_reference(df, objectives, statuses=statuses)
    volume = front.hypervolume(reference)
    ref_text = ", ".join(f"{name} = {value:.6g}" for name, value in reference.items())
    return (
        "## Hypervolume\n\n"
        f"Hypervolume: **{volume:.6g}** with reference point ({ref_text}).\n\n"
        "Reference: the worst eligible value of each objective pushed out by 10% of its range "
        "(`raymt.analysis.pareto.default_reference`). Compare two searches only under one common "
        "reference point (`Front.compare`), never by these numbers from two reports."
    )


def _best_per_method_section(df: pd.DataFrame, objectives: Mapping[str, str]) -> str:
    if "method" not in df.columns:
        return ""
    first, direction = next(iter(objectives.items()))
    rows = []
    for method, group in df.groupby(df["method"].astype(str), sort=True):
        done = group
        if "status" in group.columns:
            done = group.loc[group["status"] == "completed"]
        done = done.loc[pd.to_numeric(done[first], errors="coerce").notna()]
        if done.empty:
            rows.append({"method": method, "trial_id": "", **{n: np.nan for n in objectives}, "note": f"no completed trial ({len(group)} tried)"})
            continue
        values = pd.to_numeric(done[first], errors="coerce").to_numpy(dtype=float)
        best = done.iloc[int(np.argmax(values) if direction == "max" else np.argmin(values))]
        rows.append(
            {"method": method, "trial_id": best.get("trial_id", best.name), **{n: best[n] for n in objectives}, "note": f"of {len(done)} completed"}
        )
    table = pd.DataFrame(rows)
    return f"## Best trial per method (by {first})\n\n" + markdown_table(table, _formats(objectives))


def _failures_section(df: pd.DataFrame) -> str:
    if "status" not in df.columns:
        return ""
    failed = df.loc[df["status"] == "failed"]
    if failed.empty:
        return "## Failures\n\nNone."
    errors = failed["error"] if "error" in failed.columns else pd.Series("", index=failed.index)

    def reason(value: Any) -> str:
        text = _fmt(value).strip()
        if not text:
            return "(no reason recorded)"
        first = text.splitlines()[0] if text.splitlines() else text
        return first if len(first) <= _ERROR_CHARS else first[: _ERROR_CHARS - 3] + "..."

    table = pd.DataFrame(
        {
            "trial_id": failed["trial_id"].to_numpy() if "trial_id" in failed.columns else failed.index.to_numpy(),
            "method": failed["method"].astype(str).to_numpy() if "method" in failed.columns else "",
            "reason": [reason(v) for v in errors],
        }
    )
    grouped = table["reason"].value_counts()
    summary = "; ".join(f"{n} x {r}" for r, n in grouped.head(5).items())
    return f"## Failures ({len(failed)})\n\nMost common: {summary}\n\n" + markdown_table(table)


def _signature_section(df: pd.DataFrame) -> str:
    if "sacrebleu_signature" not in df.columns:
        return "## BLEU signature\n\nNo `sacrebleu_signature` column: BLEU settings unknown."
    done = df.loc[df["status"] == "completed"] if "status" in df.columns else df
    signatures = sorted({str(s) for s in done["sacrebleu_signature"].dropna() if str(s).strip()})
    if not signatures:
        return "## BLEU signature\n\nNo completed trial recorded a sacrebleu signature."
    if len(signatures) == 1:
        return f"## BLEU signature\n\n`{signatures[0]}`"
    listed = "\n".join(f"- `{s}`" for s in signatures)
    return f"## BLEU signature\n\n**Warning: trials were scored with different BLEU settings; their scores are not comparable.**\n\n{listed}"


def _significance_section(
    df: pd.DataFrame, objectives: Mapping[str, str], front: Front, *, statuses: Iterable[str] | None, alpha: float, n_samples: int
) -> str:
    title = "## Significant front (paired bootstrap)"
    if front.members.empty:
        return f"{title}\n\nNot computed: the front is empty."
    if QUALITY not in objectives or COST not in objectives:
        return f"{title}\n\nNot computed: needs the objectives {QUALITY} and {COST}."
    from raymt.analysis.significance import significance_groups

    try:
        groups = significance_groups(df, objectives, alpha=alpha, n_samples=n_samples, statuses=statuses)
    except RaymtError as err:
        return f"{title}\n\nNot computed: {err}"
    cols = [c for c in ("trial_id", "method") if c in groups.columns]
    table = groups[[*cols, QUALITY, COST, "group", "representative", "compared_with", "p_value"]]
    reps = groups.loc[groups["representative"]]
    rep_ids = ", ".join(_fmt(t) for t in (reps["trial_id"] if "trial_id" in reps.columns else reps.index))
    return (
        f"{title}\n\n"
        f"Front members from smallest to largest; each is tested (sacrebleu paired bootstrap, "
        f"Koehn 2004, {n_samples} resamples) against the representative of the open group and "
        f"joins it when p >= {alpha}. One representative per group (the smallest) forms the "
        f"significant front: **{len(reps)} of {len(groups)} members** ({rep_ids}).\n\n"
        + markdown_table(table, {"bleu": ".2f", "storage_mb": ".4g", "p_value": ".3f"})
    )


def infer_base_mb(df: pd.DataFrame) -> tuple[float | None, str]:
    """Size of the base model in MB and how it was found (None when it cannot be told).

    Prefers the measured artefact of completed full fine-tuning trials (median); otherwise
    ``total_params`` at 4 bytes each (fp32) in MB of 10^6 bytes, which is stated as an estimate.
    """
    if {"method", COST}.issubset(df.columns):
        full = df.loc[df["method"].astype(str).eq(FULL_METHOD)]
        if "status" in full.columns:
            full = full.loc[full["status"] == "completed"]
        sizes = pd.to_numeric(full[COST], errors="coerce").dropna()
        if len(sizes):
            return float(sizes.median()), f"median storage of {len(sizes)} completed full fine-tuning trial(s)"
    if "total_params" in df.columns:
        params = pd.to_numeric(df["total_params"], errors="coerce").dropna()
        if len(params):
            return float(params.median()) * 4 / 1e6, "estimate: total_params x 4 bytes (fp32), MB = 10^6 bytes"
    return None, "no full fine-tuning trial and no total_params column"


def _mb(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _storage_section(front: Front, df: pd.DataFrame, base_mb: float | None, ks: Sequence[int], n_pairs: int = 1) -> str:
    title = "## Storage for K tasks"
    if front.members.empty or COST not in front.objectives:
        return f"{title}\n\nNot computed: " + ("the front is empty." if front.members.empty else f"needs {COST}.")
    how = "given"
    if base_mb is None:
        base_mb, how = infer_base_mb(df)
    if base_mb is None or not base_mb > 0:
        return f"{title}\n\nNot computed: the base model size is unknown ({how}); pass base_mb."
    tables = [front.storage_for_tasks(k, base_mb) for k in ks]
    out = tables[0][[c for c in ("trial_id", "method", "artifact_mb") if c in tables[0].columns]].copy()
    for k, table in zip(ks, tables):
        out[f"K={k}: MB (saving)"] = [f"{_mb(n)} ({s:.3g}x)" for n, s in zip(table["needed_mb"], table["saving"])]
    baseline = ", ".join(f"K={k}: {_mb(k * base_mb)} MB" for k in ks)
    joint = ""
    if n_pairs > 1:
        joint = (
            f" This run trained its {n_pairs} language pairs jointly: each artefact below already serves all "
            f"{n_pairs}, so as trained it needs the K=1 column (base + 1 artefact); the K={n_pairs} column is "
            f"what {n_pairs} separately fine-tuned single-pair artefacts of the same size would need."
        )
    return (
        f"{title}\n\n"
        f"One shared base model ({base_mb:.4g} MB; {how}) plus K artefacts, against K full models "
        f"({baseline}). Full fine-tuning shares nothing: it needs K x its artefact.{joint}\n\n" + markdown_table(out, {"artifact_mb": ".4g"})
    )


def _init_stage_section(df: pd.DataFrame, objectives: Mapping[str, str]) -> str:
    """The warm-start stage's cost, counted once per stage artefact (key), not once per
    trial: trials with the same method settings share one artefact (raymt.train.init_stage)."""
    if "init_key" not in df.columns:
        return ""
    keys = df["init_key"].fillna("").astype(str)
    used = df[keys != ""]
    if used.empty:
        return ""
    used = used.assign(**{c: used[c] if c in used.columns else "" for c in (INIT_STAGE, "method")})
    per_key = (
        used.groupby("init_key")
        .agg(
            stage=(INIT_STAGE, "first"),
            method=("method", "first"),
            trials=("trial_id", "size"),
            build_s=("init_build_s", "max"),
        )
        .reset_index()
    )
    per_key["init_key"] = per_key["init_key"].str[:12]
    total = float(per_key["build_s"].sum())
    lines = [
        "## Init stage (denoising warm start)",
        "",
        f"{len(per_key)} stage artefact(s) served {len(used)} trial(s); built once each, "
        f"{total:.1f} s in all (a trial that reused one only waited for the cache: init_wait_s).",
        "",
        markdown_table(per_key, {"build_s": ".1f"}),
    ]
    quality = next((m for m, d in objectives.items() if d == "max"), None)
    if INIT_STAGE in df.columns and quality in df.columns:
        done = df[df["status"] == "completed"] if "status" in df.columns else df
        if len(done):
            by_stage = done.groupby(done[INIT_STAGE].fillna("none"))[quality].agg(["size", "max", "median"]).reset_index()
            by_stage.columns = [INIT_STAGE, "completed", f"best {quality}", f"median {quality}"]
            lines += ["", markdown_table(by_stage, {f"best {quality}": ".2f", f"median {quality}": ".2f"})]
    return "\n".join(lines)


def _plots_section(plots: Mapping[str, Path | str]) -> str:
    if not plots:
        return ""
    captions = {
        "pareto": "BLEU vs storage (log x); circles = completed, x = early-stopped; black steps = front; "
        "star = knee (or the member chosen when there is none); labels = trial ids",
        "parallel": "Hyperparameters and objectives of completed trials (colour = BLEU; bold = front; "
        "log axes where the space samples on a log scale; n/a = not used by the method)",
        "bleu_over_epochs": "Dev BLEU per epoch: one panel per method, one colour per trial (dashed = early-stopped)",
    }
    lines = ["## Plots", ""]
    for name, path in plots.items():
        caption = captions.get(name, name)
        lines += [f"### {caption}", "", f"![{name}]({Path(path).name})", ""]
    return "\n".join(lines).rstrip()


# ---------------------------------------------------------------------------- terminal
def front_summary(
    trials_df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> str:
    """The lines a terminal shows after ``raymt search`` and ``raymt report``: how the trials
    ended, the front (its members, objectives and settings) and the knee, as report.md says."""
    if trials_df.empty:
        return "0 trials: nothing ran to the end"
    objectives = validate_objectives(objectives, trials_df)
    counts = trials_df["status"].astype(str).value_counts() if "status" in trials_df.columns else pd.Series(dtype=int)
    order = [st for st in STATUSES if st in counts.index] + sorted(set(counts.index) - set(STATUSES))
    lines = [f"{len(trials_df)} trials" + (": " + ", ".join(f"{int(counts[st])} {st}" for st in order) if order else "")]
    front = Front(trials_df, objectives, statuses=statuses)
    if front.members.empty:
        return "\n".join([*lines, "Pareto front: no eligible trial (completed, with a value for every objective)"])
    members = front.members
    cols = [c for c in ("trial_id", "method") if c in members.columns] + list(objectives)
    cols += [c for c in ("chrf",) if c in members.columns and c not in cols]
    table = members[cols].copy()
    for name, spec in _formats(objectives).items():
        if name in table.columns:
            table[name] = [format(v, spec) if pd.notna(v) else "" for v in pd.to_numeric(table[name], errors="coerce")]
    params = hyperparameter_columns(members)
    settings = [_params_text(row, params) for _, row in members.iterrows()]
    rows = table.to_string(index=False).splitlines()  # numbers right-aligned; settings left-aligned after them
    lines.append(f"Pareto front ({len(members)} of {len(front.eligible)} eligible trials; {_objectives_text(objectives)}):")
    lines += [f"{rows[0]}  settings", *(f"{row}  {text}".rstrip() for row, text in zip(rows[1:], settings))]
    if len(objectives) == 2:
        lines.append(_knee_line(front))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- entry points
def build_report(
    trials_df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    title: str = "raymt search report",
    plots: Mapping[str, Path | str] | None = None,
    extra: Mapping[str, str] | None = None,
    base_mb: float | None = None,
    significance: bool = True,
    alpha: float = 0.05,
    n_samples: int = 1000,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
    task_counts: Sequence[int] = TASK_COUNTS,
    folder: str | os.PathLike[str] | None = None,
) -> str:
    """The Markdown text of the report (no files touched); ``folder``: the results folder, which
    the paths it shows are relative to."""
    objectives = validate_objectives(objectives, trials_df)
    front = Front(trials_df, objectives, statuses=statuses)
    sections = [
        f"# {title}\n\nObjectives: {_objectives_text(objectives)}. {len(trials_df)} trials.",
        _status_section(trials_df),
        _front_section(front, objectives, Path(folder) if folder is not None else None),
        _hypervolume_section(front, trials_df, objectives, statuses),
        _best_per_method_section(trials_df, objectives),
        _failures_section(trials_df),
        _signature_section(trials_df),
    ]
    if significance:
        sections.append(_significance_section(trials_df, objectives, front, statuses=statuses, alpha=alpha, n_samples=n_samples))
    n_pairs = len(pairs_in(trials_df.columns))
    if n_pairs > 1:  # K follows the number of pairs of a multi-pair run (K=1: the joint artefact as trained)
        task_counts = sorted({1, n_pairs, *task_counts})
    sections.append(_storage_section(front, trials_df, base_mb, task_counts, n_pairs))
    sections.append(_init_stage_section(trials_df, objectives))
    sections.append(_plots_section(plots or {}))
    for section_title, body in (extra or {}).items():
        sections.append(f"## {section_title}\n\n{body.strip()}")
    return "\n\n".join(s for s in sections if s) + "\n"


def write_report(
    results_dir: str | os.PathLike[str],
    trials_df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    history_df: pd.DataFrame | None = None,
    extra: Mapping[str, str] | None = None,
    *,
    draw: bool = True,
    log_params: Collection[str] | None = None,
    **kwargs: Any,
) -> Path:
    """Draw the plots (``draw=True``) and write ``report.md`` into ``results_dir``; returns its path.

    ``extra`` maps a section title to Markdown other packages contribute; ``log_params``
    names the parameters the search space samples on a log scale (drawn on log axes);
    ``kwargs`` go to :func:`build_report` (``base_mb``, ``alpha``, ``n_samples``, ...).
    """
    from raymt.analysis.plots import write_plots

    folder = Path(results_dir)
    objectives = validate_objectives(objectives, trials_df)
    plots = write_plots(folder, trials_df, objectives, history_df, log_params=log_params) if draw else {}
    kwargs.setdefault("title", f"raymt search report: {folder.resolve().name}")
    text = build_report(trials_df, objectives, plots=plots, extra=extra, folder=folder, **kwargs)
    return atomic_write_text(folder / REPORT_FILE, text)
