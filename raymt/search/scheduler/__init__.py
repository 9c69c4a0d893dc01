"""Early stopping of trials: raymt's Tune schedulers.

``options`` is the YAML side (pydantic only: loading a config never imports Ray); ``mo_asha`` is
multi-objective ASHA, ``asha`` Tune's single-metric ASHA and no early stopping with the same
record of stopped trials, ``marker`` the Tune callback that writes that record into every result,
and ``build`` turns a validated config into a scheduler.
"""
