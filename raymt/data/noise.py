"""mBART's text-infilling noise: the input side of the denoising warm-start stage.

BART (Lewis et al. 2020, ACL, "BART: Denoising Sequence-to-Sequence Pre-training") found
text infilling the best single noise: spans whose lengths are drawn from Poisson(3.5) are
each replaced by ONE mask token, so the model must also work out how many words are missing;
a 0-length span inserts a mask. mBART (Liu et al. 2020, TACL, "Multilingual Denoising
Pre-training for Neural Machine Translation") masks 35% of the words this way. Doing the same
on in-domain target-language text before MT fine-tuning trains the module on the objective
the base was pre-trained with, but on the words of the new domain.

Masking is over whitespace words, as in mBART (fairseq's whole-word masking): a span never
cuts a word in half, whatever the tokenizer does with it afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Noised:
    """One noised sentence: the text the model reads and the spans that were hidden."""

    text: str
    spans: tuple[tuple[int, int], ...]  # (first word, number of words) in the original sentence
    words: int  # words in the original sentence

    @property
    def masked_words(self) -> int:
        return sum(length for _, length in self.spans)


def span_lengths(rng: np.random.Generator, to_mask: int, poisson_lambda: float) -> list[int]:
    """Poisson lengths until they cover ``to_mask`` words; the last one is cut to fit exactly."""
    lengths: list[int] = []
    total = 0
    while total < to_mask:
        length = int(rng.poisson(poisson_lambda))
        lengths.append(min(length, to_mask - total))
        total += lengths[-1]
    return lengths


def text_infilling(
    sentence: str, rng: np.random.Generator, *, mask_ratio: float = 0.35, poisson_lambda: float = 3.5, mask_token: str = "<mask>"
) -> Noised:
    """Hide ``ceil(mask_ratio x words)`` words in non-overlapping spans, one ``mask_token`` each.

    Spans go into distinct gaps between the kept words (at random), so two masks are never
    adjacent and every mask stands for exactly one span.
    """
    words = sentence.split()
    n = len(words)
    to_mask = min(n, math.ceil(mask_ratio * n)) if n else 0
    lengths = span_lengths(rng, to_mask, poisson_lambda) if to_mask else []
    kept = n - sum(lengths)
    if len(lengths) > kept + 1:
        # more spans than gaps (only in very short sentences): merge the surplus into the last
        lengths = lengths[:kept] + [sum(lengths[kept:])]
    rng.shuffle(lengths)
    gaps = sorted(rng.choice(kept + 1, size=len(lengths), replace=False).tolist()) if lengths else []
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0  # index into the original words
    kept_seen = 0
    span_iter = iter(zip(gaps, lengths))
    nxt = next(span_iter, None)
    while pos < n or nxt is not None:
        if nxt is not None and nxt[0] == kept_seen:
            spans.append((pos, nxt[1]))
            out.append(mask_token)
            pos += nxt[1]
            nxt = next(span_iter, None)
            continue
        out.append(words[pos])
        pos += 1
        kept_seen += 1
    return Noised(text=" ".join(out), spans=tuple(spans), words=n)
