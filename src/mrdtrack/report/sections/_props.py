"""Confidence intervals for proportions shown in the report.

Clopper-Pearson ("exact") intervals from `scipy.stats.binomtest(...).proportion_ci(method=
"exact")`; R equivalent ``binom.test(x, n, conf.level=)$conf.int`` (also SAS PROC FREQ
``BINOMIAL(EXACT)``). Conservative: coverage is at least the nominal level. Nothing is computed
here beyond calling scipy.
"""

from __future__ import annotations

from scipy.stats import binomtest


def clopper_pearson(x: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Exact binomial CI of x/n; (None, None) when n = 0."""
    if n <= 0:
        return None, None
    ci = binomtest(int(x), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def ci_text(lo: float | None, hi: float | None) -> str:
    """``33.2–52.6`` (percent, one decimal) or an em dash."""
    if lo is None or hi is None:
        return "—"
    return f"{100 * lo:.1f}–{100 * hi:.1f}"
