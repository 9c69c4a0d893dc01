"""Random insertion: after each source word, with probability ``p``, insert a random word
drawn from the training vocabulary.

Adapted from the random-insertion operation of EDA (Wei & Zou, 2019, "EDA: Easy Data
Augmentation Techniques for Boosting Performance on Text Classification Tasks", EMNLP-IJCNLP
2019, arXiv:1901.11196), which inserts synonyms; MT has no synonym lexicon for arbitrary
languages, so a vocabulary word stands in. It teaches the model to ignore spurious input
words rather than translate them.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from raymt.data.augment.base import WordOperator, register_operator


class RandomInsertionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(
        0.1, ge=0.0, le=1.0, description="Probability of inserting a random vocabulary word after each word (expected insertions = p x length)."
    )


@register_operator
class RandomInsertion(WordOperator):
    name = "random_insertion"
    params_cls = RandomInsertionParams
    needs_vocabulary = True

    def perturb(self, words: list[str], rng: random.Random, params: RandomInsertionParams, vocabulary: list[str]) -> list[str]:
        if not vocabulary:
            return list(words)
        out: list[str] = []
        for w in words:
            out.append(w)
            if rng.random() < params.p:
                out.append(vocabulary[int(rng.random() * len(vocabulary))])
        return out
