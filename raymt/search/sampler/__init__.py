"""The sampler stack: what proposes the next configuration of a search.

``options`` is the YAML side (pydantic only: loading a config never imports torch or Optuna);
``registry`` builds the sampler a config names; ``cost_aware`` is raymt's own sampler, built from
``candidates`` (whole configurations of a define-by-run space), ``gp`` (its quality model),
``acquisition`` (EHVI) and ``transfer`` (a prior from searches on related tasks).
"""
