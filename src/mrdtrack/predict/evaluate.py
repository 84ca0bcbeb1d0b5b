"""Accuracy of dynamic predictions: time-dependent AUC, Brier score and calibration with IPCW.

At a landmark ``s`` with window ``w`` the patients at risk at ``s`` are *cases* if they progress
or die in ``(s, s + w]``, *controls* if they are event-free at ``s + w``, and unresolved if
censored before ``s + w``. Unresolved patients are represented by inverse probability of
censoring weights (IPCW): a case with event time ``T`` weighs ``1 / G(T- | s)``, a control
``1 / G(s + w | s)``, where ``G(t | s) = G(t) / G(s)`` and ``G`` is the Kaplan-Meier estimate of
the censoring distribution among the patients at risk at ``s`` (censoring as the event; at tied
times events precede censorings, so ``G(T-)`` excludes censorings at ``T``).

- AUC (cumulative/dynamic, Uno et al. 2007; Blanche, Dartigues & Jacqmin-Gadda 2013):
  ``sum_ij W_i W_j [I(r_i > r_j) + 0.5 I(r_i = r_j)] / (sum_i W_i sum_j W_j)`` over cases ``i``
  and controls ``j``; R ``timeROC::timeROC(..., weighting = "marginal")`` at one time, applied to
  the landmark data set.
- Brier score (Graf et al. 1999; Gerds & Schumacher 2006): ``(1 / n_s) sum_i W_i (Y_i - r_i)^2``
  with ``Y`` = 1 for cases, 0 for controls, 0 weight for unresolved; R ``pec`` / ``riskRegression
  ::Score`` with ``cens.model = "marginal"``. Also the scaled Brier (index of prediction accuracy)
  ``1 - BS / BS_null`` where the null model predicts the IPCW event proportion.
- Calibration: IPCW-weighted logistic regression of ``Y`` on ``logit(r)`` among resolved
  patients: slope ``b`` from ``logit P(Y) = a + b logit(r)``; calibration-in-the-large ``a0``
  from ``logit P(Y) = a0 + logit(r)`` (offset). Perfect calibration: slope 1, intercept 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


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


def time_dependent_auc(risk: np.ndarray, time: np.ndarray, event: np.ndarray, s: float, w: float):
    """Cumulative/dynamic AUC at ``s + w`` among patients at risk at ``s`` (IPCW)."""
    y, wt, _ = censoring_weights(time, event, s, w)
    r = np.asarray(risk, dtype=np.float64)
    cases = y == 1
    controls = (wt > 0) & (y == 0)
    if not cases.any() or not controls.any():
        return float("nan")
    rc, wc = r[cases], wt[cases]
    rk, wk = r[controls], wt[controls]
    order = np.argsort(rk)
    rk, wk = rk[order], wk[order]
    cum = np.concatenate([[0.0], np.cumsum(wk)])
    below = cum[np.searchsorted(rk, rc, side="left")]
    tied = cum[np.searchsorted(rk, rc, side="right")] - below
    return float(np.sum(wc * (below + 0.5 * tied)) / (wc.sum() * wk.sum()))


def brier_score(risk: np.ndarray, time: np.ndarray, event: np.ndarray, s: float, w: float):
    """IPCW Brier score at ``s + w`` among patients at risk at ``s``; and its null value."""
    y, wt, _ = censoring_weights(time, event, s, w)
    r = np.asarray(risk, dtype=np.float64)
    n = r.size
    bs = float(np.sum(wt * (y - r) ** 2) / n)
    p0 = float(np.sum(wt * y) / n)
    bs0 = float(np.sum(wt * (y - p0) ** 2) / n)
    return bs, bs0


def calibration(
    risk: np.ndarray, time: np.ndarray, event: np.ndarray, s: float, w: float
) -> tuple[float, float]:
    """IPCW calibration slope and calibration-in-the-large intercept."""
    y, wt, resolved = censoring_weights(time, event, s, w)
    r = np.clip(np.asarray(risk, dtype=np.float64), 1e-10, 1 - 1e-10)
    lr = np.log(r / (1 - r))[resolved]
    y, wt = y[resolved], wt[resolved]
    if y.size == 0 or y.min() == y.max():
        return float("nan"), float("nan")
    intercept = _weighted_logistic(np.ones((lr.size, 1)), y, wt, lr)[0]
    if np.ptp(lr) < 1e-8:  # one predicted risk for everyone: no slope to estimate
        return float("nan"), float(intercept)
    slope = _weighted_logistic(np.column_stack([np.ones_like(lr), lr]), y, wt, np.zeros_like(lr))
    return float(slope[1]), float(intercept)


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
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            return beta
    return np.full(x.shape[1], np.nan)


@dataclass(frozen=True)
class PredictionAccuracy:
    """Accuracy per model and landmark: ``model, landmark, n_at_risk, n_cases, auc, brier,
    brier_null, scaled_brier, calibration_slope, calibration_intercept``."""

    results: pl.DataFrame
    window: int
    validation: str  # how the predictions were obtained, e.g. "5-fold cross-validation ..."
    # per model, landmark and patient: the (held-out) risk with the PFS time and event
    predictions: pl.DataFrame | None = None

    def table(self) -> pl.DataFrame:
        return self.results

    def summary(self) -> str:
        lines = [
            f"Dynamic prediction accuracy ({self.validation}); window {self.window} days; "
            "IPCW with marginal KM of censoring",
        ]
        for r in self.results.iter_rows(named=True):
            lines.append(
                f"  {r['model']:<12} s={r['landmark']:>5}  n={r['n_at_risk']:>5} "
                f"cases={r['n_cases']:>4}  AUC {r['auc']:.3f}  Brier {r['brier']:.4f} "
                f"(null {r['brier_null']:.4f})  slope {r['calibration_slope']:.2f}  "
                f"CITL {r['calibration_intercept']:.2f}"
            )
        return "\n".join(lines)


def score_landmark(risk, time, event, s: float, w: float) -> dict[str, float]:
    """All accuracy measures for one model at one landmark."""
    y, _, _ = censoring_weights(time, event, s, w)
    bs, bs0 = brier_score(risk, time, event, s, w)
    slope, citl = calibration(risk, time, event, s, w)
    return {
        "n_at_risk": len(time),
        "n_cases": int(y.sum()),
        "auc": time_dependent_auc(risk, time, event, s, w),
        "brier": bs,
        "brier_null": bs0,
        "scaled_brier": 1.0 - bs / bs0 if bs0 > 0 else float("nan"),
        "calibration_slope": slope,
        "calibration_intercept": citl,
    }


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
