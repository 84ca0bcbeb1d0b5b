"""Survival analysis with R `survival` conventions: Kaplan-Meier, follow-up, log-rank, Cox, Firth,
competing risks.

This package knows nothing of myeloma or MRD: functions take a frame and column names.
Names are resolved lazily so that ``import mrdtrack.survival`` stays fast (numba kernels are
compiled on first use and cached on disk).
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    # the module is km.py: a submodule named like the function would shadow it once imported
    "kaplan_meier": "km",
    "KaplanMeier": "km",
    "KaplanMeierBatch": "km",
    "kaplan_meier_batched": "km",
    "median_followup": "followup",
    "MedianFollowUp": "followup",
    "logrank_test": "logrank",
    "logrank_batched": "logrank",
    "LogrankResult": "logrank",
    "LogrankBatch": "logrank",
    "cox_ph": "cox",
    "CoxFit": "cox",
    "cox_ph_batched": "cox",
    "CoxBatch": "cox",
    "CoxTest": "cox",
    "Concordance": "cox",
    "PHTest": "cox",
    "fit_cox_data": "cox",
    "analyse_trials": "batch",
    "TrialAnalyses": "batch",
    "cumulative_incidence": "competing",
    "gray_test": "competing",
    "fine_gray": "competing",
    "CumulativeIncidence": "competing",
    "GrayTest": "competing",
    "FineGrayFit": "competing",
    "fit_firth": "firth",
    "FirthCoxFit": "firth",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'mrdtrack.survival' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mrdtrack.survival.{module}"), name)


def __dir__() -> list[str]:
    return __all__
