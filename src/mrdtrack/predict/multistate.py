"""Dynamic prediction from the panel multi-state model, for comparison with the supermodel.

With a fitted MRD Markov model (`mrdtrack.multistate.fit_mrd_markov`, states 1 = MRD-,
2 = MRD+, then absorbing progression/death states), a patient progression-free at ``s`` whose
last evaluable MRD call was state ``r`` on day ``v <= s`` is, at ``s``, in transient state ``j``
with probability

    pi_j = P_rj(s - v) / sum_{k transient} P_rk(s - v),

(the Markov property: nothing after ``v`` but survival without progression is known), and the
risk of progression or death within ``w`` is ``sum_j pi_j sum_{a absorbing} P_ja(w)``, with
``P(t) = expm(Q t)`` (msm ``pmatrix.msm``). Time is in years (days / 365.25) as in the model.
This takes the model's states as observed without error; for a model with misclassification the
exact conditioning needs the forward filter over all past results, which this function does not
do (it raises). Patients with no evaluable MRD result yet get no prediction (NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.predict.evaluate import PredictionAccuracy, score_landmark
from mrdtrack.predict.stack import landmark_stack
from mrdtrack.predict.supermodel import LandmarkSupermodel
from mrdtrack.schema import DAYS_PER_YEAR

_STATE_OF = {"negative": 0, "positive": 1}


def multistate_risk(fit, rows: pl.DataFrame, window_days: float) -> np.ndarray:
    """Risk of leaving the MRD states within ``window_days`` for rows at their ``landmark``.

    ``rows`` needs ``landmark``, ``last_status`` and ``last_day`` (as from `landmark_stack` or
    `mrdtrack.predict.current_rows`). ``fit`` is a `PanelMarkovFit` whose states 1 and 2 are
    MRD negative and positive.
    """
    if getattr(fit, "hidden", False):
        raise ValueError(
            "multistate_risk conditions on the last observed state, which is exact only without "
            "misclassification: fit the model without ematrix for this comparison"
        )
    q = fit.qmatrix()
    absorbing = np.flatnonzero(np.all(q == 0, axis=1))
    transient = np.setdiff1d(np.arange(q.shape[0]), absorbing)
    if not {0, 1} <= set(transient.tolist()):
        raise ValueError("the model's states 1 and 2 must be the transient MRD states")
    p_window = fit.pmatrix(window_days / DAYS_PER_YEAR).estimate
    exit_risk = p_window[:, absorbing].sum(axis=1)
    cache: dict[float, np.ndarray] = {}
    out = np.full(rows.height, np.nan)
    for i, (status, s, v) in enumerate(
        rows.select("last_status", "landmark", "last_day").iter_rows()
    ):
        r = _STATE_OF.get(status)
        if r is None or v is None:
            continue
        gap = (s - v) / DAYS_PER_YEAR
        if gap not in cache:
            cache[gap] = fit.pmatrix(gap).estimate if gap > 0 else np.eye(q.shape[0])
        alive = cache[gap][r, transient]
        out[i] = float(alive @ exit_risk[transient] / alive.sum())
    return out


def compare_with_multistate(
    cohort: Cohort,
    model: LandmarkSupermodel,
    ms_fit,
    *,
    landmarks: Sequence[int | str] | None = None,
) -> PredictionAccuracy:
    """Apparent (in-sample) accuracy of the supermodel and the multi-state model, per landmark.

    Both predict for the same patients: those at risk at the landmark with an evaluable MRD
    result on or before it. Use `cross_validate` for honest estimates of the supermodel alone.
    """
    lms = list(model.landmarks) if landmarks is None else landmarks
    stacked = landmark_stack(cohort, lms, model.window, threshold=model.threshold)
    stacked = stacked.filter(pl.col("last_status") != "unknown")
    cov = [c for c in model.design.base if c not in stacked.columns]
    if cov:
        stacked = stacked.join(cohort.patients.select("patient_id", *cov), on="patient_id")
    pfs = cohort.pfs("days").select("patient_id", "time", "event")
    stacked = stacked.join(pfs.rename({"event": "pfs_event"}), on="patient_id")
    preds = {
        "supermodel": model.predict(stacked),
        "multistate": multistate_risk(ms_fit, stacked, model.window),
    }
    rows = []
    for name, risk in preds.items():
        for s in sorted(stacked.get_column("landmark").unique().to_list()):
            mask = (stacked.get_column("landmark") == s).to_numpy()
            part = stacked.filter(pl.Series(mask))
            rows.append(
                {
                    "model": name,
                    "landmark": int(s),
                    **score_landmark(
                        risk[mask],
                        part.get_column("time").to_numpy(),
                        part.get_column("pfs_event").to_numpy(),
                        float(s),
                        float(model.window),
                    ),
                }
            )
    return PredictionAccuracy(
        pl.DataFrame(rows), window=model.window, validation="apparent, in-sample"
    )
