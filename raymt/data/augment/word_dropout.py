"""Word dropout: delete each source word with probability ``p``.

The noise model of Lample et al., 2018, "Unsupervised Machine Translation Using Monolingual
Corpora Only" (ICLR 2018, arXiv:1711.00043), section 2.3: it teaches the model to translate
input with missing words instead of relying on every token being present.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from raymt.data.augment.base import WordOperator, register_operator


class WordDropoutParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.1, ge=0.0, lt=1.0, description="Probability of deleting each word (Lample et al. use 0.1).")


@register_operator
class WordDropout(WordOperator):
    name = "word_dropout"
    params_cls = WordDropoutParams

    def perturb(self, words: list[str], rng: random.Random, params: WordDropoutParams, vocabulary: list[str]) -> list[str]:
        kept = [w for w in words if rng.random() >= params.p]
        if words and not kept:
            kept = [words[int(rng.random() * len(words))]]  # an empty source would teach nothing
        return kept
