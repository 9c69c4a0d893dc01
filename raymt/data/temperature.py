"""Temperature-based sampling over several corpora, one per language pair.

Why: concatenating the corpora of a multi-pair run lets the largest pair dominate training
(T=1: p_i proportional to n_i); sampling each pair uniformly (T -> inf) overfits the small
ones. The usual compromise samples pair i with

    p_i = n_i^(1/T) / sum_j n_j^(1/T)

(Arivazhagan et al. 2019, "Massively Multilingual Neural Machine Translation in the Wild",
T=5 there; Conneau & Lample 2019, XLM, use the same rule with alpha = 1/T = 0.5 and
Liu et al. 2020, mBART, with alpha = 0.7 for pre-training).

An epoch keeps its usual size, sum_i n_i examples, of which pair i gets its quota
round(p_i x sum n) (largest remainders, so the quotas add up exactly). A pair below its quota
is repeated (every example once per pass, each pass freshly shuffled); a pair above it
contributes a fresh random subset each epoch. The index list is a pure function of
(seed, epoch), so every DDP rank builds the same list and takes its own stride, the way
``torch.utils.data.DistributedSampler`` shards: ranks get disjoint shares of equal length
(padded by repeating the head), hence the same number of batches, which DDP's collective
calls need.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from raymt.errors import ConfigError


def temperature_probs(sizes: Sequence[int], temperature: float) -> np.ndarray:
    """p_i proportional to n_i^(1/T); T=1 is proportional to size, large T tends to uniform."""
    _check(sizes, temperature)
    n = np.asarray(sizes, dtype=np.float64)
    # in log space: n^(1/T) overflows float64 for a small T (T=0.01 and n=1000 gives 10^300)
    logits = np.log(n) / float(temperature)
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def epoch_quotas(sizes: Sequence[int], temperature: float, total: int | None = None) -> list[int]:
    """Examples of each pair in one epoch of ``total`` examples (default: sum of sizes),
    rounded by largest remainder so the quotas sum to ``total`` exactly."""
    probs = temperature_probs(sizes, temperature)
    total = int(sum(sizes)) if total is None else int(total)
    exact = probs * total
    quotas = np.floor(exact).astype(np.int64)
    short = total - int(quotas.sum())
    for i in np.argsort(-(exact - quotas), kind="stable")[:short]:
        quotas[i] += 1
    return [int(q) for q in quotas]


class TemperatureSampler(Sampler[int]):
    """Indices into the concatenation of the pairs' training sets (pair 0's rows first),
    drawn with temperature ``T`` and sharded across ``num_replicas`` ranks.

    A drop-in for ``DistributedSampler`` in the training loop: same ``set_epoch``, same
    equal-length, disjoint shards per rank.
    """

    def __init__(self, sizes: Sequence[int], temperature: float, *, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        _check(sizes, temperature)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.sizes = [int(n) for n in sizes]
        self.temperature = float(temperature)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.seed = int(seed)
        self.epoch = 0
        self.quotas = epoch_quotas(self.sizes, self.temperature)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.num_samples = math.ceil(sum(self.quotas) / self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def global_indices(self) -> np.ndarray:
        """The whole epoch's indices, before sharding (identical on every rank)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        parts = []
        for size, quota, offset in zip(self.sizes, self.quotas, self.offsets):
            passes = [rng.permutation(size) for _ in range(math.ceil(quota / size))]
            parts.append(np.concatenate(passes)[:quota] + offset)
        indices = np.concatenate(parts)
        return indices[rng.permutation(len(indices))]

    def __iter__(self) -> Iterator[int]:
        indices = self.global_indices()
        padded = self.num_samples * self.num_replicas
        if padded > len(indices):
            indices = np.concatenate([indices, indices[: padded - len(indices)]])
        return iter(indices[self.rank : padded : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples


def _check(sizes: Sequence[int], temperature: float) -> None:
    if not len(sizes):
        raise ConfigError("no corpora to sample from", where="multi_pair.pairs", fix="list at least two pairs")
    if any(int(n) <= 0 for n in sizes):
        raise ConfigError(
            f"every pair needs training pairs, got sizes {list(sizes)}",
            where="multi_pair.pairs[].data",
            fix="check each pair's training split (empty after cleaning or max_train_pairs?)",
        )
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ConfigError(
            f"temperature must be a positive number, got {temperature!r}",
            where="multi_pair.temperature",
            fix="use 1 (proportional to size), 5 (the common choice) or a large value (uniform)",
        )
