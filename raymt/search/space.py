"""A declarative, conditional search space compiled to an Optuna define-by-run function.

Why define-by-run: the space is conditional (LoRA's rank exists only when the method is LoRA).
With Optuna's define-by-run API (Akiba et al. 2019, KDD) a parameter is suggested only on the
branch that is taken, so TPE models each branch separately and the results table holds NaN
where a parameter does not apply, instead of a meaningless value.

YAML shape (under ``search.space``)::

    method: [full, lora, adapter]            # the branch variable (a list, or one name)
    common:                                  # any trial-config field, as a dotted path
      train.lr: {log_uniform: [1.0e-4, 3.0e-3]}
      augment.word_dropout.ratio: {uniform: [0.0, 0.5]}
      init.stage: {choices: [none, denoise]}  # warm start or not; init.denoise.* only on its branch
    methods:                                 # per-method parameters, only on that branch
      lora: {r: {choices: [4, 8, 16]}, alpha_over_r: {choices: [1, 2]}}
      adapter: {size: {int: [8, 64], log: true}}

A distribution is ``{choices: [...]}``, ``{uniform: [lo, hi]}``, ``{log_uniform: [lo, hi]}``
or ``{int: [lo, hi], step: 1, log: false}``; a bare value fixes the parameter.

The names of the parameters (in points_to_evaluate, Optuna's study, the trials table and the
report) are the names above: ``train.lr``, ``augment.word_dropout.ratio``, ``init.stage``,
``lora.r``, ``lora.alpha_over_r``, ``adapter.size`` and ``method`` (raymt.results.columns).
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raymt.errors import ConfigError
from raymt.results.columns import METHOD, is_missing, method_param_name

LORA_ALPHA_OVER_R = "alpha_over_r"
STAGE_PATH = "init.stage"  # the warm-start branch variable (raymt.train.init_stage)
STAGE_SETTINGS = "init.denoise."


class Dist(BaseModel):
    """One parameter's distribution; exactly one of the keys is set."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    choices: list[Any] | None = Field(None, description="Categorical: one of these values.")
    uniform: tuple[float, float] | None = Field(None, description="Float uniform in [lo, hi].")
    log_uniform: tuple[float, float] | None = Field(None, description="Float log-uniform in [lo, hi] (lo > 0).")
    integer: tuple[int, int] | None = Field(None, alias="int", description="Integer in [lo, hi].")
    step: float | None = Field(None, gt=0, description="Step of uniform/int values.")
    log: bool = Field(False, description="Log scale for int.")

    @model_validator(mode="after")
    def _one_kind(self) -> Dist:
        kinds = [k for k in ("choices", "uniform", "log_uniform", "integer") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of choices / uniform / log_uniform / int")
        if self.choices is not None and len(self.choices) == 0:
            raise ValueError("choices is empty: list at least one value")
        for k in ("uniform", "log_uniform", "integer"):
            bounds = getattr(self, k)
            if bounds is not None and bounds[0] > bounds[1]:
                raise ValueError(f"{k} bounds are reversed: [{bounds[0]}, {bounds[1]}]")
        if self.log_uniform is not None and self.log_uniform[0] <= 0:
            raise ValueError("log_uniform needs a lower bound > 0")
        return self

    def extremes(self) -> list[Any]:
        """Values that must all be valid for the parameter (used to validate before Ray)."""
        if self.choices is not None:
            return list(self.choices)
        bounds = self.uniform or self.log_uniform or self.integer
        return [bounds[0], bounds[1]]

    def suggest(self, trial, name: str, grid: list[Any] | None = None):
        """``grid``: the values a grid search takes (a categorical over them, which Optuna's
        BruteForceSampler enumerates); ``None`` = the distribution itself."""
        choices = self.choices if grid is None else grid
        if choices is not None:
            if all(isinstance(c, (str, int, float, bool)) or c is None for c in choices):
                return trial.suggest_categorical(name, choices)
            # lists (e.g. target_modules) are not Optuna categoricals: choose by a readable label
            labels = [_label(c) for c in choices]
            picked = trial.suggest_categorical(name, labels)
            return copy.deepcopy(choices[labels.index(picked)])
        if self.integer is not None:
            return trial.suggest_int(name, self.integer[0], self.integer[1], step=int(self.step or 1), log=self.log)
        if self.log_uniform is not None:
            return trial.suggest_float(name, self.log_uniform[0], self.log_uniform[1], log=True)
        return trial.suggest_float(name, self.uniform[0], self.uniform[1], step=self.step)


def _label(value) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return str(value)


def _as_dist(value) -> Dist | Any:
    if isinstance(value, dict):
        return Dist.model_validate(value)
    return value  # fixed


def _named_dist(name: str, value) -> Dist | Any:
    """Parse one parameter's distribution; an error names the parameter it belongs to."""
    from pydantic import ValidationError

    try:
        return _as_dist(value)
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"parameter {name!r}: {first['msg'].removeprefix('Value error, ')}") from None


