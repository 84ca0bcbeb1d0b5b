"""Stacked landmark data sets for dynamic prediction (van Houwelingen 2007).

For each landmark time ``s`` the patients still progression-free and under follow-up at ``s``
contribute one row: their MRD history up to ``s`` (and nothing after), their baseline
covariates, and their outcome over the prediction window ``(s, s + w]``, administratively
censored at ``s + w``. Stacking the rows of all landmarks gives the data of the landmark
supermodel (`mrdtrack.predict.fit_landmark_supermodel`).

R equivalent: ``dynpred::cutLM(data, outcome, LM = s, horizon = s + w, covs, format = "long")``
for each ``s`` followed by ``rbind`` (Putter's ``dynpred`` package); the MRD history columns are
our own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.mrd import as_study_day, call_status

#: MRD history features computed at each landmark from evaluable calls on or before it.
MRD_FEATURES = ("mrd_positive", "mrd_unknown", "lost_negativity")


def mrd_history(
    cohort: Cohort, at: Sequence[int], threshold: float = 1e-5, lag: int = 0
) -> pl.DataFrame:
    """MRD history of every patient at each time in ``at`` (study days), using only the past.

    Guarantee-time rule: a result enters the history at ``s`` only if it was *known* on or before
    ``s``, i.e. its sample day plus the reporting ``lag`` (days, default 0) is ``<= s``. At
    ``s = 0`` only samples taken on day 0 count (with ``lag = 0``); a baseline sample taken on
    days 0-28 is not yet known at the start of maintenance and the patient's status is
    ``unknown`` there.

    Returns one row per patient and time with ``patient_id, s, last_status, last_day,
    n_evaluable, mrd_positive, mrd_unknown, lost_negativity``:

    - ``last_status``: the most recent evaluable visit call on or before ``s`` (negative /
      positive), or ``unknown`` when there is none;
    - ``lost_negativity``: 1 if a positive call follows a negative one on or before ``s``
      (IMWG 2016 "loss of MRD negativity"), else 0;
    - ``mrd_positive`` / ``mrd_unknown``: indicators of ``last_status`` (negative is the
      reference level).

    Visits after progression never enter, because a patient is at risk at ``s`` only while
    progression-free; with ``lag = 0`` calls on the landmark day itself count. ``last_day`` is
    the sample day of the last known result (it became known on ``last_day + lag``).
    """
    if lag < 0:
        raise ValueError("the reporting lag must be a non-negative number of days")
    visits = (
        call_status(cohort, threshold=threshold)
        .visits.filter(pl.col("status") != "not_evaluable")
        .select("patient_id", "day", "status")
        .sort("patient_id", "day")
    )
    grid = pl.DataFrame({"s": np.asarray(at, dtype=np.int64)}).join(
        cohort.patients.select("patient_id"), how="cross"
    )
    joined = grid.join(visits, on="patient_id", how="inner").filter(
        pl.col("day") + lag <= pl.col("s")
    )
    # Loss of negativity: a positive call whose day is after the first negative call's day.
    first_neg = pl.when(pl.col("status") == "negative").then(pl.col("day")).otherwise(None).min()
    lost = ((pl.col("status") == "positive") & (pl.col("day") > first_neg)).any().fill_null(False)
    hist = joined.group_by("patient_id", "s").agg(
        pl.col("status").sort_by("day").last().alias("last_status"),
        pl.col("day").max().alias("last_day"),
        pl.len().cast(pl.Int64).alias("n_evaluable"),
        lost.cast(pl.Int64).alias("lost_negativity"),
    )
    return (
        grid.join(hist, on=["patient_id", "s"], how="left")
        .with_columns(
            pl.col("last_status").fill_null("unknown"),
            pl.col("n_evaluable").fill_null(0),
            pl.col("lost_negativity").fill_null(0),
        )
        .with_columns(
            (pl.col("last_status") == "positive").cast(pl.Int64).alias("mrd_positive"),
            (pl.col("last_status") == "unknown").cast(pl.Int64).alias("mrd_unknown"),
        )
        .sort("patient_id", "s")
    )


def landmark_stack(
    cohort: Cohort,
    landmarks: Sequence[int | str] | None = None,
    window: int | str = "24m",
    *,
    covariates: Sequence[str] = (),
    threshold: float = 1e-5,
    lag: int = 0,
) -> pl.DataFrame:
    """Stack landmark data sets: one row per (landmark, patient at risk at the landmark).

    Parameters
    ----------
    cohort : Cohort
    landmarks : sequence of study days or strings like "12m"; default every 6 months, 0-36 m.
    window : prediction window ``w`` (days or "24m").
    covariates : baseline covariates copied from ``cohort.patients``.
    threshold : MRD sensitivity threshold for status calls.
    lag : reporting lag in days: a result enters at ``s`` only if ``sample day + lag <= s``
        (guarantee-time rule, see `mrd_history`).

    Returns
    -------
    polars.DataFrame with ``patient_id, landmark, start, stop, event`` (times in study days on
    the original time scale: the row is at risk on ``(start, stop]`` with ``start = s`` and
    ``stop = min(T, s + w)``; ``event`` is 1 for progression or death in ``(s, s + w]``), the MRD
    history columns of `mrd_history`, and ``covariates``.

    A patient is at risk at ``s`` when their PFS time exceeds ``s`` (strictly: an event or
    censoring on day ``s`` itself removes them, as ``dynpred::cutLM``).
    """
    lm = _landmark_days(landmarks)
    w = as_study_day(window, "window")
    if w <= 0:
        raise ValueError("window must be positive")
    missing = [c for c in covariates if c not in cohort.patients.columns]
    if missing:
        raise ValueError(f"covariates not in the patients table: {missing}")
    pfs = cohort.pfs("days")
    rows = (
        pl.DataFrame({"landmark": lm})
        .join(pfs.select("patient_id", "time", "event"), how="cross")
        .filter(pl.col("time") > pl.col("landmark"))
    )
    horizon = pl.col("landmark") + w
    rows = rows.select(
        "patient_id",
        "landmark",
        pl.col("landmark").cast(pl.Float64).alias("start"),
        pl.min_horizontal(pl.col("time"), horizon.cast(pl.Float64)).alias("stop"),
        ((pl.col("event") == 1) & (pl.col("time") <= horizon)).cast(pl.Int64).alias("event"),
    )
    hist = mrd_history(cohort, lm, threshold, lag).rename({"s": "landmark"})
    out = rows.join(hist, on=["patient_id", "landmark"], how="left")
    if covariates:
        out = out.join(cohort.patients.select("patient_id", *covariates), on="patient_id")
    return out.sort("landmark", "patient_id")


def _landmark_days(landmarks: Sequence[int | str] | None) -> list[int]:
    if landmarks is None:
        return [as_study_day(f"{m}m", "landmark") for m in range(0, 37, 6)]
    days = sorted({as_study_day(v, "landmark") for v in landmarks})
    if not days or days[0] < 0:
        raise ValueError("landmarks must be non-negative study days")
    return days
