"""Results analysis: Pareto fronts, hypervolume, significance, plots and the report.

Works on pandas DataFrames only and never imports Ray, so a results folder can be
analysed on a laptop without a cluster (or Ray) installed.
"""

from raymt.analysis.front import Front
from raymt.analysis.pareto import (
    DEFAULT_OBJECTIVES,
    default_reference,
    hypervolume,
    pareto_front,
    pareto_mask,
)
from raymt.analysis.report import build_report, write_report
from raymt.analysis.results import load, load_history, write_results
from raymt.analysis.significance import significance_groups, significant_front

__all__ = [
    "DEFAULT_OBJECTIVES",
    "Front",
    "build_report",
    "default_reference",
    "hypervolume",
    "load",
    "load_history",
    "pareto_front",
    "pareto_mask",
    "significance_groups",
    "significant_front",
    "write_report",
    "write_results",
]
