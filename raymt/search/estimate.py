"""What the search knows about a configuration before it runs: its storage, its fit to the model.

Storage MB is an objective the sampler computes instead of modelling (raymt's sampler scores
1,024 candidates per proposal), and a branch whose extreme values cannot fit the base model
(200 virtual tokens on a model with 128 positions) is refused before Ray starts, because a trial
that can only fail would otherwise be re-proposed by samplers that ignore failures.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from raymt.config.schema import MethodConfig
from raymt.errors import ConfigError
from raymt.methods import get_method
from raymt.object_store import localize
from raymt.search.space import CompiledSpace


def _model_config(cfg, base_path: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base_path, trust_remote_code=cfg.model.trust_remote_code)


def check_space_fits_model(compiled: CompiledSpace, base_path: str, cfg) -> None:
    """Every value :meth:`CompiledSpace.validate` checked, against the real base model.

    The schema alone cannot know that 200 virtual tokens do not fit a model with 128
    positions; the method's own storage estimate checks that against the model's config. The
    trial configs were validated when the space was loaded; they are not validated again.
    """
    model_config = _model_config(cfg, base_path)
    for where, trial in compiled.checked:
        try:
            get_method(trial.method.name).estimate_bytes(model_config, trial.method.params)
        except ConfigError as err:
            raise ConfigError(
                f"does not fit the base model: {err.message}", where=where, fix=err.fix or "change the distribution's bounds/choices"
            ) from None


def storage_estimator(cfg, compiled: CompiledSpace, prepared):
    """Storage MB of a sampled configuration, computed before it runs (the sampler uses it).

    Cached by the configuration's ``method:`` section before anything is validated: of 1,024
    candidates per proposal, most share a handful of method settings, and only the first of each
    is validated (the method section alone) and estimated.
    """
    model_config = _model_config(cfg, localize(prepared.base_path))
    cache: dict[str, float] = {}

    def estimate(params: dict) -> float:
        method_raw = compiled.method_raw(params)
        key = json.dumps(method_raw, sort_keys=True, default=str)
        if key not in cache:
            try:
                method_cfg = MethodConfig.model_validate(method_raw)
            except ValidationError as err:
                raise ConfigError(
                    f"sampled method settings {method_raw} are invalid: {err.errors()[0]['msg']}",
                    where=compiled.where,
                    fix="narrow the space's method parameters",
                ) from None
            cache[key] = get_method(method_cfg.name).estimate_bytes(model_config, method_cfg.params) / 1e6
        return cache[key]

    return estimate
