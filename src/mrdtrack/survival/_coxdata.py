"""The prepared design of a Cox model: validated, expanded, centred and sorted for the kernels.

This is the boundary between the user front-end (:func:`mrdtrack.survival.cox.cox_ph`, frames and
column names) and the fitters (plain arrays), as R separates ``coxph()`` from ``coxph.fit`` /
``agreg.fit``. The Firth fitter (:mod:`mrdtrack.survival.firth`) uses the same object and the same
likelihood kernel, :func:`cox_loglik_derivs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.errors import EstimationError
from mrdtrack.survival._checks import (
    check_entry,
    check_event,
    check_ties,
    check_time,
    check_weights,
    column,
    require_columns,
)
from mrdtrack.survival._design import design_matrix, is_categorical
from mrdtrack.survival._kernels_cox import (
    counting_order_desc,
    gather_rows_centred,
    loglik_derivs,
    union_sorted_unique,
)

__all__ = ["CoxData", "cox_loglik_derivs", "prepare_cox_data"]

_TIMEFIX_TOL = float(np.sqrt(np.finfo(np.float64).eps))  # R aeqSurv(tolerance)


@dataclass(frozen=True)
class CoxData:
    """A validated Cox design, sorted as the kernels need.

    Rows are sorted by stratum (ascending) then by stop time (descending); ``row_index`` maps a
    sorted row back to its row in the caller's frame. ``X`` is centred at ``means``: the
    weighted column means, except 0 for columns whose values are all in {-1, 0, 1} (R
    ``coxph``'s ``nocenter`` default, applied before fitting). The partial likelihood, its
    score and information do not depend on the centring, but the baseline hazard does, and it
    is reported at ``means`` as R ``survfit.coxph`` does.

    Attributes
    ----------
    start : float64 (n,)
        Entry time of the interval ``(start, stop]``; ``-inf`` for right-censored data.
    stop : float64 (n,)
        Event or censoring time (after R's ``timefix`` merging of noise-level differences).
    event : float64 (n,)
        1.0 for an event at ``stop``, 0.0 for censoring.
    X : float64 (n, p), C-contiguous
        Covariates after categorical expansion, centred at ``means``.
    weights : float64 (n,)
        Case weights (all 1.0 without ``weights=``).
    strata : int64 (n,)
        Stratum codes 0..S-1 (all 0 without ``strata=``); ``strata_levels`` holds the labels.
    names : tuple of str
        Column names of ``X`` (R style: ``"armB"`` for level ``B`` of ``arm``).
    cluster : int64 (n,) or None
        Cluster codes 0..C-1 for the robust variance, or None.
    order_start : int64 (n,)
        Row positions sorted by stratum then start time (descending), for the entry sweep.
    row_index : int64 (n,)
        Position of each sorted row in the input frame.
    means : float64 (p,)
        The centring, R's ``fit$means`` (weighted column means; 0 for {-1, 0, 1} columns).
    counting : bool
        True for ``(start, stop]`` data.
    strata_levels : tuple
        The stratum labels, in code order.
    terms : dict
        For each input covariate, the tuple of ``X`` column names it expanded to.
    entry_arrays : tuple or None
        For ``(start, stop]`` data: (start, strata, X, weights) in ``order_start`` order, so
        that the likelihood sweep removes rows from the risk set reading memory sequentially
        (see :attr:`entry_view`).
    """

    start: np.ndarray
    stop: np.ndarray
    event: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    strata: np.ndarray
    names: tuple[str, ...]
    cluster: np.ndarray | None
    order_start: np.ndarray
    row_index: np.ndarray
    means: np.ndarray
    counting: bool
    strata_levels: tuple
    terms: dict
    entry_arrays: tuple | None = field(default=None, repr=False)

    @cached_property
    def entry_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(start, strata, X, weights) in ``order_start`` order, for sequential removal from
        the risk set in the likelihood sweep; the row-order arrays for right-censored data."""
        if not self.counting:
            return self.start, self.strata, self.X, self.weights
        if self.entry_arrays is not None:
            return self.entry_arrays
        o = self.order_start
        return (
            np.ascontiguousarray(self.start[o]),
            np.ascontiguousarray(self.strata[o]),
            np.take(self.X, o, axis=0),
            np.ascontiguousarray(self.weights[o]),
        )

    def sweep_args(self) -> tuple:
        """The row arrays the sweep kernels take first (``loglik_derivs``, ``newton_fit``):
        start, stop, event, X, weights, strata, then the entry-order copies (entry_view)."""
        return (
            self.start,
            self.stop,
            self.event,
            self.X,
            self.weights,
            self.strata,
            *self.entry_view,
        )

    @property
    def n(self) -> int:
        return int(self.stop.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_events(self) -> int:
        return int(np.sum(self.event > 0))


def cox_loglik_derivs(
    cd: CoxData, beta: np.ndarray, ties: str = "efron", information: bool = True
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score vector and observed information at ``beta``.

    One O(n p^2) sweep over the sorted rows (numba, compiled on first use). Ties by Efron (1977)
    or Breslow (1974) with case weights exactly as R ``survival`` (``coxfit6``/``agfit4``); risk
    sets ``{start < t <= stop}``. ``information=False`` skips the p x p matrix (returned zero).

    Returns
    -------
    (loglik, score (p,), information (p, p))
    """
    efron = check_ties(ties) == "efron"
    b = np.ascontiguousarray(beta, dtype=np.float64).reshape(-1)
    if b.shape[0] != cd.p:
        raise ValueError(f"beta has length {b.shape[0]}, the design has {cd.p} columns")
    ll, u, imat = loglik_derivs(*cd.sweep_args(), b, efron, information, cd.counting)
    return float(ll), u, imat


def _as_list(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _codes(col: pl.Series) -> tuple[np.ndarray, tuple]:
    """Integer codes 0..K-1 of any column (sorted levels) and the levels."""
    s = col.cast(pl.String) if is_categorical(col) else col
    levels, inv = np.unique(s.to_numpy(), return_inverse=True)
    return inv.astype(np.int64).reshape(-1), tuple(levels.tolist())


def _strata_codes(df: pl.DataFrame, strata_cols: list[str]) -> tuple[np.ndarray, tuple]:
    """Stratum codes 0..S-1 of the (crossed) strata columns and their labels."""
    n = df.height
    if strata_cols:
        codes = np.zeros(n, dtype=np.int64)
        labels: list[tuple] = []
        parts = []
        for name in strata_cols:
            c, lev = _codes(column(df, name, "strata"))
            parts.append((c, lev))
        # crossed strata: code the observed combinations in sorted order
        combo = np.stack([c for c, _ in parts], axis=1)
        uniq, inv = np.unique(combo, axis=0, return_inverse=True)
        codes = inv.astype(np.int64).reshape(-1)
        for row in uniq:
            labels.append(tuple(parts[k][1][row[k]] for k in range(len(parts))))
        strata_levels = tuple(lab[0] if len(lab) == 1 else lab for lab in labels)
    else:
        codes = np.zeros(n, dtype=np.int64)
        strata_levels = ()

    return codes, strata_levels


def _centring(cols: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """R coxph's centring: weighted column means, except 0 for columns with all values in
    {-1, 0, 1} (R's nocenter default)."""
    sw = w.sum()
    # np.sum(w * c), not the BLAS w @ c: OpenBLAS threads a long dot product, and on a busy
    # machine waiting for its threads cost ~25 ms per call at 10^5 rows (0.2 ms here)
    means = np.array([float(np.sum(w * c)) / sw for c in cols])
    for k, c in enumerate(cols):
        if bool(np.all(np.abs(c) <= 1.0)) and bool(np.all((c == 0) | (np.abs(c) == 1))):
            means[k] = 0.0
    return means


def prepare_cox_data(
    data: Any,
    time: str,
    event: str,
    covariates: str | Sequence[str],
    start: str | None = None,
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
    timefix: bool = True,
) -> CoxData:
    """Validate and prepare a Cox design from a frame.

    Parameters
    ----------
    data : polars or pandas DataFrame
    time : str
        Event/censoring time; the stop time of ``(start, stop]`` intervals when ``start`` is given.
    event : str
        1 (or True) for an event, 0 (or False) for censoring.
    covariates : str or list of str
        Numeric, boolean (coded ``nameTRUE`` as R) or categorical (string, Categorical, Enum)
        columns. Categorical columns are expanded to treatment-coded dummies named
        ``f"{column}{level}"`` as R; the reference level is the first sorted level (the first
        category of an Enum) unless ``reference={column: level}`` says otherwise.
    start : str, optional
        Entry time: rows are intervals ``(start, stop]`` at risk at t when start < t <= stop.
    strata : str or list of str, optional
        Stratification columns (several are crossed, as R ``strata(a, b)``).
    cluster : str, optional
        Cluster identifier for the robust (sandwich) variance, as R ``cluster()``.
    weights : str, optional
        Case weights (> 0), as R ``weights=``.
    timefix : bool
        As R ``coxph.control(timefix=TRUE)`` (``aeqSurv``): distinct time values (stop and
        start pooled) closer than sqrt(machine eps), absolutely or relative to the mean
        absolute time, are merged into the smallest of them, so that floating-point noise does
        not break ties. Integer-valued times are never changed.

    Raises
    ------
    ValueError
        Missing columns, missing or non-finite values, negative times, ``stop <= start``, events
        outside {0, 1}, non-positive weights (the message names the column and counts the rows).
    EstimationError
        A constant covariate, exactly collinear covariates, or no events.
    """
    df = to_polars(data)
    covs = _as_list(covariates)
    if not covs:
        raise ValueError("at least one covariate is needed")
    if len(set(covs)) != len(covs):
        raise ValueError("a covariate is listed twice")
    n = df.height
    if n == 0:
        raise ValueError("the data have no rows")

    strata_cols = _as_list(strata)
    require_columns(
        df,
        [
            ("time", time),
            ("start", start),
            ("event", event),
            ("weights", weights),
            ("cluster", cluster),
            *[("strata", name) for name in strata_cols],
            *[("covariate", name) for name in covs],
        ],
    )
    stop = check_time(df, time)
    if start is not None:
        entry = check_entry(df, start, stop, role="start", time_name="stop")
    else:
        entry = np.full(n, -np.inf)

    ev = check_event(df, event)
    if not np.any(ev == 1):
        raise EstimationError(f"event column {event!r} has no events: a Cox model needs events")

    w = check_weights(df, weights, positive=True) if weights is not None else np.ones(n)

    codes, strata_levels = _strata_codes(df, strata_cols)

    cl = None
    if cluster is not None:
        cl, _ = _codes(column(df, cluster, "cluster"))

    design = design_matrix(df, covs, reference)
    cols, names, terms = design.columns, design.names, design.terms
    const = [names[k] for k, c in enumerate(cols) if c.min() == c.max()]
    if const:
        raise EstimationError(
            f"covariate(s) {const} are constant: their coefficients cannot be estimated; "
            "remove them"
        )

    # sort by stratum, then stop time descending (the kernels add all rows of a time together,
    # so the order within a tied time does not matter); entry times likewise, for the sweep
    counting = start is not None
    n_codes = int(codes.max()) + 1 if strata_cols else 1
    order = _order_desc(stop, codes, n_codes)

    p = len(cols)
    means = _centring(cols, w)

    # the row-major design in sorted order, centred, in one compiled gather
    raw = np.empty((n, p))
    for k, c in enumerate(cols):
        raw[:, k] = c
    Xc = gather_rows_centred(raw, order, means)
    del raw, cols
    stop_sorted = stop[order]
    entry_sorted = entry[order] if counting else entry
    s_sorted = codes[order] if strata_cols else codes
    if not counting:
        order_start = np.arange(n, dtype=np.int64)  # nobody enters late: never used to remove
    else:
        order_start = _order_desc(entry_sorted, s_sorted, n_codes)
    if timefix:
        stop_sorted, entry_sorted = _timefix(
            stop_sorted, entry_sorted, order_start, counting, bool(strata_cols)
        )
    _check_collinear(Xc, names)
    w_sorted = w[order] if weights is not None else w
    ev_sorted = np.ascontiguousarray(ev[order], dtype=np.float64)
    cl_sorted = None if cl is None else np.ascontiguousarray(cl[order], dtype=np.int64)
    entry_arrays = None
    if counting:
        # the design in entry order too, so the likelihood sweep removes rows sequentially
        entry_arrays = (
            np.ascontiguousarray(entry_sorted[order_start]),
            np.ascontiguousarray(s_sorted[order_start]),
            gather_rows_centred(Xc, order_start, np.zeros(Xc.shape[1])),
            np.ascontiguousarray(w_sorted[order_start]),
        )
    return CoxData(
        start=np.ascontiguousarray(entry_sorted, dtype=np.float64),
        stop=np.ascontiguousarray(stop_sorted, dtype=np.float64),
        event=ev_sorted,
        X=Xc,
        weights=np.ascontiguousarray(w_sorted, dtype=np.float64),
        strata=np.ascontiguousarray(s_sorted, dtype=np.int64),
        names=tuple(names),
        cluster=cl_sorted,
        order_start=order_start,
        row_index=order.astype(np.int64, copy=False),
        means=means,
        counting=counting,
        strata_levels=strata_levels,
        terms=terms,
        entry_arrays=entry_arrays,
    )


def _order_desc(values: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Rows by code ascending then value descending: a counting sort for whole-number values
    in a small range (study days), else a comparison sort."""
    n = values.shape[0]
    order = counting_order_desc(
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(codes, dtype=np.int64),
        n_codes,
        max(4 * n, 1 << 20),
    )
    if order.shape[0] == n:
        return order
    if n_codes > 1:
        return np.lexsort((-values, codes)).astype(np.int64)
    return np.argsort(-values).astype(np.int64)


def _timefix(
    stop_s: np.ndarray,
    entry_s: np.ndarray,
    order_start: np.ndarray,
    counting: bool,
    stratified: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """R ``aeqSurv``: merge time values closer than sqrt(eps) (absolute or relative to the mean
    absolute distinct time) into the smallest one. The map is monotone, so the sort order of
    the rows is unchanged."""
    # integer-valued times (study days) below 1/tol can never be that close: nothing to do
    finite_entry = entry_s[np.isfinite(entry_s)] if counting else entry_s[:0]
    big = 1.0 / _TIMEFIX_TOL
    if (
        np.all(stop_s == np.rint(stop_s))
        and np.all(finite_entry == np.rint(finite_entry))
        and np.max(np.abs(stop_s)) < big
    ):
        return stop_s, entry_s
    if stratified:
        asc = np.sort(stop_s)
        starts = np.sort(entry_s[np.isfinite(entry_s)]) if counting else asc[:0]
    else:
        asc = stop_s[::-1]
        starts = entry_s[order_start][::-1] if counting else asc[:0]
    y = union_sorted_unique(np.ascontiguousarray(asc), np.ascontiguousarray(starts))
    y = y[np.isfinite(y)]
    if y.shape[0] < 2:
        return stop_s, entry_s
    dy = np.diff(y)
    tied = (dy <= _TIMEFIX_TOL) | (dy / np.mean(np.abs(y)) <= _TIMEFIX_TOL)
    if not tied.any():
        return stop_s, entry_s
    cuts = y[np.r_[True, ~tied]]
    # only the values that move are looked up (usually few): each maps to the first of its chain
    moved = y[1:][tied]
    target = cuts[np.searchsorted(cuts, moved, side="right") - 1]

    def remap(x: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(moved, x), moved.shape[0] - 1)
        hit = moved[pos] == x
        out = x.copy()
        out[hit] = target[pos[hit]]
        return out

    new_stop = remap(stop_s)
    new_entry = entry_s
    if counting:
        new_entry = remap(entry_s)
        bad = int(np.sum(new_stop <= new_entry))
        if bad:
            raise ValueError(
                f"{bad} interval(s) (start, stop] become empty when times closer than "
                f"{_TIMEFIX_TOL:.2g} are merged (R's timefix); use timefix=False or fix the times"
            )
    return new_stop, new_entry


def _check_collinear(Xc: np.ndarray, names: list[str]) -> None:
    """Exact collinearity is an error (R would report NA for the aliased coefficients)."""
    if Xc.shape[1] < 2:
        return
    # eigenvalues of the correlation matrix: O(n p^2), cheap at 10^6 rows unlike an SVD of X.
    # Columns left uncentred (dummies) are centred here: a constant shift is absorbed by the
    # baseline hazard, so x and 1 - x are collinear in a Cox model
    mbar = Xc.mean(axis=0)
    g = Xc.T @ Xc - Xc.shape[0] * np.outer(mbar, mbar)
    d = np.sqrt(np.diag(g))
    ev = np.linalg.eigvalsh(g / np.outer(d, d))
    tol = 1e-12 * max(ev[-1], 1.0)
    if ev[0] <= tol:
        raise EstimationError(
            f"covariates {names} are exactly collinear (the design matrix has rank "
            f"{int(np.sum(ev > tol))} < {len(names)}); R would report NA for the aliased "
            "coefficient(s): remove the redundant covariate(s)"
        )
