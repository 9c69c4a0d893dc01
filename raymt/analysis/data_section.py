"""The report's Data section: corpus sizes, the base, how its tokenizer fits the corpus, and
whether each direction learned anything beyond the untouched base.

Works on the plain ``prepared.json`` mapping and the trials DataFrame (no Ray, no torch), so
``raymt report DIR`` rebuilds the same section from the files a search left.

Why the base level: a mean over pairs (the multi-pair objective) or a single BLEU can hide a
direction the search never taught: on the synthetic base, multi_pair.yaml scored de->en at
BLEU 0.0-0.1 in all 8 trials while the mean looked fine. Each direction's best completed
trial is compared with the untouched base on the same sentences; a direction that does not
rise :data:`LEARNED_MARGIN` BLEU above it is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from raymt.metrics.per_pair import pair_metric

#: BLEU a direction's best trial must gain over the untouched base to count as learned (above
#: the run-to-run noise of one corpus BLEU on a few hundred sentences)
LEARNED_MARGIN = 1.0


def _bleu_column(pair: str) -> str:
    return "bleu" if pair == "" else pair_metric("bleu", pair)


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
    """One row per direction: untouched base BLEU, best completed trial, gain, learned or not."""
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
            }
        )
    return rows


def base_level_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = [
        f"Untouched base vs the best completed trial, per direction (same sentences and decoding; learned = at least "
        f"{LEARNED_MARGIN:g} BLEU above the base):",
        "",
        "| direction | untouched base BLEU | best trial BLEU | gain | trials above base | learned |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        best = "n/a" if math.isnan(r["best_bleu"]) else f"{r['best_bleu']:.2f}"
        gain = "n/a" if math.isnan(r["gain"]) else f"{r['gain']:+.2f}"
        flag = "yes" if r["learned"] else "**NO: stays at the untouched base's level**"
        lines.append(f"| {r['direction']} | {r['base_bleu']:.2f} | {best} | {gain} | {r['trials_above']}/{r['completed']} | {flag} |")
    stuck = [r["direction"] for r in rows if not r["learned"] and r["completed"]]
    if stuck:
        lines += [
            "",
            f"**Warning:** {', '.join(stuck)} did not learn beyond the untouched base in any completed trial; "
            "a mean over directions hides this. Check that the base's tokenizer covers the language (Tokenizer fit "
            "above) and that the direction has enough training pairs.",
        ]
    return "\n".join(lines)


def data_section(prepared: Mapping, trials: pd.DataFrame | None = None) -> str:
    """The whole Data section body (Markdown) from ``prepared.json``'s mapping."""
    parts = ["\n".join(f"- {k}: {v}" for k, v in (prepared.get("sizes") or {}).items())]
    parts.append("\n".join(base_lines(prepared.get("base") or {})))
    parts.append(fit_table(prepared.get("tokenizer_fit") or {}))
    parts.append(base_level_text(base_level_rows(prepared.get("base_scores") or {}, trials, prepared.get("tokenizer_fit"))))
    return "\n\n".join(p for p in parts if p)
