"""The report's Data section: corpus sizes, the base, how its tokenizer fits the corpus, and
whether each direction learned anything beyond the untouched base.

Works on the plain ``prepared.json`` mapping and the trials DataFrame (no Ray, no torch), so
``raymt report DIR`` rebuilds the same section from the files a search left.

Why the base level: a mean over pairs (the multi-pair objective) or a single BLEU can hide a
direction the search never taught: on the synthetic base, multi_pair.yaml scored de->en at
BLEU 0.0-0.1 in all 8 trials while the mean looked fine. Each direction's best completed
trial is compared with the untouched base on the same sentences; a direction that does not
rise :data:`LEARNED_MARGIN` BLEU above it is flagged.

When the search scored its front on the test split, each direction is compared there too: the
trial that validation ranks first in that direction among the scored ones (test never chooses)
against the untouched base's test score, beyond both bootstrap 95% intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from raymt.analysis.results import TEST_PREFIX
from raymt.metrics.per_pair import pair_metric

#: BLEU a direction's best trial must gain over the untouched base to count as learned (above
#: the run-to-run noise of one corpus BLEU on a few hundred sentences)
LEARNED_MARGIN = 1.0


def _bleu_column(pair: str, prefix: str = "") -> str:
    return prefix + ("bleu" if pair == "" else pair_metric("bleu", pair))


def _test_ci_column(pair: str) -> str:
    """``test_bleu_ci95`` or ``test_bleu_ci95_<pair>`` (:mod:`raymt.results.test_scores`)."""
    return f"{TEST_PREFIX}bleu_ci95" + (f"_{pair}" if pair else "")


def _direction(pair: str, fit: list[dict] | None) -> str:
    if pair:
        return pair
    if fit:
        langs = {side["side"]: side["lang"] for side in fit}
        return f"{langs.get('source', '?')}-{langs.get('target', '?')}"
    return "(the pair)"


def base_lines(base: Mapping) -> list[str]:
    if not base:
        return []
    lines = [f"- base: {base.get('name', '?')}" + (f" ({base['parameters']:,} parameters)" if base.get("parameters") else "")]
    spec = base.get("spec")
    if spec:
        lines.append("- base recipe: " + ", ".join(f"{k}={v}" for k, v in spec.items()))
    if base.get("build"):
        lines.append("- base built with: " + ", ".join(f"{k} {v}" for k, v in base["build"].items()))
    if base.get("build_s") is not None:
        lines.append(f"- base build time: {base['build_s']:.1f} s (once per recipe; cached)")
    corpus = base.get("corpus")
    if corpus:
        sizes = ", ".join(f"{d} {n}" for d, n in corpus.get("examples", {}).items())
        lines.append(f"- base pre-training corpus: {corpus.get('folder')} (sha256 {corpus.get('sha256', '')[:16]}; examples: {sizes})")
    for direction, s in (base.get("validation") or {}).items():
        lines.append(f"- base's own validation BLEU {direction}: {s['bleu']:.2f} (chrF {s['chrf']:.2f}, {s['sentences']} sentences)")
    return lines


def fit_table(fit: Mapping[str, list[dict]]) -> str:
    rows = [
        {
            "pair": _direction(pair, sides),
            "side": s["side"],
            "language": s["lang"],
            "unknown tokens": f"{s['unk_rate']:.2%}",
            "tokens/word": f"{s['tokens_per_word']:.2f}",
            "sentences": s["sentences"],
        }
        for pair, sides in fit.items()
        for s in sides
    ]
    if not rows:
        return ""
    df = pd.DataFrame(rows)
    if set(df["pair"]) == {_direction("", next(iter(fit.values())))} and len(fit) == 1:
        df = df.drop(columns="pair")
    header = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns)
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False))
    return "Tokenizer fit (all splits, both sides; the search refuses a side above model.max_unk_rate):\n\n" + header + "\n" + body


def base_level_rows(base_scores: Mapping[str, Mapping], trials: pd.DataFrame | None, fit: Mapping[str, list[dict]] | None = None) -> list[dict]:
    """One row per direction: untouched base BLEU, best completed trial, gain, learned or not;
    with test scores, the same on test (see :func:`_test_level`)."""
    rows = []
    done = trials[trials["status"] == "completed"] if trials is not None and "status" in trials else pd.DataFrame()
    for pair, score in base_scores.items():
        column = _bleu_column(pair)
        values = pd.to_numeric(done[column], errors="coerce").dropna() if column in done else pd.Series(dtype=float)
        best = float(values.max()) if len(values) else math.nan
        above = int((values >= score["bleu"] + LEARNED_MARGIN).sum()) if len(values) else 0
        rows.append(
            {
                "direction": _direction(pair, (fit or {}).get(pair)),
                "base_bleu": float(score["bleu"]),
                "best_bleu": best,
                "gain": best - float(score["bleu"]) if not math.isnan(best) else math.nan,
                "trials_above": above,
                "completed": len(values),
                "learned": (not math.isnan(best)) and best >= score["bleu"] + LEARNED_MARGIN,
                **_test_level(pair, score, done),
            }
        )
    return rows


def _test_level(pair: str, score: Mapping, done: pd.DataFrame) -> dict:
    """The direction on the test split: the untouched base's test BLEU and interval; among the
    trials scored on test, the one validation ranks first in this direction (its test BLEU and
    interval), whether it is above the base beyond both intervals, and how many scored trials
    are. ``learned_on_test`` is None when the base or no trial has a test score."""
    base_test = float(score.get("test_bleu", math.nan))
    base_ci = float(score.get("test_bleu_ci95", 0.0) or 0.0)
    out = {"base_test_bleu": base_test, "base_test_ci95": base_ci, "test_trial": None, "test_bleu": math.nan, "test_ci95": math.nan}
    out.update(test_above=0, test_scored=0, learned_on_test=None)
    test_col, val_col = _bleu_column(pair, TEST_PREFIX), _bleu_column(pair)
    if math.isnan(base_test) or test_col not in done or val_col not in done:
        return out
    test = pd.to_numeric(done[test_col], errors="coerce")
    scored = done[test.notna()]
    if scored.empty:
        return out
    ci = pd.to_numeric(scored[_test_ci_column(pair)], errors="coerce").fillna(0.0) if _test_ci_column(pair) in scored else 0.0
    low = pd.to_numeric(scored[test_col]) - ci
    beyond = low > base_test + base_ci
    chosen = pd.to_numeric(scored[val_col], errors="coerce").fillna(-math.inf).idxmax()
    out.update(
        test_trial=str(scored.at[chosen, "trial_id"]) if "trial_id" in scored else str(chosen),
        test_bleu=float(scored.at[chosen, test_col]),
        test_ci95=float(ci[chosen]) if isinstance(ci, pd.Series) else 0.0,
        test_above=int(beyond.sum()),
        test_scored=len(scored),
        learned_on_test=bool(beyond[chosen]),
    )
    return out


def _interval(bleu: float, ci: float) -> str:
    return "n/a" if math.isnan(bleu) else f"{bleu:.2f} ± {ci:.2f}"


def base_level_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    on_test = any(r.get("learned_on_test") is not None or not math.isnan(r.get("base_test_bleu", math.nan)) for r in rows)
    lines = [
        f"Untouched base vs the best completed trial, per direction (same sentences and decoding; learned = at least "
        f"{LEARNED_MARGIN:g} BLEU above the base on validation"
        + (
            "; on test, the scored trial validation ranks first in the direction, learned = above the base beyond both "
            "bootstrap 95% intervals; test chose nothing):"
            if on_test
            else "):"
        ),
        "",
    ]
    header = ["direction", "untouched base BLEU", "best trial BLEU", "gain", "trials above base", "learned"]
    if on_test:
        header += ["untouched base test BLEU", "test BLEU (trial)", "scored trials above base on test", "learned on test"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        best = "n/a" if math.isnan(r["best_bleu"]) else f"{r['best_bleu']:.2f}"
        gain = "n/a" if math.isnan(r["gain"]) else f"{r['gain']:+.2f}"
        flag = "yes" if r["learned"] else "**NO: stays at the untouched base's level**"
        cells = [r["direction"], f"{r['base_bleu']:.2f}", best, gain, f"{r['trials_above']}/{r['completed']}", flag]
        if on_test:
            test = _interval(r["test_bleu"], r["test_ci95"]) + (f" ({r['test_trial']})" if r["test_trial"] else "")
            learned = {None: "n/a (not scored on test)", True: "yes", False: "**NO: not above the untouched base on test**"}
            cells += [
                _interval(r["base_test_bleu"], r["base_test_ci95"]),
                test,
                f"{r['test_above']}/{r['test_scored']}",
                learned[r["learned_on_test"]],
            ]
        lines.append("| " + " | ".join(cells) + " |")
    stuck = [r["direction"] for r in rows if not r["learned"] and r["completed"]]
    if stuck:
        lines += [
            "",
            f"**Warning:** {', '.join(stuck)} did not learn beyond the untouched base in any completed trial; "
            "a mean over directions hides this. Check that the base's tokenizer covers the language (Tokenizer fit "
            "above) and that the direction has enough training pairs.",
        ]
    stuck_test = [r for r in rows if r.get("learned_on_test") is False]
    for r in stuck_test:
        why = "what validation shows did not hold on held-out data" if r["learned"] else "it learned on neither split"
        lines += [
            "",
            f"**Warning:** on test, {r['direction']} is not above the untouched base beyond both intervals with the trial "
            f"validation ranks first: {why}.",
        ]
    return "\n".join(lines)


def data_section(prepared: Mapping, trials: pd.DataFrame | None = None) -> str:
    """The whole Data section body (Markdown) from ``prepared.json``'s mapping."""
    parts = ["\n".join(f"- {k}: {v}" for k, v in (prepared.get("sizes") or {}).items())]
    parts.append("\n".join(base_lines(prepared.get("base") or {})))
    parts.append(fit_table(prepared.get("tokenizer_fit") or {}))
    parts.append(base_level_text(base_level_rows(prepared.get("base_scores") or {}, trials, prepared.get("tokenizer_fit"))))
    return "\n\n".join(p for p in parts if p)
