"""The domain candidates' configs are valid experiments, and the one chosen is the shipped space's task."""

from pathlib import Path

import pytest

from benchmarks.domain_candidates import CANDIDATES, experiment
from raymt.config.load import read_yaml, validate_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_every_candidate_is_a_valid_experiment(name, tmp_path):
    cfg = validate_config(experiment(name, tmp_path), name)
    assert cfg.model.name_or_path == "tiny-multilingual" and cfg.method.name == "full"


def test_the_chosen_candidate_is_the_tatoeba_domain_space():
    space = read_yaml(ROOT / "search_spaces" / "tatoeba_domain.yaml")
    chosen = experiment("tat_deen", ROOT)
    assert {k: space["model"][k] for k in ("src_lang", "tgt_lang")} == {k: chosen["model"][k] for k in ("src_lang", "tgt_lang")}
    same = ("src", "tgt", "carve_by", "valid_size", "test_size", "split_seed")
    assert {k: space["data"].get(k) for k in same} == {k: chosen["data"].get(k) for k in same}
    assert (ROOT / space["data"]["path"]).resolve() == Path(chosen["data"]["path"]).resolve()
