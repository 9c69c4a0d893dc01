"""Noise-aware front: paired bootstrap groups systems that differ by noise only."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
from sacrebleu.metrics import BLEU

from raymt.analysis.front import Front
from raymt.analysis.significance import (
    bleu_from_signature,
    paired_bootstrap,
    significance_groups,
    significant_front,
)
from raymt.errors import DataError

N_SAMPLES = 300  # enough to separate the constructed cases; keeps the file fast

_VOCAB = [f"w{i}" for i in range(400)]


def _references(n=300, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(_VOCAB) for _ in range(rng.randint(8, 16))) for _ in range(n)]


def _corrupt(lines, rate, seed):
    """Replace each word with probability ``rate``: a system of a given quality."""
    rng = random.Random(seed)
    return [" ".join(w if rng.random() > rate else rng.choice(_VOCAB) for w in line.split()) for line in lines]


def _write(folder: Path, name: str, lines):
    path = folder / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def _fixed_resampling_seed(monkeypatch):
    monkeypatch.setenv("SACREBLEU_SEED", "12345")  # sacrebleu's default, pinned against the env


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    """A weak system, and two strong ones of the same quality that differ by noise only.

    The twin re-draws 40 of the strong system's 300 outputs at the same error rate: its
    BLEU is 0.2 higher by chance (p ~ 0.24 with sacrebleu's fixed seed). All seeds are
    fixed, so the test is deterministic.
    """
    folder = tmp_path_factory.mktemp("hyps")
    refs = _references()
    strong = _corrupt(refs, 0.15, seed=1)
    redrawn = _corrupt(refs, 0.15, seed=101)
    lines = set(random.Random(1).sample(range(len(refs)), 40))
    twin = [redrawn[i] if i in lines else strong[i] for i in range(len(refs))]
    weak = _corrupt(refs, 0.45, seed=2)
    bleu = BLEU()
    signature = None
    rows = []
    for trial_id, hyps, mb in (("weak", weak, 1.0), ("strong", strong, 10.0), ("twin", twin, 100.0)):
        score = bleu.corpus_score(hyps, [refs]).score
        signature = str(bleu.get_signature())
        rows.append(
            {
                "trial_id": trial_id,
                "status": "completed",
                "method": "lora",
                "bleu": score,
                "storage_mb": mb,
                "hyps_path": _write(folder, trial_id, hyps),
                "refs_path": _write(folder, f"refs_{trial_id}", refs),
                "sacrebleu_signature": signature,
            }
        )
    df = pd.DataFrame(rows)
    assert df["bleu"].is_monotonic_increasing  # all three on the front
    return df


def test_paired_bootstrap_separates_real_differences_from_noise(systems):
    rows = systems.set_index("trial_id")
    weak, strong, twin = (rows.loc[t].to_dict() | {"trial_id": t} for t in ("weak", "strong", "twin"))
    assert abs(strong["bleu"] - twin["bleu"]) < 1.0
    assert paired_bootstrap(strong, twin, n_samples=N_SAMPLES) >= 0.05
    assert paired_bootstrap(weak, strong, n_samples=N_SAMPLES) < 0.05


def test_identical_outputs_are_indistinguishable(systems):
    # sacrebleu alone would give its minimum p (1/(n+1)) here: all resampled differences are 0.
    strong = systems.iloc[1].to_dict()
    assert paired_bootstrap(strong, dict(strong, trial_id="copy"), n_samples=N_SAMPLES) == 1.0


def test_groups_and_significant_front(systems):
    groups = significance_groups(systems, n_samples=N_SAMPLES).set_index("trial_id")
    assert groups.loc["weak", "group"] != groups.loc["strong", "group"]
    assert groups.loc["strong", "group"] == groups.loc["twin", "group"]
    assert bool(groups.loc["strong", "representative"]) and not bool(groups.loc["twin", "representative"])
    assert groups.loc["twin", "compared_with"] == "strong"
    assert groups.loc["twin", "p_value"] >= 0.05 and groups.loc["strong", "p_value"] < 0.05
    sig = significant_front(systems, n_samples=N_SAMPLES)
    assert list(sig["trial_id"]) == ["weak", "strong"]  # the twin costs 10x for no shown gain


def test_select_can_prefer_the_smallest_indistinguishable_member(systems):
    front = Front(systems)
    assert front.select()["trial_id"] == "twin"
    assert front.select(prefer_smallest_indistinguishable=True, n_samples=N_SAMPLES)["trial_id"] == "strong"


def test_missing_or_mismatched_files_are_data_errors(systems, tmp_path):
    broken = systems.copy()
    broken.loc[broken.trial_id == "twin", "hyps_path"] = str(tmp_path / "gone.txt")
    with pytest.raises(DataError, match="trial twin: hyps_path"):
        significance_groups(broken, n_samples=N_SAMPLES)
    short = systems.copy()
    short.loc[short.trial_id == "twin", "hyps_path"] = _write(tmp_path, "short", ["only one line"])
    with pytest.raises(DataError, match="1 hypotheses for 300 references"):
        significance_groups(short, n_samples=N_SAMPLES)
    other_refs = systems.copy()
    other_refs.loc[other_refs.trial_id == "twin", "refs_path"] = _write(tmp_path, "refs2", _references(seed=9))
    with pytest.raises(DataError, match="different references"):
        significance_groups(other_refs, n_samples=N_SAMPLES)
    no_col = systems.drop(columns="hyps_path")
    with pytest.raises(DataError, match="no file recorded"):
        significance_groups(no_col, n_samples=N_SAMPLES)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"tokenize": "char", "lowercase": True, "smooth_method": "add-k"},
        {"tokenize": "intl", "effective_order": True, "smooth_method": "floor", "smooth_value": 0.2},
    ],
)
def test_bleu_rebuilt_from_its_signature_scores_identically(kwargs):
    original = BLEU(**kwargs)
    hyps, refs = ["the cat sat on the mat", "A dog"], ["the cat is on the mat", "a dog barks"]
    expected = original.corpus_score(hyps, [refs])
    for short in (False, True):
        rebuilt = bleu_from_signature(original.get_signature().format(short=short))
        got = rebuilt.corpus_score(hyps, [refs])
        assert got.score == pytest.approx(expected.score)
        assert str(rebuilt.get_signature()) == str(original.get_signature())
    with pytest.raises(DataError, match="cannot rebuild BLEU"):
        bleu_from_signature("tok:no-such-tokenizer")
