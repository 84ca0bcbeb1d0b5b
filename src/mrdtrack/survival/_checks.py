"""Input checks and confidence-interval helpers shared by every survival estimator.

One place, one message format (``docs/CONVENTIONS.md``: a clear one-line error that names the
column and counts the rows, never shows a value):

- a missing column: ``"time column 'tt' not found; available columns: a, b, c"`` (every missing
  column of a call in one message, via :func:`mrdtrack._frames.require_columns`);
- bad values: ``"event column 'e': 2 rows with an event code outside {0, 1}; 1 = event,
  0 = censored"`` (role, column, count, problem, hint).

Used by Kaplan-Meier, follow-up, log-rank, Cox/Firth data preparation and competing risks.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import special

from mrdtrack._frames import require_columns
from mrdtrack.survival import _kernels_km

__all__ = [
    "CONF_TYPES",
    "TIES",
    "bad_rows",
    "check_conf_type",
    "check_entry",
    "check_event",
    "check_ties",
    "check_time",
    "check_weights",
    "column",
    "group_codes",
    "numeric",
    "probability_limits",
    "require_columns",
    "survival_limits",
    "z_value",
]

CONF_TYPES = ("log", "log-log", "plain")
TIES = ("efron", "breslow")


# --------------------------------------------------------------------------- messages
def bad_rows(name: str, count: int, problem: str, role: str = "", hint: str = "") -> ValueError:
    """The one bad-value message: ``"{role} column {name!r}: {count} row(s) with {problem}"``."""
    rows = "1 row" if count == 1 else f"{count} rows"
    prefix = f"{role} column" if role else "column"
    msg = f"{prefix} {name!r}: {rows} with {problem}"
    if hint:
        msg += f"; {hint}"
    return ValueError(msg)


# --------------------------------------------------------------------------- columns
def column(df: pl.DataFrame, name: str, role: str) -> pl.Series:
    """Column ``name`` (present, no missing values) or a ValueError in the shared format."""
    require_columns(df, {role: name})
    s = df.get_column(name)
    n_null = s.null_count()
    if n_null:
        raise bad_rows(
            name,
            n_null,
            "a missing value",
            role,
            "remove or impute them first (no row is dropped silently)",
        )
    return s


def _float_column(df: pl.DataFrame, name: str, role: str) -> np.ndarray:
    s = column(df, name, role)
    if s.dtype == pl.Boolean:
        s = s.cast(pl.Int8)
    if not s.dtype.is_numeric():
        raise ValueError(f"{role} column {name!r} must be numeric, got {s.dtype}")
    return s.cast(pl.Float64).to_numpy()


def _nonfinite(name: str, count: int, role: str) -> ValueError:
    return bad_rows(name, count, "a non-finite value (NaN or infinity)", role)


def numeric(df: pl.DataFrame, name: str, role: str) -> np.ndarray:
    """A numeric or boolean column as finite float64 (True = 1)."""
    x = _float_column(df, name, role)
    bad = ~np.isfinite(x)
    if bad.any():
        raise _nonfinite(name, int(bad.sum()), role)
    return x


def check_time(df: pl.DataFrame, name: str, role: str = "time") -> np.ndarray:
    """A finite, non-negative time column as float64 (checked in one compiled pass)."""
    t = _float_column(df, name, role)
    nonfinite, negative, _ = _kernels_km.scan_values(t)
    if nonfinite:
        raise _nonfinite(name, nonfinite, role)
    if negative:
        raise bad_rows(
            name, negative, "a negative time", role, "times are durations from the origin"
        )
    return t


def check_event(df: pl.DataFrame, name: str, role: str = "event") -> np.ndarray:
    """A 0/1 (or boolean) event column as float64 (1 = event, 0 = censored; one pass)."""
    e = _float_column(df, name, role)
    nonfinite, _, not01 = _kernels_km.scan_values(e)
    if nonfinite:
        raise _nonfinite(name, nonfinite, role)
    if not01:
        raise bad_rows(name, not01, "an event code outside {0, 1}", role, "1 = event, 0 = censored")
    return e


def check_entry(
    df: pl.DataFrame, name: str, time: np.ndarray, role: str = "entry", time_name: str = "time"
) -> np.ndarray:
    """Entry (left-truncation, ``start``) times: finite, >= 0 and strictly before the exit."""
    a = check_time(df, name, role)
    bad = a >= time
    if bad.any():
        raise bad_rows(
            name,
            int(bad.sum()),
            f"{role} >= {time_name}",
            role,
            f"each interval is ({role}, {time_name}] with {role} < {time_name}",
        )
    return a


def check_weights(df: pl.DataFrame, name: str, positive: bool = False) -> np.ndarray:
    """Case weights: finite and >= 0 (``positive=True``: > 0, as R ``coxph``)."""
    w = numeric(df, name, "weights")
    bad = w <= 0 if positive else w < 0
    if bad.any():
        raise bad_rows(name, int(bad.sum()), "a weight <= 0" if positive else "a weight < 0")
    return w


def group_codes(df: pl.DataFrame, name: str, role: str = "group") -> tuple[np.ndarray, list[str]]:
    """Integer codes and string labels of a grouping column, levels sorted as R sorts factors.

    Numbers sort numerically and print without a trailing ``.0`` when integral (as R's
    ``factor(c(1, 2))`` gives levels "1", "2"); strings sort by code point.
    """
    s = column(df, name, role)
    if s.dtype.is_float():
        v = s.to_numpy()
        if not np.isfinite(v).all():
            raise bad_rows(name, int((~np.isfinite(v)).sum()), "a non-finite value", role)
        if np.all(v == np.round(v)):
            s = s.cast(pl.Int64)
    if s.dtype.is_numeric():
        v = s.to_numpy()
        lo, hi = (int(v.min()), int(v.max())) if s.dtype.is_integer() and v.size else (0, -1)
        if hi >= lo and hi - lo <= max(v.size, 1024):
            # small integer codes (0/1 arms, strata): presence per value, O(n), no sort; codes
            # that already start at 0 are used as they are (no copy)
            raw = v.astype(np.int64, copy=False)
            if lo != 0:
                raw = raw - lo
            present = np.bincount(raw) > 0
            levels = np.flatnonzero(present) + lo
            codes = raw if present.all() else (np.cumsum(present) - 1)[raw]
            return codes, [str(x) for x in levels.tolist()]
        levels = np.unique(v)
        if levels.shape[0] <= 32:
            # a few comparisons per level beat a binary search per row
            codes = np.zeros(v.shape[0], dtype=np.int64)
            for lev in levels[1:]:
                codes += v >= lev
        else:
            codes = np.searchsorted(levels, v)
        labels = [str(x) for x in levels.tolist()]
    else:
        s = s.cast(pl.String)
        labels = sorted(s.unique().to_list())
        codes = s.replace_strict(labels, list(range(len(labels))), return_dtype=pl.Int64).to_numpy()
    return codes.astype(np.int64, copy=False), labels


# --------------------------------------------------------------------------- options
def check_ties(ties: str) -> str:
    """``"efron"`` or ``"breslow"`` (case-insensitive), else a ValueError."""
    t = str(ties).lower()
    if t not in TIES:
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    return t


def check_conf_type(conf_type: str) -> str:
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    return conf_type


def z_value(conf_level: float) -> float:
    """Two-sided normal quantile of a confidence level (R ``qnorm(1 - (1 - conf.int)/2)``)."""
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    return float(special.ndtri(1.0 - (1.0 - conf_level) / 2.0))


# --------------------------------------------------------------------------- CI transforms
def survival_limits(
    surv: np.ndarray, std_err: np.ndarray, conf_type: str, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits of a survival curve from the SE of the cumulative hazard, as R
    ``survfit_confint`` (Kaplan-Meier, reverse Kaplan-Meier).

    ``log``: exp(log S -/+ z se), upper clipped at 1, NA where S = 0.
    ``log-log``: exp(-exp(log(-log S) -/+ z se / log S)), NA where S is 0 or 1.
    ``plain``: S -/+ z se S clipped to [0, 1].
    """
    check_conf_type(conf_type)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            # the same operations in place: three arrays of the curve's length, not eight
            lx = np.where(surv == 0, np.nan, surv)
            np.log(lx, out=lx)
            zse = z * std_err
            upper = np.add(lx, zse)
            np.exp(upper, out=upper)
            np.minimum(upper, 1.0, out=upper)
            lower = np.subtract(lx, zse, out=lx)
            np.exp(lower, out=lower)
        elif conf_type == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            se2 = z * std_err / np.log(xx)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        else:
            se2 = std_err * surv * z
            # R pmax/pmin propagate NaN (S = 0 with an infinite SE gives NA)
            lower = np.where(np.isnan(se2), np.nan, np.maximum(surv - se2, 0.0))
            upper = np.where(np.isnan(se2), np.nan, np.minimum(surv + se2, 1.0))
    return lower, upper


def probability_limits(
    p: np.ndarray, se: np.ndarray, z: float, conf_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI of a state probability from its own SE, with R ``survfit``'s transforms
    (cumulative incidence).

    "log": exp(log p -/+ z se/p); "log-log": exp(-exp(log(-log p) -/+ z se/(p log p)));
    "plain": p -/+ z se. Bounds are clipped to [0, 1]; undefined bounds (p = 0, or p = 1 on
    log-log) are NaN, as R returns NA.
    """
    check_conf_type(conf_type)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            lo = np.clip(p - z * se, 0.0, 1.0)
            hi = np.clip(p + z * se, 0.0, 1.0)
        elif conf_type == "log":
            w = z * se / p
            lo = np.where(p > 0, np.exp(np.log(p) - w), np.nan)
            hi = np.where(p > 0, np.minimum(np.exp(np.log(p) + w), 1.0), np.nan)
        else:
            ok = (p > 0) & (p < 1)
            lp = np.log(p)
            w = z * se / (p * lp)
            lo = np.where(ok, np.exp(-np.exp(np.log(-lp) - w)), np.nan)
            hi = np.where(ok, np.exp(-np.exp(np.log(-lp) + w)), np.nan)
    return lo, hi
