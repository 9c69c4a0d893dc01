"""search.repeat_front through Ray: a tiny search whose front is trained again with one more
seed, as real Tune trials, recorded in repeats.csv, the trials table and the report."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.results.files import REPEATS_FILE, REPEATS_TUNE_DIR
from raymt.search.run import run_search

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_front_members_are_repeated_with_another_seed(tmp_path, cache_root, tiny_base):
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name="rep", storage_path=str(tmp_path))
    raw["data"].update(train_size=200, valid_size=30, test_size=30)
    raw["eval"]["max_samples"] = 30
    raw["train"]["epochs"] = 1
    raw["search"].update(num_samples=2, repeat_front=1, scheduler={"kind": "none"})
    # one LoRA twice, at two learning rates: the same bytes, so unless their BLEU ties one
    # dominates the other and one member is repeated (two trials of different sizes are both
    # on the front, and both repeated, unless the smaller is also the better)
    lora = raw["search"]["points_to_evaluate"][1]
    raw["search"]["points_to_evaluate"] = [lora, {**lora, "train.lr": 3e-4}]
    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    space = tmp_path / "rep.yaml"
    space.write_text(yaml.safe_dump(raw))

    results = run_search(space, log=lambda m: None)

    trials = pd.read_parquet(results / "trials.parquet").set_index("trial_id")
    front = trials[trials["is_pareto"]]
    assert len(trials) == 2 and len(front) >= 1
    repeats = pd.read_csv(results / REPEATS_FILE, dtype={"trial_id": str})
    assert sorted(repeats["trial_id"]) == sorted(front.index) and (repeats["seed"] == 1).all() and (repeats["original_seed"] == 0).all()
    assert (repeats["status"] == "completed").all() and repeats["bleu"].between(0, 100).all()
    assert repeats["test_bleu"].between(0, 100).all()  # each repeat's own model, scored on the held-out test split
    for _, rep in repeats.iterrows():
        member = front.loc[rep["trial_id"]]
        assert member["n_seeds"] == 2
        assert member["bleu_mean"] == pytest.approx((member["bleu"] + rep["bleu"]) / 2)
        assert member["bleu_sd"] == pytest.approx(pd.Series([member["bleu"], rep["bleu"]]).std())
        assert member["test_bleu_mean"] == pytest.approx((member["test_bleu"] + rep["test_bleu"]) / 2)
        assert (results / rep["checkpoint_path"]).is_dir()  # the repeat's own Train run, beside the search's
        assert rep["repeat_trial_id"] not in trials.index
    assert trials.loc[~trials["is_pareto"], "n_seeds"].isna().all()
    # the repeats ran as Tune trials with the member's parameters and seed 1 (Tune's own record)
    configs = [json.loads(p.read_text()) for p in (results / REPEATS_TUNE_DIR).glob("*/params.json")]
    assert sorted(c["repeat"]["trial_id"] for c in configs) == sorted(front.index) and {c["repeat"]["seed"] for c in configs} == {1}
    timings = json.loads((results / "timings.json").read_text())
    assert timings["repeat_front_s"] > 0 and timings["repeat_test_scoring_s"] > 0
    report = (results / "report.md").read_text()
    assert "## Seed variance of the front" in report and "(n=2)" in report and "repeat_front_s" in report
