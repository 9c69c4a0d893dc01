"""``search.sampler.kind: grid``: every configuration of a discretised conditional space, each
once, inside Ray Tune's OptunaSearch; a space it cannot enumerate is refused before Ray."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raymt.search.config import SearchConfig
from raymt.search.sampler.registry import make_sampler
from raymt.search.space import CompiledSpace
from raymt.search.tuner import make_searcher

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}
SPACE = {
    "method": ["full", "lora", "adapter"],
    "common": {"train.lr": {"log_uniform": [3e-4, 3e-3]}},
    "methods": {
        "lora": {"r": {"choices": [2, 8, 32]}, "target_modules": {"choices": [["q_proj", "v_proj"], "all-linear"]}},
        "adapter": {"size": {"int": [8, 10]}},
    },
}
LRS = [3e-4, 1e-3, 3e-3]
# full: 3 lrs; lora: 3 ranks x 2 target sets x 3 lrs; adapter: sizes 8, 9, 10 (its own int range) x 3 lrs
GRID_SIZE = 3 + 18 + 9


def grid_search(values=None, **extra) -> SearchConfig:
    sampler = {"kind": "grid", "seed": 0, "grid": {"values": {"train.lr": LRS} if values is None else values}}
    return SearchConfig.model_validate({"space": SPACE, "sampler": sampler, **extra})


def compiled_grid(search: SearchConfig) -> CompiledSpace:
    return CompiledSpace(search.space, {}, grid=search.grid_values)


def test_grid_counts_each_branch_of_the_conditional_space_once():
    space = compiled_grid(grid_search())
    assert space.grid_size() == GRID_SIZE
    assert space.trials_to_run(100) == GRID_SIZE  # more samples than the grid: stop when it is exhausted
    assert space.trials_to_run(5) == 5


def test_grid_search_inside_optuna_search_runs_every_configuration_once():
    search = grid_search()
    space = compiled_grid(search)
    sampler = make_sampler(search.sampler, objectives=OBJECTIVES, space_fn=space.define_by_run)
    searcher = make_searcher(space.define_by_run, OBJECTIVES, sampler, seed=0)
    seen = set()
    for i in range(GRID_SIZE):
        config = searcher.suggest(f"t{i}")
        key = tuple(sorted((k, str(v)) for k, v in config.items()))
        assert key not in seen, f"{config} proposed twice"
        seen.add(key)
        assert config["train.lr"] in LRS
        assert ("lora.r" in config) == (config["method"] == "lora")
        if i % 7 == 3:  # a failed trial is a tried configuration too: not proposed again
            searcher.on_trial_complete(f"t{i}", None, error=True)
        else:
            searcher.on_trial_complete(f"t{i}", {"bleu": float(i), "storage_mb": 1.0})
    methods = [dict(k)["method"] for k in seen]
    assert (methods.count("full"), methods.count("lora"), methods.count("adapter")) == (3, 18, 9)
    # each proposal is a valid trial config (list-valued choices come back as lists)
    lora = next(dict(k) for k in seen if dict(k)["method"] == "lora" and "q_proj" in dict(k)["lora.target_modules"])
    assert space.to_raw_config({**lora, "lora.r": int(lora["lora.r"]), "train.lr": float(lora["train.lr"])})["method"]["target_modules"] == [
        "q_proj",
        "v_proj",
    ]


def test_a_continuous_parameter_without_grid_values_is_refused_naming_it():
    with pytest.raises(ValidationError, match=r"'train\.lr' is continuous .*search\.sampler\.grid\.values\.train\.lr"):
        grid_search(values={})


def test_grid_values_must_name_searched_parameters_inside_their_range():
    with pytest.raises(ValidationError, match=r"grid\.values\.train\.rl: .*did you mean 'train\.lr'"):
        grid_search(values={"train.rl": LRS})
    with pytest.raises(ValidationError, match=r"grid\.values\.train\.lr: 0\.01 is outside the space's range"):
        grid_search(values={"train.lr": [1e-3, 1e-2]})
    with pytest.raises(ValidationError, match=r"grid\.values\.lora\.r: 4 is outside the space's choices"):
        grid_search(values={"train.lr": LRS, "lora.r": [2, 4]})
    with pytest.raises(ValidationError, match="lists a value twice"):
        grid_search(values={"train.lr": [1e-3, 1e-3]})


def test_grid_values_narrow_a_choices_parameter():
    space = compiled_grid(grid_search(values={"train.lr": [1e-3], "lora.r": [8]}))
    assert space.grid_size() == 1 + 2 + 3


def test_points_to_evaluate_and_grid_options_of_another_kind_are_refused():
    with pytest.raises(ValidationError, match="points_to_evaluate are not used by sampler kind grid"):
        grid_search(points_to_evaluate=[{"method": "full", "train.lr": 1e-3}])
    with pytest.raises(ValidationError, match="kind: grid"):
        SearchConfig.model_validate({"space": SPACE, "sampler": {"kind": "tpe", "grid": {"values": {"train.lr": LRS}}}})


@pytest.mark.slow
def test_grid_search_through_ray_stops_when_the_grid_is_exhausted(tmp_path, cache_root, tiny_base, ray_local):
    """Two configurations (one per branch of the method) and num_samples 5: two trials, each
    configuration once, and the search ends as finished (not as interrupted for the three
    samples it never ran)."""
    import pandas as pd
    import yaml
    from test_search_e2e import small_space

    from raymt.search.run import run_search

    path = small_space(tmp_path, cache_root, num_samples=5, name="grid", points_to_evaluate=[])
    raw = yaml.safe_load(path.read_text())
    raw["train"]["epochs"] = 1
    raw["search"]["sampler"] = {"kind": "grid", "seed": 0, "grid": {"values": {"train.lr": [3e-3]}}}
    raw["search"]["space"] = {
        "method": ["lora", "adapter"],
        "common": {"train.lr": {"log_uniform": [3e-4, 3e-3]}},
        "methods": {"lora": {"r": 2}, "adapter": {"size": 32}},
    }
    path.write_text(yaml.safe_dump(raw))
    said: list[str] = []
    results = run_search(path, log=said.append)
    assert any("grid search: 2 configurations, fewer than num_samples 5" in line for line in said), said[:20]
    df = pd.read_parquet(results / "trials.parquet")
    assert len(df) == 2 and (df["status"] == "completed").all(), df[["trial_id", "status"]]
    assert sorted(df["method"]) == ["adapter", "lora"] and (df["train.lr"] == 3e-3).all()


def test_a_grid_resumed_from_the_searcher_checkpoint_runs_only_the_configurations_left(tmp_path):
    """What ``raymt search --resume`` restores: Tune's pickled searcher. A trial that was running
    when the driver died is run again by Tune (it stays RUNNING in the study), so it is neither
    lost nor proposed a second time."""
    from raymt.search.tuner import RaymtOptunaSearch

    search = grid_search()
    space = compiled_grid(search)
    sampler = make_sampler(search.sampler, objectives=OBJECTIVES, space_fn=space.define_by_run)
    searcher = make_searcher(space.define_by_run, OBJECTIVES, sampler, seed=0)

    def key(config):
        return tuple(sorted((k, str(v)) for k, v in config.items()))

    before = []
    for i in range(10):
        before.append(key(searcher.suggest(f"t{i}")))
        if i < 9:  # t9 is running when the driver dies
            searcher.on_trial_complete(f"t{i}", {"bleu": 1.0, "storage_mb": 1.0})
    searcher.save(str(tmp_path / "ckpt.pkl"))
    fresh = RaymtOptunaSearch()
    fresh.restore(str(tmp_path / "ckpt.pkl"))
    fresh.on_trial_complete("t9", {"bleu": 1.0, "storage_mb": 1.0})
    after = [key(fresh.suggest(f"u{i}")) for i in range(GRID_SIZE - 10)]
    assert len(set(before) | set(after)) == GRID_SIZE
