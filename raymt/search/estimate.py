"""What the search knows about a configuration before it runs: its storage, its fit to the model.

Storage MB is an objective the sampler computes instead of modelling (raymt's sampler scores
1,024 candidates per proposal), and a branch whose extreme values cannot fit the base model
(200 virtual tokens on a model with 128 positions) is refused before Ray starts, because a trial
that can only fail would otherwise be re-proposed by samplers that ignore failures.
"""

from __future__ import annotations

import json

from raymt.config.load import validate_config
from raymt.methods import get_method
from raymt.object_store import localize
from raymt.search.space import CompiledSpace


def _model_config(cfg, base_path: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base_path, trust_remote_code=cfg.model.trust_remote_code)


def check_space_fits_model(compiled: CompiledSpace, base_path: str, cfg) -> None:
    """Every branch's extreme values against the real base model, before Ray starts.

    The schema alone cannot know that 200 virtual tokens do not fit a model with 128
    positions; the method's own storage estimate checks that against the model's config.
    """
    model_config = _model_config(cfg, base_path)

    def check(raw: dict, where: str) -> None:
        trial = validate_config(raw, where)
        get_method(trial.method.name).estimate_bytes(model_config, trial.method.params)

    compiled.validate(check)


def storage_estimator(cfg, compiled: CompiledSpace, prepared):
    """Storage MB of a sampled configuration, computed before it runs (the sampler uses it)."""
    from raymt.config.schema import ExperimentConfig

    model_config = _model_config(cfg, localize(prepared.base_path))
    cache: dict[str, float] = {}

    def estimate(params: dict) -> float:
        trial_cfg = ExperimentConfig.model_validate(compiled.to_raw_config(params))
        key = json.dumps(trial_cfg.method.model_dump(mode="json"), sort_keys=True)
        if key not in cache:
            method = get_method(trial_cfg.method.name)
            cache[key] = method.estimate_bytes(model_config, trial_cfg.method.params) / 1e6
        return cache[key]

    return estimate
