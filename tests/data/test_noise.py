"""mBART text infilling: the statistics the denoising stage relies on, on a fixed seed."""

import numpy as np

from raymt.data.noise import text_infilling

MASK = "<mask>"


def test_masked_share_and_poisson_span_lengths():
    rng = np.random.default_rng(0)
    sentence = " ".join(f"w{i}" for i in range(120))
    masked = words = 0
    lengths = []
    for _ in range(1000):
        out = text_infilling(sentence, rng)
        masked += out.masked_words
        words += out.words
        lengths += [n for _, n in out.spans]
    assert abs(masked / words - 0.35) < 0.01
    # Poisson(3.5): mean ~ variance ~ 3.5 (the last span of each sentence is cut to fit, so a bit less)
    assert 3.2 < np.mean(lengths) < 3.6 and 3.0 < np.var(lengths) < 4.0
    assert 0.02 < np.mean(np.array(lengths) == 0) < 0.04  # P(0) = exp(-3.5): a 0-length span inserts a mask


def test_one_mask_per_span_and_the_rest_kept_in_order():
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 9, 30):
        words = [f"w{i}" for i in range(n)]
        for _ in range(200):
            out = text_infilling(" ".join(words), rng)
            tokens = out.text.split()
            assert tokens.count(MASK) == len(out.spans)
            assert not any(a == b == MASK for a, b in zip(tokens, tokens[1:]))  # every mask is its own span
            hidden = {i for start, length in out.spans for i in range(start, start + length)}
            assert [t for t in tokens if t != MASK] == [w for i, w in enumerate(words) if i not in hidden]
            assert out.masked_words == min(n, int(np.ceil(0.35 * n)))


def test_same_seed_same_noise_and_the_ratio_is_a_setting():
    a = text_infilling("a b c d e f g h i j k l", np.random.default_rng(7), mask_ratio=0.5, poisson_lambda=2.0)
    b = text_infilling("a b c d e f g h i j k l", np.random.default_rng(7), mask_ratio=0.5, poisson_lambda=2.0)
    assert a == b and a.masked_words == 6
