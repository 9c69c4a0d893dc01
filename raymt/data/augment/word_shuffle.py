"""Local word shuffle: each source word moves at most ``k`` positions.

Lample et al., 2018, "Unsupervised Machine Translation Using Monolingual Corpora Only"
(ICLR 2018, arXiv:1711.00043), section 2.3: position ``i`` gets the key ``i + U[0, k+1)``
and words are sorted by key. Any word that ends up ahead of word ``i`` started within ``k``
positions of it, so ``|new_position - i| <= k`` always holds: local reordering that keeps
the sentence readable, unlike a full shuffle.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from raymt.data.augment.base import WordOperator, register_operator


class WordShuffleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=0, le=20, description="Largest distance a word may move (Lample et al. use 3); 0 leaves sentences unchanged.")


@register_operator
class WordShuffle(WordOperator):
    name = "word_shuffle"
    params_cls = WordShuffleParams

    def perturb(self, words: list[str], rng: random.Random, params: WordShuffleParams, vocabulary: list[str]) -> list[str]:
        if params.k == 0 or len(words) < 2:
            return list(words)
        alpha = params.k + 1
        keys = [i + rng.random() * alpha for i in range(len(words))]
        return [w for _, w in sorted(zip(keys, words), key=lambda kw: kw[0])]
