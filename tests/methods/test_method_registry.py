"""The method registry: what it holds, what it refuses, and how it reports user mistakes."""

from __future__ import annotations

import pytest

from raymt.errors import ConfigError
from raymt.methods import available_methods, get_method, registry
from raymt.methods.base import FineTuneMethod, MethodParams
from raymt.methods.full import FullMethod
from raymt.methods.lora import LoraMethod, LoraParams


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _method(name="toy", params_cls=MethodParams, paper="Doe et al., 2024, ACL"):
    class Toy(FullMethod):
        pass

    Toy.name, Toy.params_cls, Toy.paper = name, params_cls, paper
    return Toy


def test_builtin_methods_are_registered():
    assert available_methods() == ["adapter", "full", "ia3", "lora", "prefix", "prompt"]


def test_get_method_returns_a_fresh_instance_of_the_class():
    method = get_method("lora")
    assert isinstance(method, LoraMethod) and method is not get_method("lora")


def test_unknown_method_suggests_the_close_name():
    with pytest.raises(ConfigError) as err:
        get_method("lorra")
    assert err.value.where == "method.name"
    assert "did you mean 'lora'" in str(err.value)


def test_register_accepts_a_complete_method(isolated_registry):
    registry.register_method(_method("toy_method"))
    assert "toy_method" in available_methods()
    assert get_method("toy_method").name == "toy_method"


def test_register_refuses_a_duplicate_name(isolated_registry):
    with pytest.raises(ConfigError, match="already registered"):
        registry.register_method(_method("lora"))
    assert isinstance(get_method("lora"), LoraMethod)  # the original survives


@pytest.mark.parametrize("name", ["", "LoRA", "1lora", "lo-ra", "lora ", None, "x" * 33])
def test_register_refuses_malformed_names(isolated_registry, name):
    with pytest.raises(ConfigError, match="malformed method name"):
        registry.register_method(_method(name))


def test_register_refuses_params_that_accept_unknown_fields(isolated_registry):
    from pydantic import BaseModel

    class Loose(BaseModel):
        r: int = 1

    with pytest.raises(ConfigError, match="forbid unknown fields"):
        registry.register_method(_method("loose", params_cls=Loose))


def test_register_refuses_a_method_without_a_citation(isolated_registry):
    with pytest.raises(ConfigError, match="cite"):
        registry.register_method(_method("uncited", paper=" "))


def test_register_refuses_an_incomplete_class(isolated_registry):
    class Half(FineTuneMethod):
        name, params_cls, paper = "half", MethodParams, "Doe, 2024"

        def apply(self, model, params=None):
            return model

    with pytest.raises(ConfigError, match="unimplemented"):
        registry.register_method(Half)


def test_bad_params_become_one_line_config_errors_naming_the_field():
    with pytest.raises(ConfigError) as err:
        get_method("lora").validate_params({"r": 0})
    assert err.value.where == "method.r"
    with pytest.raises(ConfigError) as err:
        get_method("lora").validate_params({"rank": 8})  # a typo is not silently ignored
    assert err.value.where == "method.rank"
    assert "alpha" in err.value.fix and "\n" not in str(err.value)


def test_params_accept_a_mapping_an_object_or_none():
    lora = get_method("lora")
    assert lora.validate_params(None) == LoraParams()
    assert lora.validate_params({"r": 4}).r == 4
    params = LoraParams(r=2)
    assert lora.validate_params(params) is params
