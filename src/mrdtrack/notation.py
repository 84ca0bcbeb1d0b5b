"""MRD results and levels as laboratories write them.

Lab reports rarely say ``negative`` with a separate limit-of-detection column. They write
"NEG", "Not detected", "<LOD", "<1e-5", "0.001%", "2x10-4" or "positive 2x10-4". This module
reads each such *notation* into the three things mrdtrack keeps (``docs/data-format.md``,
"MRD results as labs write them"):

- ``result``: ``negative`` or ``positive`` (the status);
- ``level``: the clonal fraction measured (a fraction of cells, 0.001% = 1e-5), for a positive
  result that states it;
- ``sensitivity``: the limit of detection the sample reached, for a negative result that
  states it ("<1e-5"): the level is then *left-censored* at that sensitivity (below 1e-5, not
  zero), which is how mrdtrack reads every negative with a sensitivity.

Numbers: ``1e-5``, ``0.00001``, ``10^-5``, ``10^(-5)``, ``2x10-4``, ``2x10^-4``, ``2×10^-4``,
``2*10^-4`` (superscript digits are not read); a percentage ``0.001%`` is divided by 100; with a
decimal comma ``0,001%``. A value that is not one of these is left alone (the validator then
reports it as an unknown code), never guessed.

The study map has the last word: values recoded under ``[tables.mrd.codes.result]`` are
recoded before this reading, and ``lab_notation = false`` under ``[study]`` turns it off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

NEGATIVE_WORDS = (
    "neg",
    "negative",
    "not detected",
    "undetected",
    "undetectable",
    "not detectable",
    "mrd-",
    "mrd neg",
    "mrd negative",
    "mrd-negative",
    "below lod",
    "below the limit of detection",
)
POSITIVE_WORDS = (
    "pos",
    "positive",
    "detected",
    "detectable",
    "mrd+",
    "mrd pos",
    "mrd positive",
    "mrd-positive",
)
LOD_WORDS = ("lod", "llod", "lloq", "the limit of detection", "limit of detection")

_POWER = re.compile(r"^(?:(\d*\.?\d+)[x*])?10(\^|\*\*)?\(?([-+]?\d+)\)?$")
_PLAIN = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$")
_WORDS = sorted(NEGATIVE_WORDS + POSITIVE_WORDS, key=len, reverse=True)
_PREFIX = re.compile(
    r"^(" + "|".join(re.escape(w) for w in _WORDS) + r")(?:\s*[:,(]\s*|\s+|$)(?:at\s+)?(.*?)\)?$"
)


@dataclass(frozen=True)
class Reading:
    """What a notation says: status, level (clonal fraction) and sensitivity (LOD)."""

    result: str
    level: float | None = None
    sensitivity: float | None = None


def _normalise(text: str, decimal_comma: bool) -> str:
    s = " ".join(text.strip().lower().split())
    s = s.replace("\u2212", "-").replace("\u00d7", "x")
    if decimal_comma:
        s = s.replace(",", ".")
    return s


def lab_number(text: str, *, decimal_comma: bool = False, percent: bool = True) -> float | None:
    """A number as labs print it, or None: ``1e-5``, ``10^-5``, ``2x10-4``, ``0.001%``."""
    s = _normalise(text, decimal_comma).replace(" ", "")
    scale = 1.0
    if percent and s.endswith("%"):
        s, scale = s[:-1], 0.01
    m = _POWER.match(s)
    if m is not None:
        mant, sep, exp = m.groups()
        if mant is None and sep is None:
            return None  # "10-5" alone is not a power of ten
        value = float(mant or 1.0) * 10.0 ** int(exp)
    elif _PLAIN.match(s):
        value = float(s)
    else:
        return None
    return value * scale


def read_notation(text: str, *, decimal_comma: bool = False) -> Reading | None:
    """Read one MRD result as a lab writes it; None when it is not a known notation."""
    s = _normalise(text, decimal_comma)
    if s in NEGATIVE_WORDS:
        return Reading("negative")
    if s in POSITIVE_WORDS:
        return Reading("positive")
    if s.startswith("<"):
        return _below(s[1:].strip(), decimal_comma)
    m = _PREFIX.match(s)
    if m is not None:
        word, rest = m.group(1), m.group(2).strip()
        status = "negative" if word in NEGATIVE_WORDS else "positive"
        if not rest:
            return Reading(status)
        if status == "negative":
            if rest.startswith("<"):
                below = _below(rest[1:].strip(), decimal_comma)
                return below
            return None
        if rest.startswith("<"):
            return None  # "positive <1e-5": detected below the limit? not guessed
        level = lab_number(rest, decimal_comma=decimal_comma)
        if level is None or not 0 < level <= 1:
            return None
        return Reading("positive", level=level)
    level = lab_number(s, decimal_comma=decimal_comma)
    if level is not None and 0 < level <= 1:
        return Reading("positive", level=level)
    return None


def _below(rest: str, decimal_comma: bool) -> Reading | None:
    if rest in LOD_WORDS:
        return Reading("negative")
    lod = lab_number(rest, decimal_comma=decimal_comma)
    if lod is None or not 0 < lod < 1:
        return None
    return Reading("negative", sensitivity=lod)


def lab_number_expr(text: pl.Expr, *, decimal_comma: bool, percent: bool) -> pl.Expr:
    """Vectorised `lab_number` for a text column (null where not a number)."""
    t = text.str.replace_all("\u2212", "-", literal=True).str.replace_all(" ", "", literal=True)
    t = t.str.to_lowercase().str.replace_all("\u00d7", "x", literal=True)
    if decimal_comma:
        t = t.str.replace_all(",", ".", literal=True)
    scale = pl.lit(1.0)
    if percent:
        is_pct = t.str.ends_with("%")
        scale = pl.when(is_pct).then(pl.lit(0.01)).otherwise(pl.lit(1.0))
        t = pl.when(is_pct).then(t.str.strip_suffix("%")).otherwise(t)
    pat = _POWER.pattern
    mant = t.str.extract(pat, 1)
    sep = t.str.extract(pat, 2)
    exp = t.str.extract(pat, 3).cast(pl.Float64, strict=False)
    is_power = exp.is_not_null() & (mant.is_not_null() | sep.is_not_null())
    power = mant.cast(pl.Float64, strict=False).fill_null(1.0) * pl.lit(10.0).pow(exp)
    plain = pl.when(t.str.contains(_PLAIN.pattern)).then(t.cast(pl.Float64, strict=False))
    return pl.when(is_power).then(power).otherwise(plain) * scale
