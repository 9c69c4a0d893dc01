"""Temperature sampling over language pairs: p_i ~ n_i^(1/T), sharded consistently across ranks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from raymt.data.temperature import TemperatureSampler, epoch_quotas, temperature_probs
from raymt.errors import ConfigError

SIZES = [8000, 1000, 200]  # a high-, mid- and low-resource pair


def pair_of(index: int, sizes=SIZES) -> int:
    return int(np.searchsorted(np.cumsum(sizes), index, side="right"))


def test_t1_is_proportional_to_size():
    assert np.allclose(temperature_probs(SIZES, 1.0), np.array(SIZES) / sum(SIZES))


def test_t5_follows_the_formula_and_upsamples_small_pairs():
    probs = temperature_probs(SIZES, 5.0)
    expected = np.array(SIZES, dtype=float) ** 0.2
    assert np.allclose(probs, expected / expected.sum())
    # 8000^0.2 : 1000^0.2 : 200^0.2 = 6.034 : 3.981 : 2.885
    assert np.allclose(probs, [0.4677, 0.3086, 0.2237], atol=1e-3)
    assert probs[2] > 200 / sum(SIZES) * 10  # the smallest pair gets 10x+ its share of the data


def test_large_t_is_uniform_and_small_t_does_not_overflow():
    assert np.allclose(temperature_probs(SIZES, 1e6), [1 / 3] * 3, atol=1e-4)
    assert np.allclose(temperature_probs(SIZES, 0.01), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("temperature", [1.0, 5.0, 1e6])
def test_an_epoch_draws_each_pair_by_its_quota(temperature):
    sampler = TemperatureSampler(SIZES, temperature, seed=0)
    counts = Counter(pair_of(i) for i in sampler)
    total = sum(SIZES)
    assert sum(counts.values()) == len(sampler) == total  # an epoch keeps its usual size
    for pair, p in enumerate(temperature_probs(SIZES, temperature)):
        assert abs(counts[pair] - p * total) <= 1, (pair, counts[pair], p * total)


def test_fixed_quotas_and_seeded_order():
    """Regression values: what a user re-running the same config gets."""
    assert epoch_quotas(SIZES, 1.0) == [8000, 1000, 200]
    assert epoch_quotas(SIZES, 5.0) == [4303, 2839, 2058]
    assert epoch_quotas(SIZES, 1e6) == [3067, 3067, 3066]
    first = list(TemperatureSampler(SIZES, 5.0, seed=0))[:5]
    assert first == list(TemperatureSampler(SIZES, 5.0, seed=0))[:5]
    assert first != list(TemperatureSampler(SIZES, 5.0, seed=1))[:5]


def test_upsampled_pair_repeats_every_example_and_downsampled_pair_varies_by_epoch():
    sizes = [1000, 10]
    sampler = TemperatureSampler(sizes, 100.0, seed=3)
    small = Counter(i for i in sampler if i >= 1000)
    assert set(small) == set(range(1000, 1010))  # every small-pair example, none skipped
    assert max(small.values()) - min(small.values()) <= 1  # whole passes, not random draws
    big_epoch0 = {i for i in sampler if i < 1000}
    sampler.set_epoch(1)
    big_epoch1 = {i for i in sampler if i < 1000}
    assert big_epoch0 != big_epoch1  # a fresh subset of the large pair each epoch


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_get_disjoint_equal_shards_of_the_same_epoch(world):
    sizes = [101, 13]  # 114 examples: not divisible by 3, so the last shard is padded
    shards = [list(TemperatureSampler(sizes, 5.0, num_replicas=world, rank=r, seed=7)) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # same number of batches on every DDP rank
    single = TemperatureSampler(sizes, 5.0, seed=7).global_indices().tolist()
    merged = [shards[r][k] for k in range(len(shards[0])) for r in range(world)]
    assert merged[: len(single)] == single  # the ranks' strides rebuild the one global order
    assert len(merged) - len(single) < world


def test_set_epoch_changes_order_reproducibly():
    a, b = TemperatureSampler(SIZES, 5.0, seed=0), TemperatureSampler(SIZES, 5.0, seed=0)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_is_a_config_error(temperature):
    with pytest.raises(ConfigError, match="multi_pair.temperature"):
        temperature_probs(SIZES, temperature)


def test_an_empty_pair_is_a_config_error():
    with pytest.raises(ConfigError, match="every pair needs training pairs"):
        TemperatureSampler([10, 0], 5.0)
