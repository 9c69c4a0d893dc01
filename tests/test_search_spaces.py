"""Every shipped search space loads and validates (no Ray, no download)."""

from pathlib import Path

import pytest

from raymt.search.load import load_search

SPACES = sorted((Path(__file__).resolve().parents[1] / "search_spaces").glob("*.yaml"))


def test_the_three_promised_spaces_ship():
    names = {p.name for p in SPACES}
    assert {"default.yaml", "mbart50_de_en.yaml", "lora_vs_adapter.yaml"} <= names


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_shipped_space_is_valid(path):
    text = path.read_text()
    assert text.startswith("#"), "each shipped space opens with a comment saying how to run it"
    cfg, search, compiled, raw = load_search(path)
    assert search.num_samples >= 1
    assert set(search.objectives) >= {"bleu"}
    assert compiled.flat_columns()[0] == "method"
