"""Parse landmark / window times given as days or as "24m", "2y", "730d"."""

from __future__ import annotations

import math
import re

from mrdtrack.schema import DAYS_PER_MONTH, DAYS_PER_YEAR

_PATTERN = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(d|day|days|m|mo|month|months|y|yr|year|years)?\s*$"
)
_FACTORS = {"d": 1.0, "m": DAYS_PER_MONTH, "y": DAYS_PER_YEAR}


def as_study_day(value: int | float | str, name: str = "time") -> int:
    """A time as a whole study day: ints/whole floats as days; "24m" = floor(24 x 30.4375).

    Months are 30.4375 days and years 365.25 days (``mrdtrack.schema``); the product is rounded
    *down* to a whole study day, so "24m" is day 730 and "12m" day 365 (a landmark falls on the
    last whole day that has fully elapsed).
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number of days or a string like '24m'")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{name} in days must be a whole number, got {value!r}")
        return int(value)
    if isinstance(value, str):
        m = _PATTERN.match(value.lower())
        if not m:
            raise ValueError(
                f"{name} {value!r} not understood; use days (730), '730d', '24m' or '2y'"
            )
        unit = (m.group(2) or "d")[0]
        return math.floor(float(m.group(1)) * _FACTORS[unit] + 1e-9)
    raise TypeError(f"{name} must be a number of days or a string like '24m'")
