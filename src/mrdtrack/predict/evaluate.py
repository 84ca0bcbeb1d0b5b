"""Accuracy of dynamic predictions: time-dependent AUC, Brier score, IPA, integrated Brier score
and calibration with inverse probability of censoring weights (IPCW), with bootstrap intervals.

At a landmark ``s`` with window ``w`` the patients at risk at ``s`` are *cases* if they progress
or die in ``(s, s + w]``, *controls* if they are event-free at ``s + w``, and unresolved if
censored before ``s + w``. Unresolved patients are represented by IPCW: a case with event time
``T`` weighs ``1 / G(T- | s)``, a control ``1 / G(s + w | s)``, where ``G(t | s) = G(t) / G(s)``
and ``G`` is the Kaplan-Meier estimate of the censoring distribution among the patients at risk
at ``s`` (censoring as the event; at tied times events precede censorings, so ``G(T-)`` excludes
censorings at ``T``). This is ``riskRegression::Score(..., cens.model = "km")`` applied to the
landmark data set (times re-zeroed at ``s``); the agreement is tested to 1e-8 on
``survival::pbc`` (``tests/reference/predict/score``).

- AUC (cumulative/dynamic; Uno et al. 2007, Blanche, Dartigues & Jacqmin-Gadda 2013):
  ``sum_ij W_i W_j [I(r_i > r_j) + 0.5 I(r_i = r_j)] / sum_ij W_i W_j`` over cases ``i`` and
  controls ``j`` (ties count 1/2, so an information-free marker scores exactly 0.5); R
  ``Score(metrics = "auc")``, ``timeROC::timeROC(weighting = "marginal")``.
  With ``group`` (the cross-validation fold of each prediction) only pairs within a group enter
  the sums: predictions made by different fitted models are not compared (see `cross_validate`).
- Brier score (Graf et al. 1999; Gerds & Schumacher 2006): ``(1 / n_s) sum_i W_i (Y_i - r_i)^2``,
  ``Y`` = 1 for cases, 0 for controls, weight 0 for unresolved; R ``Score(metrics = "brier")``.
  The null model predicts the Kaplan-Meier risk (by default the in-sample IPCW event proportion,
  which equals ``1 - KM``: Score's ``null.model``; under cross-validation the KM of the training
  folds, passed as ``null_risk``).
- IPA, index of prediction accuracy (Kattan & Gerds 2018): ``1 - BS / BS_null``; R
  ``Score(summary = "ipa")``. 0 = no better than the null model; negative = worse.
- Integrated Brier score over horizons ``u_1 < ... < u_K = w`` after ``s``: riskRegression's
  step rule ``(1 / u_K) sum_{k < K} BS(u_k) (u_{k+1} - u_k)`` (the Brier score at ``u_k`` held
  on ``[u_k, u_{k+1})``, zero before ``u_1``); R ``Score(summary = "ibs")``.
- Calibration: IPCW-weighted logistic regression of ``Y`` on ``logit(r)`` among resolved
  patients: slope ``b`` from ``logit P(Y) = a + b logit(r)`` (with ``group``, one intercept per
  group, so that the slope reflects the spread of risks *within* one fitted model);
  calibration-in-the-large ``a0`` from ``logit P(Y) = a0 + logit(r)`` (offset). Perfect
  calibration: slope 1, intercept 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

#: The accuracy measures with bootstrap intervals, in table order.
MEASURES = (
    "auc",
    "brier",
    "brier_null",
    "ipa",
    "ibs",
    "ibs_null",
    "calibration_slope",
    "calibration_intercept",
)


def censoring_weights(
    time: np.ndarray, event: np.ndarray, s: float, w: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IPCW weights at landmark ``s`` and window ``w`` for patients at risk at ``s``.

    Returns ``(y, weight, resolved)``: case indicator, weight, and whether the patient's status at
    ``s + w`` is known. ``time``/``event`` are the original PFS data of patients with ``time > s``.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.float64)
    horizon = s + w
    case = (event == 1) & (time <= horizon)
    control = time > horizon
    g_case = _censoring_km(time, event, time, left=True)
    g_hor = _censoring_km(time, event, np.array([horizon]), left=False)[0]
    weight = np.zeros_like(time)
    weight[case] = 1.0 / g_case[case]
    if g_hor > 0:
        weight[control] = 1.0 / g_hor
    return case.astype(np.float64), weight, case | control


def _censoring_km(time: np.ndarray, event: np.ndarray, at: np.ndarray, left: bool) -> np.ndarray:
    """KM of the censoring distribution evaluated at ``at`` (left limits when ``left``)."""
    cens_times = np.unique(time[event == 0])
    if cens_times.size == 0:
        return np.ones(at.shape)
    sorted_t = np.sort(time)
    n_risk = time.size - np.searchsorted(sorted_t, cens_times, side="left")
    # Events at a censoring time leave the risk set first: they are not "at risk of censoring".
    ev_sorted = np.sort(time[event == 1])
    n_ev_at = np.searchsorted(ev_sorted, cens_times, side="right") - np.searchsorted(
        ev_sorted, cens_times, side="left"
    )
    cens_sorted = np.sort(time[event == 0])
    d_c = np.searchsorted(cens_sorted, cens_times, side="right") - np.searchsorted(
        cens_sorted, cens_times, side="left"
    )
    surv = np.cumprod(1.0 - d_c / (n_risk - n_ev_at))
    idx = np.searchsorted(cens_times, at, side="left" if left else "right") - 1
    return np.where(idx >= 0, surv[np.clip(idx, 0, None)], 1.0)


def _auc(r: np.ndarray, y: np.ndarray, wt: np.ndarray, group: np.ndarray | None) -> float:
    """Weighted cumulative/dynamic AUC from case-control pairs (within ``group`` if given)."""
    num = den = 0.0
    groups = [None] if group is None else np.unique(group)
    for g in groups:
        member = np.ones(r.size, bool) if g is None else group == g
        cases = member & (y == 1)
        controls = member & (wt > 0) & (y == 0)
        if not cases.any() or not controls.any():
            continue
        rc, wc = r[cases], wt[cases]
        order = np.argsort(r[controls], kind="stable")
        rk, wk = r[controls][order], wt[controls][order]
        cum = np.concatenate([[0.0], np.cumsum(wk)])
        below = cum[np.searchsorted(rk, rc, side="left")]
        tied = cum[np.searchsorted(rk, rc, side="right")] - below
        num += float(np.sum(wc * (below + 0.5 * tied)))
        den += float(wc.sum() * wk.sum())
    return num / den if den > 0 else float("nan")


def time_dependent_auc(
    risk: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    s: float,
    w: float,
    group: np.ndarray | None = None,
) -> float:
    """Cumulative/dynamic AUC at ``s + w`` among patients at risk at ``s`` (IPCW).

    ``group``: optional label per patient (e.g. the cross-validation fold); only case-control
    pairs with the same label are compared. NaN when there is no case-control pair.
    """
    y, wt, _ = censoring_weights(time, event, s, w)
    g = None if group is None else np.asarray(group)
    return _auc(np.asarray(risk, dtype=np.float64), y, wt, g)


def brier_score(
    risk: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    s: float,
    w: float,
    null_risk: np.ndarray | None = None,
) -> tuple[float, float]:
    """IPCW Brier score at ``s + w`` among patients at risk at ``s``, and the null model's.

    The null model predicts ``null_risk`` (e.g. the Kaplan-Meier risk of the training folds), or
    by default the IPCW event proportion (= ``1 - KM``, riskRegression's ``null.model``).
    """
    y, wt, _ = censoring_weights(time, event, s, w)
    r = np.asarray(risk, dtype=np.float64)
    n = r.size
    bs = float(np.sum(wt * (y - r) ** 2) / n)
    p0 = float(np.sum(wt * y) / n) if null_risk is None else np.asarray(null_risk, np.float64)
    bs0 = float(np.sum(wt * (y - p0) ** 2) / n)
    return bs, bs0


def integrated_brier_score(
    risk_curves: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    s: float,
    horizons: np.ndarray,
) -> float:
    """Integrated Brier score over ``(s, s + u_K]`` (riskRegression's step rule, see module).

    ``risk_curves`` is ``(n, K)``: each patient's predicted risk at ``s + u_k`` for the increasing
    ``horizons`` ``u_k`` (days after ``s``).
    """
    u = np.asarray(horizons, dtype=np.float64)
    curves = np.asarray(risk_curves, dtype=np.float64).reshape(len(time), u.size)
    if u.size < 2 or np.any(np.diff(u) <= 0):
        raise ValueError("integrated Brier score: need two or more increasing horizons")
    bs = np.array([brier_score(curves[:, k], time, event, s, u[k])[0] for k in range(u.size)])
    return float(np.sum(bs[:-1] * np.diff(u)) / u[-1])


def index_of_prediction_accuracy(brier: float, brier_null: float) -> float:
    """IPA ``1 - BS / BS_null`` (Kattan & Gerds 2018); NaN when the null Brier is 0."""
    return 1.0 - brier / brier_null if brier_null > 0 else float("nan")


def calibration(
    risk: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    s: float,
    w: float,
    group: np.ndarray | None = None,
) -> tuple[float, float]:
    """IPCW calibration slope and calibration-in-the-large intercept.

    With ``group`` the slope model has one intercept per group (risks of different fitted models
    are not compared); the slope is NaN when the risks do not vary within any group.
    """
    y, wt, resolved = censoring_weights(time, event, s, w)
    r = np.clip(np.asarray(risk, dtype=np.float64), 1e-10, 1 - 1e-10)
    lr = np.log(r / (1 - r))[resolved]
    y, wt = y[resolved], wt[resolved]
    if y.size == 0 or y.min() == y.max():
        return float("nan"), float("nan")
    intercept = _weighted_logistic(np.ones((lr.size, 1)), y, wt, lr)[0]
    g = np.zeros(lr.size) if group is None else np.asarray(group)[resolved]
    levels = np.unique(g)
    dummies = (g[:, None] == levels[None, :]).astype(np.float64)
    spread = max(np.ptp(lr[g == v]) for v in levels)
    if spread < 1e-8:  # one predicted risk per fitted model: no slope to estimate
        return float("nan"), float(intercept)
    slope = _weighted_logistic(np.column_stack([dummies, lr]), y, wt, np.zeros_like(lr))
    return float(slope[-1]), float(intercept)


def _weighted_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray):
    """Newton-Raphson for a weighted logistic regression with offset (few parameters).

    Returns NaNs when the fit does not exist (separation, singular information).
    """
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        eta = np.clip(offset + x @ beta, -30, 30)
        p = 1 / (1 + np.exp(-eta))
        grad = x.T @ (w * (y - p))
        info = (x * (w * p * (1 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            return np.full(x.shape[1], np.nan)
        if not np.all(np.isfinite(step)):
            return np.full(x.shape[1], np.nan)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            return beta
    return np.full(x.shape[1], np.nan)


def score_landmark(
    risk,
    time,
    event,
    s: float,
    w: float,
    *,
    group=None,
    null_risk=None,
    curves=None,
    null_curves=None,
    horizons=None,
) -> dict[str, float]:
    """All accuracy measures for one model at one landmark (point estimates).

    ``curves``/``null_curves`` (``(n, K)`` risks at ``horizons``, the last equal to ``w``) add
    the integrated Brier score of the model and of the null model.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.float64)
    y, wt, _ = censoring_weights(time, event, s, w)
    r = np.asarray(risk, dtype=np.float64)
    g = None if group is None else np.asarray(group)
    bs, bs0 = brier_score(r, time, event, s, w, null_risk)
    slope, citl = calibration(r, time, event, s, w, g)
    ibs = ibs0 = float("nan")
    if curves is not None:
        ibs = integrated_brier_score(curves, time, event, s, horizons)
        if null_curves is None:  # the in-sample Kaplan-Meier risk at each horizon
            p0 = [
                np.sum(wk * yk) / time.size
                for yk, wk, _ in (censoring_weights(time, event, s, u) for u in horizons)
            ]
            null_curves = np.tile(np.asarray(p0), (time.size, 1))
        ibs0 = integrated_brier_score(null_curves, time, event, s, horizons)
    return {
        "n_at_risk": int(time.size),
        "n_cases": int(y.sum()),
        "n_controls": int(np.sum((y == 0) & (wt > 0))),
        "auc": _auc(r, y, wt, g),
        "brier": bs,
        "brier_null": bs0,
        "ipa": index_of_prediction_accuracy(bs, bs0),
        "ibs": ibs,
        "ibs_null": ibs0,
        "calibration_slope": slope,
        "calibration_intercept": citl,
    }


@dataclass(frozen=True)
class PredictionAccuracy:
    """Accuracy per model and landmark, with bootstrap percentile intervals.

    ``results`` has ``model, landmark, n_at_risk, n_cases, n_controls`` and, for each measure in
    `MEASURES` (``auc, brier, brier_null, ipa, ibs, ibs_null, calibration_slope,
    calibration_intercept``), the estimate and ``<measure>_lower`` / ``<measure>_upper`` (NaN when
    no interval was computed). ``n_controls`` counts controls actually observed event-free at the
    horizon: with few of them the IPCW estimates rest on a handful of patients.
    """

    results: pl.DataFrame
    window: int
    validation: str  # how the predictions were obtained, e.g. "5-fold cross-validation ..."
    # per model, landmark and patient: the (held-out) risk with the PFS time and event
    predictions: pl.DataFrame | None = None
    interval: str = ""  # how the intervals were obtained ("" = none)
    conf_level: float = 0.95
    # risks at several horizons (integrated Brier score), as ``score_predictions(curves=)``
    curves: pl.DataFrame | None = None

    def table(self) -> pl.DataFrame:
        return self.results

    def summary(self) -> str:
        head = (
            f"Dynamic prediction accuracy ({self.validation}); window {self.window} days; "
            "IPCW with the Kaplan-Meier of censoring"
        )
        lines = [head]
        if self.interval:
            lines.append(f"{self.conf_level:.0%} intervals: {self.interval}")
        for r in self.results.iter_rows(named=True):
            lines.append(
                f"  {r['model']:<12} s={r['landmark']:>5}  n={r['n_at_risk']:>4} "
                f"cases={r['n_cases']:>3} controls={r['n_controls']:>3}  "
                f"AUC {_ci(r, 'auc', '.3f')}  Brier {_ci(r, 'brier', '.4f')} "
                f"(null {r['brier_null']:.4f})  IPA {_ci(r, 'ipa', '.3f')}  "
                f"slope {r['calibration_slope']:.2f}"
                + (
                    f"  [only {r['n_controls']} control(s) followed to the horizon: AUC not "
                    "interpretable]"
                    if r["n_controls"] < 5
                    else ""
                )
            )
        return "\n".join(lines)


def _ci(row: dict, key: str, fmt: str) -> str:
    est, lo, hi = row[key], row.get(f"{key}_lower"), row.get(f"{key}_upper")
    if est is None or not np.isfinite(est):
        return "n/a"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return format(est, fmt)
    return f"{est:{fmt}} ({lo:{fmt}} to {hi:{fmt}})"


def with_intervals(
    estimates: pl.DataFrame, replicates: pl.DataFrame, conf_level: float
) -> pl.DataFrame:
    """Add percentile limits ``<m>_lower``/``<m>_upper`` of each measure in `MEASURES`.

    ``replicates`` holds one row per bootstrap replicate, model and landmark (NaN where a
    measure was not estimable in a replicate; those replicates are left out of its limits).
    """
    a = (1 - conf_level) / 2
    aggs = []
    for m in MEASURES:
        v = pl.col(m).filter(pl.col(m).is_not_nan() & pl.col(m).is_not_null())
        aggs += [
            v.quantile(a, "linear").alias(f"{m}_lower"),
            v.quantile(1 - a, "linear").alias(f"{m}_upper"),
        ]
    limits = replicates.group_by("model", "landmark").agg(aggs)
    out = estimates.join(limits, on=["model", "landmark"], how="left")
    return out.with_columns(
        pl.col(f"{m}_{k}").fill_null(float("nan")) for m in MEASURES for k in ("lower", "upper")
    )


def score_predictions(
    predictions: pl.DataFrame,
    window: float,
    *,
    curves: pl.DataFrame | None = None,
    n_boot: int = 200,
    seed: int = 20211,
    conf_level: float = 0.95,
    validation: str = "predictions as given",
) -> PredictionAccuracy:
    """Score any model's landmark predictions: AUC, Brier, IPA, integrated Brier, calibration.

    The public entry point for every dynamic prediction model (landmark supermodel, joint model,
    multi-state model...).

    Parameters
    ----------
    predictions : one row per patient at risk at each landmark: ``landmark`` (study day ``s``),
        ``patient_id``, ``risk`` (predicted ``P(event in (s, s + window] | T > s)``), ``time``
        and ``event`` (the patient's observed event time on the study-day scale and 0/1 event
        indicator, as in ``Cohort.pfs``). Optional: ``model`` (several models at once; default
        "model"), ``fold`` (cross-validation fold: AUC and calibration slope then compare only
        predictions of the same fitted model), ``null_risk`` (the null model's risk, e.g. the
        Kaplan-Meier of the training folds; default the in-sample Kaplan-Meier).
    window : the prediction window ``w`` (days).
    curves : optional ``landmark, patient_id, horizon, risk`` (+ ``model``, ``null_risk``): risks at
        several horizons ``u`` (days after the landmark, the last equal to ``window``) for the
        integrated Brier score; without it ``ibs`` is NaN.
    n_boot : bootstrap replicates for the percentile intervals (0 = none). Patients are
        resampled with replacement (all their landmark rows together) and every measure is
        recomputed, censoring weights included; the predictions are held fixed, so the
        intervals do not include the variability of fitting the model (for that, bootstrap
        the whole pipeline, as `cross_validate(n_boot=...)` does).
    seed, conf_level : seed of the bootstrap; level of the intervals.
    """
    need = {"landmark", "patient_id", "risk", "time", "event"}
    missing = sorted(need - set(predictions.columns))
    if missing:
        raise ValueError(f"predictions lack columns {missing}")
    if "model" not in predictions.columns:
        predictions = predictions.with_columns(pl.lit("model").alias("model"))
    if curves is not None and "model" not in curves.columns:
        curves = curves.with_columns(pl.lit("model").alias("model"))
    bad = predictions.filter(~pl.col("risk").is_between(0, 1) | pl.col("risk").is_null()).height
    if bad:
        raise ValueError(f"{bad} predicted risks are missing or outside [0, 1]")
    ids = sorted(predictions.get_column("patient_id").unique().to_list())
    code_of = {p: i for i, p in enumerate(ids)}
    cells = _cells(predictions, curves, code_of, float(window))
    est = pl.DataFrame([{"model": m, "landmark": s, **_score_cell(c)} for (m, s), c in cells])
    interval = ""
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        reps = []
        for b in range(n_boot):
            counts = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
            for (m, s), c in cells:
                idx = np.repeat(np.arange(c["time"].size), counts[c["code"]])
                reps.append({"model": m, "landmark": s, "b": b, **_score_cell(c, idx)})
        est = with_intervals(est, pl.DataFrame(reps), conf_level)
        interval = (
            f"percentile, {n_boot} bootstrap resamples of patients (seed {seed}), "
            "predictions held fixed"
        )
    else:
        est = est.with_columns(
            pl.lit(float("nan")).alias(f"{m}_{k}") for m in MEASURES for k in ("lower", "upper")
        )
    return PredictionAccuracy(
        est,
        window=int(window),
        validation=validation,
        predictions=predictions,
        interval=interval,
        conf_level=conf_level,
        curves=curves,
    )


def _cells(predictions, curves, code_of, window):
    """Per (model, landmark): numpy arrays for scoring (sorted by patient for reproducibility)."""
    out = []
    for (m, s), p in sorted(predictions.partition_by("model", "landmark", as_dict=True).items()):
        p = p.sort("patient_id")
        c = {
            "s": float(s),
            "w": window,
            "risk": p["risk"].to_numpy().astype(np.float64),
            "time": p["time"].to_numpy().astype(np.float64),
            "event": p["event"].to_numpy().astype(np.float64),
            "code": np.array([code_of[v] for v in p["patient_id"].to_list()], dtype=np.int64),
            "group": p["fold"].to_numpy() if "fold" in p.columns else None,
            "null": p["null_risk"].to_numpy().astype(np.float64)
            if "null_risk" in p.columns
            else None,
            "curves": None,
            "null_curves": None,
            "horizons": None,
        }
        if curves is not None:
            cv = curves.filter((pl.col("model") == m) & (pl.col("landmark") == s))
            if cv.height:
                wide = cv.pivot(on="horizon", index="patient_id", values="risk", sort_columns=True)
                hz = sorted(cv.get_column("horizon").unique().to_list())
                wide = p.select("patient_id").join(wide, on="patient_id", how="left")
                c["horizons"] = np.asarray(hz, dtype=np.float64)
                c["curves"] = wide.select([str(h) for h in hz]).to_numpy().astype(np.float64)
                if "null_risk" in cv.columns:
                    nw = cv.pivot(
                        on="horizon", index="patient_id", values="null_risk", sort_columns=True
                    )
                    nw = p.select("patient_id").join(nw, on="patient_id", how="left")
                    c["null_curves"] = nw.select([str(h) for h in hz]).to_numpy()
        out.append(((m, int(s)), c))
    return out


def _score_cell(c: dict, idx: np.ndarray | None = None) -> dict[str, float]:
    if idx is not None and idx.size == 0:
        return {
            **dict.fromkeys(("n_at_risk", "n_cases", "n_controls"), 0),
            **dict.fromkeys(MEASURES, float("nan")),
        }

    def take(v):
        return v if v is None or idx is None else v[idx]

    return score_landmark(
        take(c["risk"]),
        take(c["time"]),
        take(c["event"]),
        c["s"],
        c["w"],
        group=take(c["group"]),
        null_risk=take(c["null"]),
        curves=take(c["curves"]),
        null_curves=take(c["null_curves"]),
        horizons=c["horizons"],
    )


def calibration_bins(predictions: pl.DataFrame, window: float, groups: int = 5) -> pl.DataFrame:
    """Observed against predicted risk in groups of predicted risk (for calibration plots).

    ``predictions`` has ``landmark, risk, time, event`` (one row per patient at risk at each
    landmark, e.g. the held-out predictions of `cross_validate` for one model). Each row gets
    its IPCW weight and case indicator at its own landmark (`censoring_weights`); rows of all
    landmarks are then split into ``groups`` of about equal size by predicted risk; per group:
    mean predicted risk, and observed risk as the weighted proportion of events in the window
    over all rows of the group (unresolved rows weigh 0, as in the Brier score).
    """
    risk, ys, ws = [], [], []
    for s in sorted(predictions.get_column("landmark").unique().to_list()):
        p = predictions.filter(pl.col("landmark") == s)
        y, wt, _ = censoring_weights(
            p["time"].to_numpy(), p["event"].to_numpy(), float(s), float(window)
        )
        risk.append(p["risk"].to_numpy().astype(np.float64))
        ys.append(y)
        ws.append(wt)
    r, y, wt = np.concatenate(risk), np.concatenate(ys), np.concatenate(ws)
    order = np.argsort(r, kind="stable")
    rows = []
    for k, idx in enumerate(np.array_split(order, min(groups, r.size))):
        rows.append(
            {
                "group": k + 1,
                "n": int(idx.size),
                "predicted": float(r[idx].mean()),
                "observed": float(np.sum(wt[idx] * y[idx]) / idx.size),
            }
        )
    return pl.DataFrame(rows)


def compare_models(
    predictions: pl.DataFrame,
    window: float,
    model_a: str,
    model_b: str,
    *,
    curves: pl.DataFrame | None = None,
    n_boot: int = 200,
    seed: int = 20211,
    conf_level: float = 0.95,
) -> pl.DataFrame:
    """Paired comparison of two models' landmark predictions of the same patients.

    ``predictions`` (and ``curves``) as in `score_predictions`, holding rows of ``model_a`` and
    ``model_b`` (others are ignored) for the same patients at each landmark. Per landmark:
    ``landmark, n_at_risk, n_controls``, each model's measures (``auc_a, auc_b, brier_a,
    brier_b, ipa_a, ipa_b``) and the differences ``b - a`` (``auc_diff, brier_diff,
    ipa_diff``) with percentile limits (``<measure>_diff_lower`` / ``_upper``) from a patient
    bootstrap in which both models are scored on the *same* resample (paired), predictions
    held fixed. A difference whose interval excludes 0 is a difference in accuracy between
    the models beyond the resampling variability of these patients.
    """
    both = predictions.filter(pl.col("model").is_in([model_a, model_b]))
    if set(both.get_column("model").unique().to_list()) != {model_a, model_b}:
        raise ValueError(f"compare_models: predictions of {model_a!r} and {model_b!r} needed")
    if curves is not None:
        curves = curves.filter(pl.col("model").is_in([model_a, model_b]))
    ids = sorted(both.get_column("patient_id").unique().to_list())
    code_of = {p: i for i, p in enumerate(ids)}
    cells: dict[int, dict[str, dict]] = {}
    for (m, s), c in _cells(both, curves, code_of, float(window)):
        cells.setdefault(s, {})[m] = c
    keys = ("auc", "brier", "ipa")
    rng = np.random.default_rng(seed)
    counts = [
        np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids)) for _ in range(n_boot)
    ]
    a = (1 - conf_level) / 2
    rows = []
    for s in sorted(cells):
        if len(cells[s]) < 2:
            continue
        ca, cb = cells[s][model_a], cells[s][model_b]
        ea, eb = _score_cell(ca), _score_cell(cb)
        row = {"landmark": s, "n_at_risk": ea["n_at_risk"], "n_controls": ea["n_controls"]}
        for k in keys:
            row[f"{k}_a"], row[f"{k}_b"], row[f"{k}_diff"] = ea[k], eb[k], eb[k] - ea[k]
        diffs = {k: [] for k in keys}
        for cnt in counts:
            ra = _score_cell(ca, np.repeat(np.arange(ca["time"].size), cnt[ca["code"]]))
            rb = _score_cell(cb, np.repeat(np.arange(cb["time"].size), cnt[cb["code"]]))
            for k in keys:
                diffs[k].append(rb[k] - ra[k])
        for k in keys:
            v = np.asarray(diffs[k], dtype=np.float64)
            v = v[np.isfinite(v)]
            lo, hi = np.quantile(v, [a, 1 - a]) if v.size else (np.nan, np.nan)
            row[f"{k}_diff_lower"], row[f"{k}_diff_upper"] = float(lo), float(hi)
        rows.append(row)
    return pl.DataFrame(rows)
