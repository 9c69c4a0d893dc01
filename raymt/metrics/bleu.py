"""Corpus BLEU and chrF with sacrebleu, computed once on the whole gathered set.

Why sacrebleu (Post, 2018, WMT): BLEU numbers are only comparable with the same tokenisation
and settings; sacrebleu's *signature* records them, and raymt stores it with every result.
Averaging per-worker BLEU would be wrong (BLEU is not decomposable), so workers gather their
hypotheses to rank 0 and the score is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str


def corpus_scores(hypotheses: list[str], references: list[str], *, tokenize: str | None = None) -> Scores:
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(tokenize=tokenize) if tokenize else BLEU()
    chrf = CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return Scores(bleu=float(b.score), chrf=float(c.score), bleu_signature=str(bleu.get_signature()),
                  chrf_signature=str(chrf.get_signature()))
