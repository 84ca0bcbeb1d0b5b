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
