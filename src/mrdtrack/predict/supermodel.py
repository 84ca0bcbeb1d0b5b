"""The landmark supermodel: dynamic prediction of progression from MRD history.

Method (van Houwelingen, Scand J Stat 2007; van Houwelingen & Putter, *Dynamic Prediction in
Clinical Survival Analysis*, CRC 2012, ch. 7-8): stack the landmark data sets at ``s`` in
``[0, S]`` (`landmark_stack`), and fit one Cox model on the stacked rows,

    h(t | x, s) = h0(t) exp(x'beta + sum_k (x g_k(s))'gamma_k + theta_1 g_1(s) + theta_2 g_2(s)),
    t in (s, s + w],   g_1(s) = s / S,   g_2(s) = (s / S)^2,

so the covariate effects change smoothly with the landmark (interactions ``x:lm1``, ``x:lm2``)
and the baselines of different landmarks are proportional ("ipl*" model). ``baseline="strata"``
gives each landmark its own baseline hazard instead (stratified Cox, no ``theta`` terms).
The prediction for a patient event-free at ``s`` with history ``x(s)`` is

    P(progression or death in (s, s + w] | T > s, x(s)) = 1 - exp(-[H0(s + w) - H0(s)] exp(lp)),

with ``H0`` the Breslow estimate of the cumulative baseline hazard from the stacked data at
``x = 0`` (not at the covariate means), evaluated as a right-continuous step function.

Conventions (stated, and what R does):

- Ties: Breslow (``ties="breslow"``, as ``dynpred``'s examples and ``survfit.coxph`` with a
  Breslow fit). Efron is available for the coefficients; the baseline is then still Breslow's.
- Standard errors: robust sandwich clustered on the patient (rows of one patient at several
  landmarks are dependent), as R ``coxph(..., cluster = id)``.
- Confidence intervals of a predicted risk: percentile intervals from a cluster (patient)
  bootstrap of the whole supermodel, seeded; ``n_boot=0`` skips them.
- R counterpart: ``dynpred::cutLM`` + ``coxph(Surv(LM, time, status) ~ x + x:LM + x:I(LM^2) +
  LM + I(LM^2) + cluster(id), method = "breslow")`` + ``survfit`` at the new data.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.errors import EstimationError
from mrdtrack.mrd import as_study_day
from mrdtrack.predict.stack import MRD_FEATURES, landmark_stack, mrd_history
from mrdtrack.survival.cox import breslow_cumhaz

LANDMARK_TERMS = ("lm1", "lm2")

#: Plain-words labels of the model terms (reports and summaries never show a bare ``lm1``).
TERM_LABELS = {
    "mrd_positive": "last known MRD result positive (vs negative)",
    "mrd_unknown": "no MRD result known yet (vs negative)",
    "lost_negativity": "MRD negativity lost (positive after a negative)",
    "lm1": "landmark time, linear (baseline risk trend, s/S)",
    "lm2": "landmark time, quadratic (baseline risk curvature, (s/S)^2)",
}


def term_label(term: str) -> str:
    """Plain words for a model term (interactions ``x:lm1`` read "x, changing with landmark")."""
    if ":" in term:
        base, lm = term.rsplit(":", 1)
        kind = "linearly" if lm == "lm1" else "quadratically"
        return f"{TERM_LABELS.get(base, base)}, changing {kind} with the landmark"
    return TERM_LABELS.get(term, term)


@dataclass(frozen=True)
class Design:
    """How model covariates are built from stacked rows (numeric expansion + interactions)."""

    base: tuple[str, ...]  # covariate columns of the stacked data (numeric or categorical)
    interact: tuple[str, ...]  # base covariates that get landmark interactions
    baseline: str  # "proportional" or "strata"
    horizon: float  # S, the last landmark (for g_k(s) = (s / S)^k)
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # categorical levels
    aliased: tuple[str, ...] = ()  # expanded terms left out as linearly dependent

    def expand(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
        """Model columns for ``rows`` (needs ``landmark`` and the base covariates)."""
        scale = self.horizon if self.horizon > 0 else 1.0
        g = [
            (pl.col("landmark").cast(pl.Float64) / scale).alias("lm1"),
            ((pl.col("landmark").cast(pl.Float64) / scale) ** 2).alias("lm2"),
        ]
        out = rows.with_columns(g)
        names: list[str] = []
        for c in self.base:
            if c in self.levels:
                cols = []
                for lev in self.levels[c][1:]:
                    name = f"{c}{lev}"
                    out = out.with_columns((pl.col(c) == lev).cast(pl.Float64).alias(name))
                    cols.append(name)
            else:
                out = out.with_columns(pl.col(c).cast(pl.Float64))
                cols = [c]
            names += cols
            if c in self.interact:
                for col in cols:
                    for k in LANDMARK_TERMS:
                        out = out.with_columns((pl.col(col) * pl.col(k)).alias(f"{col}:{k}"))
                        names.append(f"{col}:{k}")
        if self.baseline == "proportional":
            names += list(LANDMARK_TERMS)
        return out, [n for n in names if n not in self.aliased]


@dataclass(frozen=True)
class LandmarkSupermodel:
    """A fitted landmark supermodel; `predict` gives w-window risks at any landmark in [0, S].

    Attributes
    ----------
    coef : dict of term -> log hazard ratio
    robust_se : dict of term -> robust (patient-clustered) standard error
    names : model terms in order
    landmarks : landmark study days used for stacking
    window : prediction window in days
    design : the covariate expansion
    basehaz_time, basehaz_cumhaz : Breslow cumulative baseline hazard at x = 0 (per stratum
        for ``baseline="strata"``: dict landmark -> arrays)
    n_rows, n_patients, n_events : size of the stacked data
    threshold : MRD sensitivity threshold used for the history
    lag : reporting lag (days): a result enters at ``s`` when ``sample day + lag <= s``
    dropped_terms : covariates left out because they do not vary in the stacked data
    """

    coef: dict[str, float]
    robust_se: dict[str, float]
    names: tuple[str, ...]
    landmarks: tuple[int, ...]
    window: int
    design: Design
    basehaz: dict[Any, tuple[np.ndarray, np.ndarray]]
    n_rows: int
    n_patients: int
    n_events: int
    threshold: float
    ties: str
    dropped_terms: tuple[str, ...] = ()
    lag: int = 0  # reporting lag (days) of the guarantee-time rule used for the MRD history

    def _cumhaz(self, key: Any, t: np.ndarray) -> np.ndarray:
        times, cum = self.basehaz[key]
        idx = np.searchsorted(times, t, side="right") - 1
        return np.where(idx >= 0, cum[np.clip(idx, 0, None)], 0.0)

    def linear_predictor(self, rows: pl.DataFrame) -> np.ndarray:
        """``lp`` of each row (needs ``landmark`` and the base covariates)."""
        expanded, names = self.design.expand(rows)
        x = expanded.select(names).to_numpy().astype(np.float64)
        beta = np.array([self.coef[n] for n in names])
        return x @ beta

    def predict(self, rows: pl.DataFrame, horizon: float | None = None) -> np.ndarray:
        """Risk of progression or death within the window for rows at their ``landmark``.

        ``horizon``: risk within ``u`` days of the landmark instead (``0 < u <= window``; the
        stacked rows are followed for ``window`` days only), e.g. for the integrated Brier score.
        """
        u = float(self.window if horizon is None else horizon)
        if not 0 < u <= self.window:
            raise ValueError(f"horizon must be in (0, {self.window}] days (the model's window)")
        lm = rows.get_column("landmark").to_numpy().astype(np.float64)
        if np.any(lm < 0) or np.any(lm > self.design.horizon + 1e-9):
            raise ValueError(
                f"landmark outside the fitted range [0, {self.design.horizon:g}] days: "
                "the supermodel does not extrapolate"
            )
        lp = self.linear_predictor(rows)
        if self.design.baseline == "strata":
            keys = rows.get_column("landmark").to_list()
            dh = np.array(
                [
                    self._cumhaz(k, np.array([s + u]))[0] - self._cumhaz(k, np.array([s]))[0]
                    if k in self.basehaz
                    else np.nan
                    for k, s in zip(keys, lm, strict=True)
                ]
            )
        else:
            dh = self._cumhaz(None, lm + u) - self._cumhaz(None, lm)
        return 1.0 - np.exp(-dh * np.exp(lp))

    def table(self) -> pl.DataFrame:
        """Coefficients with robust SEs: term, coef, hazard_ratio, robust_se, z, p."""
        from scipy.stats import norm

        coef = np.array([self.coef[n] for n in self.names])
        se = np.array([self.robust_se[n] for n in self.names])
        z = coef / se
        return pl.DataFrame(
            {
                "term": list(self.names),
                "label": [term_label(n) for n in self.names],
                "coef": coef,
                "hazard_ratio": np.exp(coef),
                "robust_se": se,
                "z": z,
                "p": 2 * norm.sf(np.abs(z)),
            }
        )

    def summary(self) -> str:
        lines = [
            "Landmark supermodel (van Houwelingen 2007), Cox with Breslow ties, "
            "robust SEs clustered on patient",
            f"landmarks (days): {list(self.landmarks)}; window: {self.window} days; "
            f"baseline: {self.design.baseline}",
            f"stacked rows: {self.n_rows}, patients: {self.n_patients}, events: {self.n_events}",
        ]
        if self.dropped_terms:
            lines.append(
                f"left out (constant or aliased in the data): {', '.join(self.dropped_terms)}"
            )
        lines.append("")
        t = self.table()
        for r in t.iter_rows(named=True):
            lines.append(
                f"  {r['term']:<28} coef {r['coef']:>9.4f}  HR {r['hazard_ratio']:>8.3f}  "
                f"robust se {r['robust_se']:.4f}  p {r['p']:.4g}  [{r['label']}]"
            )
        return "\n".join(lines)


def fit_landmark_supermodel(
    cohort: Cohort,
    *,
    landmarks: Sequence[int | str] | None = None,
    window: int | str = "24m",
    covariates: Sequence[str] = (),
    mrd_features: Sequence[str] = MRD_FEATURES,
    interactions: Sequence[str] = (),
    baseline: str = "proportional",
    threshold: float = 1e-5,
    ties: str = "breslow",
    lag: int = 0,
) -> LandmarkSupermodel:
    """Fit the landmark supermodel on a cohort.

    Parameters
    ----------
    cohort : Cohort
    landmarks : landmark times (days or "12m"); default 0, 6, ..., 36 months.
    window : prediction window ``w``; default 24 months.
    covariates : baseline covariates from ``cohort.patients`` (numeric or categorical;
        categorical ones are treatment-coded with the first sorted level as reference).
    mrd_features : MRD history terms (subset of ``MRD_FEATURES``; ``()`` = baseline-only model).
    interactions : terms given landmark interactions ``x*g1(s)``, ``x*g2(s)``; default none
        (effects constant over landmarks, baselines still proportional in ``s``). Pass
        ``interactions=mrd_features`` for the full van Houwelingen model on large studies: with
        ~100 patients the nine-term model is badly over-fitted.
    baseline : "proportional" (``theta_1 g_1(s) + theta_2 g_2(s)``) or "strata".
    threshold : MRD sensitivity threshold for status calls.
    ties : "breslow" (default) or "efron" for the coefficients.
    lag : reporting lag in days (guarantee-time rule): an MRD result enters the model at
        landmark ``s`` only if ``sample day + lag <= s``.
    """
    stacked = landmark_stack(
        cohort, landmarks, window, covariates=covariates, threshold=threshold, lag=lag
    )
    return fit_stacked(
        stacked,
        window=as_study_day(window, "window"),
        covariates=covariates,
        mrd_features=mrd_features,
        interactions=interactions,
        baseline=baseline,
        threshold=threshold,
        ties=ties,
        lag=lag,
    )


def fit_stacked(
    stacked: pl.DataFrame,
    *,
    window: int,
    covariates: Sequence[str] = (),
    mrd_features: Sequence[str] = MRD_FEATURES,
    interactions: Sequence[str] = (),
    baseline: str = "proportional",
    threshold: float = 1e-5,
    ties: str = "breslow",
    lag: int = 0,
) -> LandmarkSupermodel:
    """Fit the supermodel on already stacked rows (see `landmark_stack`; ``lag`` is recorded)."""
    from mrdtrack.survival import cox_ph

    if baseline not in ("proportional", "strata"):
        raise ValueError("baseline must be 'proportional' or 'strata'")
    bad = [f for f in mrd_features if f not in MRD_FEATURES]
    if bad:
        raise ValueError(f"unknown MRD features {bad}; choose from {MRD_FEATURES}")
    base = tuple(mrd_features) + tuple(covariates)
    interact = tuple(interactions)
    unknown = [c for c in interact if c not in base]
    if unknown:
        raise ValueError(f"interactions {unknown} are not among the model terms {list(base)}")
    landmarks = tuple(sorted(int(v) for v in stacked.get_column("landmark").unique()))
    if stacked.get_column("event").sum() == 0:
        raise EstimationError("no progression or death in any prediction window: nothing to fit")
    levels = {
        c: tuple(sorted(stacked.get_column(c).drop_nulls().cast(pl.String).unique().to_list()))
        for c in base
        if not stacked.schema[c].is_numeric() and stacked.schema[c] != pl.Boolean
    }
    design = Design(base, interact, baseline, float(max(landmarks)), levels)
    rows = stacked.drop_nulls(list(base))
    if rows.height < stacked.height:
        raise EstimationError(
            f"{stacked.height - rows.height} stacked rows have missing covariate values; "
            "the supermodel does not impute: drop or impute them explicitly"
        )
    # A base covariate that never varies (e.g. ``mrd_unknown`` when every patient has a baseline
    # result) has no estimable effect: it is left out, with its interactions, and listed in
    # ``dropped_terms`` (and the summary) rather than failing the fit.
    dropped = tuple(c for c in base if rows.get_column(c).n_unique() < 2)
    if dropped:
        base = tuple(c for c in base if c not in dropped)
        design = Design(base, interact, baseline, design.horizon, levels)
    expanded, names = design.expand(rows)
    # Landmark interactions can be aliased when a feature is non-zero at only one or two
    # landmarks (e.g. loss of negativity is impossible at s = 0): keep terms in model order
    # while they add rank, list the others in ``dropped_terms``.
    names, aliased = _independent_terms(expanded, names)
    design = Design(base, interact, baseline, design.horizon, levels, tuple(aliased))
    dropped = dropped + tuple(aliased)
    x = expanded.select(names).to_numpy()
    with warnings.catch_warnings():
        # A monotone likelihood is turned into an EstimationError below, with a hint.
        warnings.filterwarnings("ignore", message="monotone likelihood", category=RuntimeWarning)
        fit = cox_ph(
            expanded,
            time="stop",
            event="event",
            covariates=names,
            start="start",
            strata="landmark" if baseline == "strata" else None,
            cluster="patient_id",
            ties=ties,
        )
    if fit.monotone:
        raise EstimationError(
            "monotone likelihood in the supermodel: "
            + ", ".join(f"{t} -> {'+' if v > 0 else '-'}inf" for t, v in fit.monotone.items())
            + " (a history pattern with no events, or events only); predictions would be 0 or 1."
            " Fewer landmark interactions (interactions=(); CLI: no --interactions) or fewer MRD"
            " features usually help"
        )
    coef = _by_name(fit.coef, names)
    robust = _by_name(fit.robust_se, names)
    beta = np.array([coef[n] for n in names])
    lp = x.astype(np.float64) @ beta
    start = expanded.get_column("start").to_numpy()
    stop = expanded.get_column("stop").to_numpy()
    event = expanded.get_column("event").to_numpy().astype(np.float64)
    if baseline == "strata":
        key = expanded.get_column("landmark").to_numpy()
        basehaz = {
            int(k): breslow_cumhaz(start[key == k], stop[key == k], event[key == k], lp[key == k])
            for k in np.unique(key)
        }
    else:
        basehaz = {None: breslow_cumhaz(start, stop, event, lp)}
    return LandmarkSupermodel(
        coef=coef,
        robust_se=robust,
        names=tuple(names),
        landmarks=landmarks,
        window=int(window),
        design=design,
        basehaz=basehaz,
        n_rows=rows.height,
        n_patients=rows.get_column("patient_id").n_unique(),
        n_events=int(event.sum()),
        threshold=threshold,
        ties=ties,
        dropped_terms=dropped,
        lag=int(lag),
    )


def _independent_terms(frame: pl.DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """Split ``names`` into a linearly independent subset (in order) and the aliased rest."""
    x = frame.select(names).to_numpy().astype(np.float64)
    x = x - x.mean(axis=0)
    keep: list[int] = []
    for j in range(x.shape[1]):
        if np.linalg.matrix_rank(x[:, [*keep, j]]) == len(keep) + 1:
            keep.append(j)
    return [names[j] for j in keep], [n for j, n in enumerate(names) if j not in keep]


def _by_name(values: Any, names: Sequence[str]) -> dict[str, float]:
    """A {term: value} dict from a CoxFit attribute (mapping, polars frame/series or array)."""
    if values is None:
        return {n: float("nan") for n in names}
    if isinstance(values, dict):
        return {n: float(values[n]) for n in names}
    if isinstance(values, pl.DataFrame):
        cols = values.columns
        return dict(zip(values[cols[0]].to_list(), map(float, values[cols[1]]), strict=True))
    if hasattr(values, "to_dict"):
        d = values.to_dict()
        return {n: float(d[n]) for n in names}
    arr = np.asarray(values, dtype=np.float64)
    return dict(zip(names, arr, strict=True))


def current_rows(
    cohort: Cohort,
    at: int | str,
    covariates: Sequence[str] = (),
    threshold: float = 1e-5,
    patients: Sequence[str] | None = None,
    lag: int = 0,
) -> pl.DataFrame:
    """Rows for prediction at study day ``at``: patients progression-free and followed at ``at``.

    Uses only MRD results known on or before ``at`` (``sample day + lag <= at``); ``patients``
    restricts to some identifiers.
    """
    s = as_study_day(at, "at")
    pfs = cohort.pfs("days").filter(pl.col("time") > s)
    if patients is not None:
        pfs = pfs.filter(pl.col("patient_id").is_in(list(patients)))
    hist = mrd_history(cohort, [s], threshold, lag).rename({"s": "landmark"})
    out = pfs.select("patient_id").join(hist, on="patient_id", how="left")
    if covariates:
        out = out.join(cohort.patients.select("patient_id", *covariates), on="patient_id")
    return out.sort("patient_id")
