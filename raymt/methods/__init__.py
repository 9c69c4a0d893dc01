"""Fine-tuning methods: a registry of one module per method.

``get_method(name)`` returns a :class:`~raymt.methods.base.FineTuneMethod`; importing this
package registers the built-in methods (``full``, ``lora``, ``adapter``, ``prefix``,
``prompt``, ``ia3``). A new method is a module that subclasses ``FineTuneMethod`` and ends with
``register_method(MyMethod)``; the contract test in ``tests/methods/test_method_contract.py``
then runs it through the same checks as every other method.
"""

from raymt.methods.base import ArtifactPlan, FineTuneMethod, MethodParams, unwrap_model
from raymt.methods.registry import available_methods, get_method, register_method

# Importing a method module registers it.
from raymt.methods import adapter, full, ia3, lora, prefix, prompt  # noqa: F401  isort: skip

__all__ = [
    "ArtifactPlan",
    "FineTuneMethod",
    "MethodParams",
    "available_methods",
    "get_method",
    "register_method",
    "unwrap_model",
]
