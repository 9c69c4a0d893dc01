"""The plan of a search before launch: memory per worker, checkpoint size, bytes to storage.

``raymt plan SPACE.yaml`` / :func:`raymt.api.plan`. :mod:`raymt.plan.memory` and
:mod:`raymt.plan.storage` are plain arithmetic (no torch, no Ray); :mod:`raymt.plan.build` reads
the config and the methods' closed formulas. docs/plan.md explains every figure.
"""
