"""Adding augmented pairs to a training set at a given ratio.

The ratio is what the search tunes: ``r`` adds ``round(r * |train|)`` perturbed copies of
training pairs (source perturbed, target unchanged) to the originals, so ``r = 0`` is the
plain corpus and ``r = 1`` doubles it. Ratios above 1 are allowed only when the caller raises
``max_ratio``: the same pair is then perturbed several times, which mostly adds near
duplicates, so the default refuses it as a likely config mistake.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from raymt.data.augment.base import AugmentOperator, WordOperator, get_operator
from raymt.data.splits import Pair
from raymt.errors import ConfigError
from raymt.progress import Progress

#: Pairs perturbed between two progress checks: the operators' rng runs on sentence after
#: sentence, so chunks of a word operator's work give exactly the pairs of one call.
PROGRESS_CHUNK = 1000


def _rng(seed: int, name: str) -> random.Random:
    # one stream per operator: adding a second operator must not change the first one's pairs
    digest = hashlib.sha256(f"augment:{seed}:{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def augmented_pairs(
    train: list[Pair],
    operator: str | AugmentOperator,
    ratio: float,
    params: Mapping | None,
    seed: int,
    *,
    max_ratio: float = 1.0,
    log=None,
    every_s: float = 10.0,
) -> list[Pair]:
    """Only the ``round(ratio * len(train))`` new pairs (without the originals).

    With ``log``, a word operator's pool (millions of sentences for a real corpus) says how far
    it is and how long is left (:class:`raymt.progress.Progress`, at most every ``every_s``)."""
    op = get_operator(operator) if isinstance(operator, str) else operator
    if not 0.0 <= ratio <= max_ratio:
        raise ConfigError(
            f"ratio {ratio} is outside [0, {max_ratio}]",
            where=f"augment.{op.name}.ratio",
            fix=f"use a ratio between 0 and {max_ratio} (r adds r x |train| augmented pairs)",
        )
    op.validate_params(dict(params or {}))  # fail on bad params even when ratio is 0
    chosen, rng = chosen_pairs(train, op.name, round(ratio * len(train)), seed)
    if not chosen:
        return []
    vocabulary = sorted({w for src, _ in train for w in src.split()}) if op.needs_vocabulary else None
    if log is None or not isinstance(op, WordOperator):
        return op.augment_pairs(chosen, rng, vocabulary=vocabulary, **dict(params or {}))
    progress = Progress(f"{op.name} pool", len(chosen), unit="pairs", log=log, every_s=every_s)
    out: list[Pair] = []
    for start in range(0, len(chosen), PROGRESS_CHUNK):
        out += op.augment_pairs(chosen[start : start + PROGRESS_CHUNK], rng, vocabulary=vocabulary, **dict(params or {}))
        progress.advance(len(out) - progress.done)
    return out


def chosen_pairs(train: list[Pair], name: str, n: int, seed: int) -> tuple[list[Pair], random.Random]:
    """The ``n`` training pairs an operator augments, in random order, and the operator's rng
    (advanced past the choice) for the augmentation itself.

    Random order makes any prefix a random sample too: a pool built for the largest ratio
    serves every smaller ratio by taking fewer pairs.
    """
    rng = _rng(seed, name)
    chosen: list[int] = []
    while len(chosen) < n:  # without replacement for ratio <= 1; whole permutations beyond
        perm = list(range(len(train)))
        rng.shuffle(perm)
        chosen.extend(perm[: n - len(chosen)])
    return [train[i] for i in chosen], rng


def apply_ratio(
    train: list[Pair], operator: str | AugmentOperator, ratio: float, params: Mapping | None = None, seed: int = 0, *, max_ratio: float = 1.0
) -> list[Pair]:
    """The original pairs followed by ``round(ratio * len(train))`` augmented pairs."""
    return list(train) + augmented_pairs(train, operator, ratio, params, seed, max_ratio=max_ratio)


def apply_augmentations(train: list[Pair], plan: Mapping[str, tuple[float, Mapping | None]], seed: int = 0, *, max_ratio: float = 1.0) -> list[Pair]:
    """Several operators at once, each drawn from the *original* pairs (they do not compound).

    ``plan`` maps operator name -> (ratio, params), e.g. the ``aug_<op>`` values of a trial.
    """
    out = list(train)
    for name in sorted(plan):
        ratio, params = plan[name]
        out.extend(augmented_pairs(train, name, ratio, params, seed, max_ratio=max_ratio))
    return out
