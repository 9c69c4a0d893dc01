"""The conditional search space: branch parameters exist only on their branch, and every
value a space can produce is validated against the trial schema before Ray starts."""

import optuna
import pytest

from raymt.config.load import validate_config
from raymt.errors import ConfigError
from raymt.search.space import CompiledSpace, SpaceConfig

SPACE = {
    "method": ["full", "lora", "adapter"],
    "common": {"train.lr": {"log_uniform": [1e-4, 1e-2]}, "train.warmup_ratio": {"uniform": [0.0, 0.2]}},
    "methods": {
        "lora": {"r": {"choices": [2, 8]}, "alpha_over_r": {"choices": [1, 2]}, "target_modules": {"choices": [["q_proj", "v_proj"], "all-linear"]}},
        "adapter": {"size": {"int": [8, 64], "log": True}},
    },
}


def compiled(space=SPACE, base=None):
    return CompiledSpace(SpaceConfig.model_validate(space), base or {})


def test_define_by_run_is_conditional():
    space = compiled()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        space.define_by_run(trial)
        method = trial.params["method"]
        seen.add(method)
        keys = set(trial.params)
        assert ("lora.r" in keys) == (method == "lora")
        assert ("adapter.size" in keys) == (method == "adapter")
        assert "train.lr" in keys and "train.warmup_ratio" in keys
        raw = space.to_raw_config(trial.params)
        cfg = validate_config(raw, "test")
        assert cfg.method.name == method
        assert cfg.train.lr == pytest.approx(trial.params["train.lr"])
        if method == "lora":
            assert cfg.method.params.alpha == trial.params["lora.r"] * trial.params["lora.alpha_over_r"]
        study.tell(trial, 0.0)
    assert seen == {"full", "lora", "adapter"}


def test_list_choices_round_trip():
    space = compiled()
    raw = space.to_raw_config(
        {"method": "lora", "train.lr": 1e-3, "train.warmup_ratio": 0.1, "lora.r": 2, "lora.alpha_over_r": 1, "lora.target_modules": "q_proj+v_proj"}
    )
    assert raw["method"]["target_modules"] == ["q_proj", "v_proj"]


@pytest.mark.parametrize(
    "patch, where, words",
    [
        ({"methods": {"lora": {"dropuot": {"choices": [0.1]}}}}, "methods.lora.dropuot", "did you mean 'dropout'"),
        ({"methods": {"lora": {"size": {"choices": [2]}}}}, "methods.lora.size", "adapter"),
        ({"methods": {"lora": {"r": {"choices": [-1, 4]}}}}, "methods.lora.r", "invalid"),
        ({"common": {"train.lr": {"log_uniform": [0.0, 1e-3]}}}, "", "lower bound > 0"),
        ({"method": ["lora", "lorax"]}, "method[1]", "did you mean 'lora'"),
        ({"common": {"train.epochs": {"choices": [0, 2]}}}, "common.train.epochs", "invalid"),
        ({"common": {"augment.word_dropout.ratio": {"uniform": [0.0, 1.5]}}}, "augment.word_dropout.ratio", "invalid"),
    ],
)
def test_space_errors_name_the_field(patch, where, words):
    space = {**SPACE, **{k: v for k, v in patch.items() if k != "methods"}}
    if "methods" in patch:
        space = {**space, "methods": {**SPACE["methods"], **patch["methods"]}}
    with pytest.raises((ConfigError, ValueError)) as err:
        compiled(space).validate(lambda raw, w: validate_config(raw, w))
    assert where in str(err.value)
    assert words in str(err.value)


def test_empty_choices_refused():
    with pytest.raises(ValueError, match="choices is empty"):
        SpaceConfig.model_validate({"method": "lora", "methods": {"lora": {"r": {"choices": []}}}})


def test_max_ratios_for_shared_pools():
    space = compiled({**SPACE, "common": {**SPACE["common"], "augment.word_dropout.ratio": {"uniform": [0.0, 0.4]}}})
    assert space.max_ratios() == {"word_dropout": 0.4}


def test_init_stage_is_a_branch_and_its_settings_exist_only_on_it():
    space = compiled({"method": "lora", "common": {"init.denoise.steps": {"choices": [50, 100]}, "init.stage": {"choices": ["none", "denoise"]}}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        space.define_by_run(trial)
        stage = trial.params["init.stage"]
        seen.add(stage)
        assert ("init.denoise.steps" in trial.params) == (stage == "denoise")
        cfg = validate_config(space.to_raw_config(trial.params), "test")
        assert cfg.init.stage == stage
        assert cfg.init.denoise.steps == trial.params.get("init.denoise.steps", 200)
        study.tell(trial, 0.0)
    assert seen == {"none", "denoise"}
    assert {"init.stage", "init.denoise.steps"} <= set(space.flat_columns())


@pytest.mark.parametrize(
    "common, where",
    [
        ({"init.stage": {"choices": ["none", "denoising"]}}, "common.init.stage"),
        # a stage setting is checked on the branch where it applies, even if the base config has no stage
        ({"init.stage": {"choices": ["none", "denoise"]}, "init.denoise.mask_ratio": {"uniform": [0.2, 1.5]}}, "common.init.denoise.mask_ratio"),
        ({"init.denoise.mask_ratio": {"uniform": [0.2, 1.5]}}, "common.init.denoise.mask_ratio"),
    ],
)
def test_bad_init_values_in_a_space_are_refused_before_ray(common, where):
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        compiled({"method": "lora", "common": common}).validate(lambda raw, w: validate_config(raw, w))


def test_log_scale_columns_are_the_table_columns_the_space_samples_by_factors():
    """The report's plots put these on log axes (a learning rate searched log-uniformly)."""
    from raymt.search.space import log_scale_columns

    space = SpaceConfig.model_validate(SPACE)
    assert log_scale_columns(space) == ["train.lr", "adapter.size"]
    assert set(log_scale_columns(space)) <= set(compiled().flat_columns())
