"""R's fitting constants and the test-result type shared by the survival regressions.

Cox (:mod:`~mrdtrack.survival.cox`), Firth (:mod:`~mrdtrack.survival.firth`) and Fine-Gray
(:mod:`~mrdtrack.survival.competing`) import these from here, so that none of them imports
another for a constant or a result type (the cycle ``cox <-> firth`` is gone).

The Cox defaults are R ``survival::coxph.control()``: ``eps = 1e-9`` (our ``tol``),
``toler.chol = .Machine$double.eps^0.75``, ``iter.max = 20`` (our ``max_iter``),
``toler.inf = sqrt(eps)``. Argument names follow ``docs/CONVENTIONS.md`` ("Argument names").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import special

__all__ = [
    "COX_MAX_ITER",
    "COX_TOL",
    "COX_TOLER_CHOL",
    "COX_TOLER_INF",
    "SPAN_INF",
    "CoxTest",
    "chisq_test",
    "tests_table",
]

COX_TOL = 1e-9  # R coxph.control(eps): relative change of the log partial likelihood
COX_MAX_ITER = 20  # R coxph.control(iter.max)
COX_TOLER_INF = math.sqrt(COX_TOL)  # R coxph.control(toler.inf)
COX_TOLER_CHOL = float(np.finfo(np.float64).eps ** 0.75)  # R coxph.control(toler.chol)
# mrdtrack's own rule (not R's): |beta| * range(x) beyond which a coefficient still moving when
# Newton runs out of iterations is called infinite (monotone likelihood)
SPAN_INF = 20.0


@dataclass(frozen=True)
class CoxTest:
    """A chi-square test: statistic, degrees of freedom, p-value.

    The one test-result type of the survival regressions: ``CoxFit.tests``,
    ``FirthCoxFit.tests`` / ``term_test`` / ``penalised_lrt`` and ``FineGrayFit.lr_test``.
    """

    statistic: float
    df: int
    p_value: float


def chisq_test(statistic: float, df: int) -> CoxTest:
    """A :class:`CoxTest` with the upper-tail chi-square p-value on ``df`` degrees of freedom."""
    return CoxTest(float(statistic), int(df), float(special.chdtrc(df, statistic)))


def tests_table(tests: Mapping[str, CoxTest]) -> pl.DataFrame:
    """Global tests as a tidy frame: test, statistic, df, p_value (one row per test)."""
    return pl.DataFrame(
        {
            "test": list(tests),
            "statistic": [t.statistic for t in tests.values()],
            "df": [t.df for t in tests.values()],
            "p_value": [t.p_value for t in tests.values()],
        }
    )