class SpaceConfig(BaseModel):
    """What a search varies: the method branch, common parameters (dotted config paths) and each method's own."""

    model_config = ConfigDict(extra="forbid")
    method: list[str] | str = Field(default_factory=lambda: ["lora"], description="Methods to search over (the branch variable).")
    common: dict[str, Any] = Field(default_factory=dict, description="Dotted trial-config paths -> distribution or fixed value, for every method.")
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-method parameters -> distribution or fixed value.")

    @model_validator(mode="after")
    def _parse(self) -> SpaceConfig:
        self.common = {k: _named_dist(k, v) for k, v in self.common.items()}
        for path, dist in self.common.items():
            parts = path.split(".")
            if parts[0] == "augment" and len(parts) > 3 and parts[2] == "params" and isinstance(dist, Dist):
                # One pool per operator is built before the trials, with the config's params: a
                # trial's own sampled params would be silently ignored.
                raise ValueError(
                    f"parameter {path!r}: augmentation params cannot be searched (each operator's pool is "
                    f"built once per experiment); fix them under augment.{parts[1]}.params and search "
                    f"augment.{parts[1]}.ratio"
                )
        self.methods = {m: {k: _named_dist(f"{m}.{k}", v) for k, v in ps.items()} for m, ps in self.methods.items()}
        if isinstance(self.method, list) and not self.method:
            raise ValueError("method is an empty list: name at least one method")
        return self

    @property
    def method_list(self) -> list[str]:
        return [self.method] if isinstance(self.method, str) else list(self.method)


def log_scale_columns(space: SpaceConfig) -> list[str]:
    """Trials-table columns the space samples on a log scale: the report's plots draw them on
    log axes, so a learning rate searched by factors is not squeezed against one end."""

    def is_log(dist) -> bool:
        return isinstance(dist, Dist) and (dist.log_uniform is not None or (dist.integer is not None and dist.log))

    cols = [path for path, dist in space.common.items() if is_log(dist)]
    for method, params in space.methods.items():
        cols += [method_param_name(method, param) for param, dist in params.items() if is_log(dist)]
    return cols


def searched_dists(space: SpaceConfig) -> dict[str, Dist]:
    """Every searched (not fixed) parameter by its name in the space: ``train.lr``, ``lora.r``."""
    dists = {path: d for path, d in space.common.items() if isinstance(d, Dist)}
    for method in space.method_list:
        for param, d in space.methods.get(method, {}).items():
            if isinstance(d, Dist):
                dists[method_param_name(method, param)] = d
    return dists


