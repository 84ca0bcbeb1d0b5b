"""Display formats of the report (results.json keeps the unrounded numbers)."""

from __future__ import annotations

import math
from typing import Any


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, digits: int = 1) -> str:
    if is_missing(x):
        return "NR" if x is None else "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def pct(x: Any, digits: int = 1) -> str:
    """A fraction (0.44) as a percentage ("44.0%")."""
    return "—" if is_missing(x) else f"{100 * x:.{digits}f}%"


def n_pct(n: int, d: int, digits: int = 1) -> str:
    return f"{n} ({100 * n / d:.{digits}f}%)" if d else f"{n}"


def p_value(p: Any) -> str:
    """P values as clinical tables print them: <0.0001, else 4 then 3 decimals."""
    if is_missing(p):
        return "—"
    if p < 1e-4:
        return "<0.0001"
    if p < 0.01:
        return f"{p:.4f}"
    return f"{p:.3f}"


def estimate_ci(est: Any, lo: Any, hi: Any, digits: int = 1, as_pct: bool = False) -> str:
    """``est (lo–hi)``; a missing upper limit (median not reached) prints NR."""

    def f(v: Any) -> str:
        if as_pct:
            return pct(v, digits)
        return num(v, digits)

    return f"{f(est)} ({f(lo)}–{f(hi)})"


def cell(value: Any, fmt: str) -> str:
    """Format one table cell by the column's format code."""
    if value is None:
        return ""
    if fmt == "text" or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if fmt == "int" or (fmt == "auto" and isinstance(value, int)):
        return f"{int(value)}"
    if fmt == "pct":
        return pct(value)
    if fmt == "p":
        return p_value(value)
    if fmt == "sci":
        return f"{value:.2g}"
    if fmt in ("f1", "f2", "f3", "f4"):
        return num(value, int(fmt[1]))
    return num(value, 3)


def p_text(p: Any, name: str = "p") -> str:
    """A p value in running text: ``p = 0.015`` or ``p < 0.0001`` (never ``p = <0.0001``)."""
    shown = p_value(p)
    if shown.startswith("<"):
        return f"{name} < {shown[1:]}"
    return f"{name} = {shown}"


def share(n: int, d: int, digits: int = 1) -> str:
    """``n`` as a percentage of ``d`` with both counts: ``42.7% (44/103)``.

    The one helper for "% of evaluable" labels, so a figure label and the table it repeats
    are the same number (Fig. "MRD state by visit" and its table).
    """
    if not d:
        return f"— (0/{d})"
    return f"{100 * n / d:.{digits}f}% ({n}/{d})"


#: Rates are shown per this many patient-years (the clinical convention).
RATE_PER_PATIENT_YEARS = 100


def rate_per_100py(events: float, person_years: float) -> float | None:
    """Events per 100 patient-years (None without person-time)."""
    if not person_years:
        return None
    return RATE_PER_PATIENT_YEARS * events / person_years