def grid_choices(space: SpaceConfig, values: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The values each searched parameter takes in a grid search: ``values[name]`` where given,
    else all of a ``choices`` or ``int`` parameter's own. A continuous parameter has no grid of
    its own, so one without values (or a name the space does not search, or a value outside the
    distribution) is a ``ValueError`` naming it (raised while the config is validated)."""
    dists = searched_dists(space)
    for name in values:
        if name not in dists:
            close = difflib.get_close_matches(name, list(dists), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"the space searches {', '.join(dists) or 'nothing'}"
            raise ValueError(f"sampler.grid.values.{name}: the space does not search {name!r} ({hint})")
    out: dict[str, list[Any]] = {}
    for name, dist in dists.items():
        given = values.get(name)
        if given is None:
            if dist.choices is not None:
                out[name] = list(dist.choices)
            elif dist.integer is not None:
                out[name] = list(range(dist.integer[0], dist.integer[1] + 1, int(dist.step or 1)))
            else:
                kind, (lo, hi) = ("log_uniform", dist.log_uniform) if dist.log_uniform is not None else ("uniform", dist.uniform)
                raise ValueError(
                    f"parameter {name!r} is continuous ({kind} [{lo:g}, {hi:g}]) and has no grid: "
                    f"list its values under search.sampler.grid.values.{name}"
                )
            continue
        for value in given:
            if dist.choices is not None:
                ok = value in dist.choices
                span = f"choices {dist.choices}"
            else:
                lo, hi = dist.uniform or dist.log_uniform or dist.integer
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
                ok = ok and (dist.integer is None or float(value).is_integer())
                span = f"{'int' if dist.integer is not None else 'range'} [{lo:g}, {hi:g}]"
            if not ok:
                raise ValueError(f"sampler.grid.values.{name}: {value!r} is outside the space's {span}")
        out[name] = [int(v) for v in given] if dist.integer is not None else list(given)
    return out


class _GridWalk:
    """A stand-in trial that takes the next untried branch of a define-by-run space, depth first:
    counting its leaves counts the configurations a grid search runs."""

    def __init__(self, path: list[int]):
        self.path = path  # index of the value taken at each parameter so far
        self.sizes: list[int] = []

    def suggest_categorical(self, name: str, choices):
        depth = len(self.sizes)
        self.sizes.append(len(choices))
        if depth == len(self.path):
            self.path.append(0)
        return choices[self.path[depth]]

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False):
        return self.suggest_categorical(name, list(range(low, high + 1, step)))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False):
        raise ValueError(f"parameter {name!r} is continuous and has no grid")


def count_configurations(space_fn) -> int:
    """How many distinct configurations the define-by-run ``space_fn`` can take (all finite)."""
    count, path = 0, []
    while True:
        walk = _GridWalk(path)
        space_fn(walk)
        count += 1
        path = walk.path[: len(walk.sizes)]
        while path and path[-1] + 1 >= walk.sizes[len(path) - 1]:
            path.pop()
        if not path:
            return count
        path[-1] += 1


def set_path(raw: dict, path: str, value) -> None:
    node = raw
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{path!r} goes through a non-mapping field", where=f"search.space.common.{path}")
    node[parts[-1]] = value


def get_path(raw: dict, path: str, default=None):
    node = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


class CompiledSpace:
    """The space as Optuna sees it (``define_by_run``) and the mapping back to trial configs."""

    def __init__(self, space: SpaceConfig, base_raw: dict, *, where: str = "search.space", grid: dict[str, list[Any]] | None = None):
        self.space = space
        #: a grid search's values per parameter (:func:`grid_choices`); None = the distributions
        self.grid = grid_choices(space, grid) if grid is not None else None
        self.base_raw = {k: v for k, v in base_raw.items() if k != "search"}  # a trial config has no search
        self.where = where
        #: (where, validated trial config) of every value :meth:`validate` checked
        self.checked: list[tuple[str, Any]] = []

    # --- Optuna side --------------------------------------------------------------------------
    def define_by_run(self, trial) -> dict | None:
        """Suggest one configuration; returns constants Tune adds to the trial's config.

        Parameters are named as the space writes them (raymt.results.columns): a common one by
        its config path (``train.lr``), a method's own as ``<method>.<param>`` (``lora.r``)."""
        methods = self.space.method_list
        method = trial.suggest_categorical(METHOD, methods) if len(methods) > 1 else methods[0]
        sampled: dict = {}
        for path, dist in self._common_in_order():
            if isinstance(dist, Dist) and self._active(path, sampled):
                sampled[path] = dist.suggest(trial, path, self._grid_of(path))
        for param, dist in self.space.methods.get(method, {}).items():
            if isinstance(dist, Dist):
                name = method_param_name(method, param)
                dist.suggest(trial, name, self._grid_of(name))
        return {METHOD: method} if len(methods) == 1 else None

    def _grid_of(self, name: str) -> list[Any] | None:
        return None if self.grid is None else self.grid[name]

    def grid_size(self) -> int:
        """Configurations a grid search over this space runs (every branch, each once)."""
        if self.grid is None:
            raise ValueError("not a grid search: the space was compiled without grid values")
        return count_configurations(self.define_by_run)

    def trials_to_run(self, num_samples: int) -> int:
        """``num_samples``, or fewer when a grid has fewer configurations: a grid search stops
        once every configuration has run (Optuna's brute force would repeat one at random)."""
        return num_samples if self.grid is None else min(num_samples, self.grid_size())

    # --- back to a trial config -----------------------------------------------------------------
    def to_raw_config(self, params: dict) -> dict:
        """Tune's flat sampled params -> the raw trial config (validated later by pydantic)."""
        raw = copy.deepcopy(self.base_raw)
        method = params.get("method", self.space.method_list[0])
        params = self._decode(params, method)
        for path, dist in self._common_in_order():
            if not self._active(path, params):
                continue
            value = params[path] if isinstance(dist, Dist) else dist
            set_path(raw, path, _plain(value))
        raw["method"] = self._method_raw(method, params)
        return raw

    def method_raw(self, params: dict) -> dict:
        """The ``method:`` section a sampled configuration gives its trial (raw, unvalidated):
        all its storage cost depends on, so a cache of estimates is keyed by it."""
        method = params.get("method", self.space.method_list[0])
        return self._method_raw(method, self._decode(params, method))

    def _method_raw(self, method: str, params: dict) -> dict:
        base = self.base_raw.get("method")
        method_raw = {**base, "name": method} if isinstance(base, dict) and base.get("name") == method else {"name": method}
        for param, dist in self.space.methods.get(method, {}).items():
            value = params[method_param_name(method, param)] if isinstance(dist, Dist) else dist
            method_raw[param] = _plain(value)
        if method == "lora" and LORA_ALPHA_OVER_R in method_raw:
            ratio = method_raw.pop(LORA_ALPHA_OVER_R)
            method_raw["alpha"] = float(ratio) * float(method_raw.get("r", 8))
        return method_raw

    def flat_columns(self) -> list[str]:
        """Every parameter name of the space, ``method`` first: the trials table's parameter columns."""
        cols = [METHOD, *self.space.common]
        for method in self.space.method_list:
            cols += [method_param_name(method, p) for p in self.space.methods.get(method, {})]
        return cols

    def row_params(self, row) -> dict:
        """A trials-table row's sampled parameters as Tune gave them to the trial: plain values,
        the other branches' (missing) columns left out. Export and seed repeats rebuild a trial's
        config from them."""
        params = {}
        for col in self.flat_columns():
            value = row.get(col)
            if is_missing(value):
                continue
            params[col] = value.item() if hasattr(value, "item") else value
        return params

    def max_ratios(self) -> dict[str, float]:
        """Largest augmentation ratio per operator anywhere in the space (pool sizes)."""
        out: dict[str, float] = {}
        for path, dist in self.space.common.items():
            parts = path.split(".")
            if parts[0] == "augment" and len(parts) == 3 and parts[2] == "ratio":
                values = dist.extremes() if isinstance(dist, Dist) else [dist]
                out[parts[1]] = max(float(v) for v in values)
        return out

    # --- validation before Ray --------------------------------------------------------------------
    def validate(self, validate_raw) -> None:
        """Check every branch and every extreme value against the trial schema.

        ``validate_raw(raw, where)`` validates one raw trial config (raises ConfigError) and
        returns it; the results are kept in :attr:`checked`. Each parameter is varied over its
        extremes with the others at their first value, so a negative rank or a learning rate of 0
        is caught here, naming the space field.
        """
        from raymt.methods import available_methods, get_method

        for i, method in enumerate(self.space.method_list):
            if method not in available_methods():
                close = difflib.get_close_matches(method, available_methods(), n=1)
                raise ConfigError(
                    f"unknown method {method!r}",
                    where=f"{self.where}.method[{i}]",
                    fix=(f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(available_methods())}"),
                )
        for method in self.space.methods:
            if method not in self.space.method_list:
                raise ConfigError(
                    f"parameters given for method {method!r}, which is not searched",
                    where=f"{self.where}.methods.{method}",
                    fix=f"add {method} to search.space.method, or remove this block",
                )
            fields = set(get_method(method).params_cls.model_fields) | ({LORA_ALPHA_OVER_R} if method == "lora" else set())
            for param in self.space.methods[method]:
                if param not in fields:
                    close = difflib.get_close_matches(param, sorted(fields), n=1, cutoff=0.5)
                    other = [m for m in available_methods() if param in get_method(m).params_cls.model_fields]
                    fix = (
                        f"did you mean {close[0]!r}?"
                        if close
                        else f"{param!r} belongs to {', '.join(other)}: move it under search.space.methods.{other[0]}"
                        if other
                        else f"allowed: {', '.join(sorted(fields))}"
                    )
                    raise ConfigError(f"method {method!r} has no parameter {param!r}", where=f"{self.where}.methods.{method}.{param}", fix=fix)
        for path in self.space.common:
            if path.split(".")[0] in ("method", "search", "name", "storage_path"):
                raise ConfigError(
                    f"{path!r} cannot be searched here",
                    where=f"{self.where}.common.{path}",
                    fix="search methods with search.space.method and method parameters under search.space.methods",
                )
        checked = []
        for method in self.space.method_list:
            # each parameter alone on top of the base config, so an error names its field
            for key, dist, label in self._dists(method):
                for value in dist.extremes():
                    label_value = _label(value) if isinstance(value, (list, tuple)) else value
                    where = f"{self.where}.{label}"
                    try:
                        checked.append((where, validate_raw(self._raw_with(method, key, label_value), where)))
                    except ConfigError as err:
                        raise ConfigError(
                            f"value {value!r} is invalid: {err.message}", where=where, fix=err.fix or "change the distribution's bounds/choices"
                        ) from None
            where = f"{self.where} (method {method}, first values)"
            checked.append((where, validate_raw(self.to_raw_config({**self._baseline(), "method": method}), where)))
        self.checked = checked

    def _raw_with(self, method: str, key: str, value) -> dict:
        """The base config with only ``method`` and one sampled parameter applied."""
        saved = (self.space.common, self.space.methods)
        common = {p: d for p, d in self.space.common.items() if not isinstance(d, Dist) or p == key}
        if any(p == key and p.startswith(STAGE_SETTINGS) for p in common):
            common = {STAGE_PATH: "denoise", **common}  # check a stage setting where it applies
        methods = {
            m: {p: d for p, d in ps.items() if not isinstance(d, Dist) or method_param_name(m, p) == key} for m, ps in self.space.methods.items()
        }
        try:
            self.space.common, self.space.methods = common, methods
            return self.to_raw_config({"method": method, key: value})
        finally:
            self.space.common, self.space.methods = saved

    def _common_in_order(self):
        """Common parameters with ``init.stage`` first: the stage's settings depend on it."""
        items = list(self.space.common.items())
        return sorted(items, key=lambda item: item[0] != STAGE_PATH)

    def _active(self, path: str, params: dict) -> bool:
        """``init.denoise.*`` applies only on the denoise branch of ``init.stage`` (a
        conditional parameter like a method's own: NaN in the results where it does not apply)."""
        if not path.startswith(STAGE_SETTINGS):
            return True
        stage = self.space.common.get(STAGE_PATH, get_path(self.base_raw, STAGE_PATH, "none"))
        if isinstance(stage, Dist):
            stage = params.get(STAGE_PATH, stage.extremes()[0])
        return stage != "none"

    def _dists(self, method: str):
        for path, dist in self.space.common.items():
            if isinstance(dist, Dist):
                yield path, dist, f"common.{path}"
        for param, dist in self.space.methods.get(method, {}).items():
            if isinstance(dist, Dist):
                yield method_param_name(method, param), dist, f"methods.{method}.{param}"

    def _baseline(self) -> dict:
        params: dict = {}
        for method in self.space.method_list:
            for key, dist, _ in self._dists(method):
                first = dist.extremes()[0]
                params[key] = _label(first) if isinstance(first, (list, tuple)) else first
        return params

    def _decode(self, params: dict, method: str) -> dict:
        """Labels of list-valued choices back to the lists (as Dist.suggest does)."""
        out = dict(params)
        for key, dist, _ in self._dists(method):
            if dist.choices is not None and key in out and isinstance(out[key], str):
                labels = [_label(c) for c in dist.choices]
                if out[key] in labels:
                    out[key] = copy.deepcopy(dist.choices[labels.index(out[key])])
        return out


def _plain(value):
    """numpy / optuna scalars -> plain Python for YAML/JSON/pydantic."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    return value
