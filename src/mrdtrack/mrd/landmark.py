"""Landmark analysis data and the guarantee-time guard for PFS comparisons by MRD class.

A class such as "sustained MRD negativity" can only be known after the patient has lived,
progression-free, long enough to have two negative marrows a year apart. Comparing PFS from
day 0 between such classes credits the class with that event-free "guaranteed" time
(guarantee-time or immortal-time bias; Anderson, Cain & Gelber, J Clin Oncol 1983; Suissa,
Am J Epidemiol 2008). The two honest constructions are the landmark (`landmark_data`) and
time-dependent covariates (`mrdtrack.mrd.time_dependent_data`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.cohort import Cohort
from mrdtrack.errors import GuaranteeTimeBiasError
from mrdtrack.mrd._days import as_study_day
from mrdtrack.mrd.trajectories import TrajectoryClasses, classify_trajectories
from mrdtrack.schema import DAYS_PER_MONTH, DAYS_PER_YEAR

_UNITS = {"days": 1.0, "months": DAYS_PER_MONTH, "years": DAYS_PER_YEAR}

EXCLUSION_REASONS = (
    "progressed_on_or_before_landmark",
    "died_on_or_before_landmark",
    "follow_up_ended_on_or_before_landmark",
    "no_outcome_record",
)

_BIAS_MESSAGE = (
    "these MRD classes were built from assessments after the time origin ({window}); grouping "
    "PFS from day 0 by them credits each class with the event-free time a patient needed to "
    "survive in order to be classified (guarantee-time / immortal-time bias: a patient who "
    "progresses early cannot reach 'sustained negativity'). Use "
    "mrdtrack.mrd.landmark_data(cohort, at=...) to compare classes known at a landmark, with "
    "time reset to the landmark, or mrdtrack.mrd.time_dependent_data(cohort) for (start, stop] "
    "rows with MRD status as a time-dependent covariate (cox_ph(..., start='start'))."
)


def _unit_factor(unit: str) -> float:
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {sorted(_UNITS)}, got {unit!r}")
    return _UNITS[unit]


@dataclass(frozen=True)
class LandmarkData:
    """PFS from a landmark, by MRD class known at the landmark; who was excluded and why.

    Attributes
    ----------
    data : polars.DataFrame
        One row per patient at risk at the landmark: ``patient_id, time, event, event_type,
        mrd_class, known_day, evidence_days, first_status, n_evaluable, landmark_day`` plus any
        requested covariates; ``time`` runs from the landmark in ``unit``.
    excluded : polars.DataFrame
        ``patient_id, reason, day`` for every patient not at risk at the landmark.
    classes : TrajectoryClasses
        Classes built from assessments on or before the landmark (all patients).
    landmark_day : int
        The landmark as a study day.
    unit : str
        Unit of ``time`` ("days", "months" = days/30.4375, "years" = days/365.25).
    """

    data: pl.DataFrame
    excluded: pl.DataFrame
    classes: TrajectoryClasses
    landmark_day: int
    unit: str

    def table(self) -> pl.DataFrame:
        """The analysis frame (one row per patient at risk at the landmark)."""
        return self.data

    def counts(self) -> pl.DataFrame:
        """Patients at risk and PFS events after the landmark, per class."""
        return (
            self.data.group_by("mrd_class")
            .agg(
                pl.len().cast(pl.Int64).alias("n"),
                pl.col("event").sum().cast(pl.Int64).alias("events"),
            )
            .sort("mrd_class")
        )

    def summary(self) -> str:
        """Landmark, numbers at risk by class, exclusions by reason."""
        lines = [
            f"Landmark at study day {self.landmark_day}: {self.data.height} patients at risk "
            f"(time from landmark in {self.unit}); classes from assessments on or before the "
            "landmark only",
        ]
        for cls, n, ev in self.counts().iter_rows():
            lines.append(f"  {cls:<20} n={n:<5} events={ev}")
        lines.append(f"Excluded: {self.excluded.height}")
        for reason, n in self.excluded.group_by("reason").agg(pl.len()).sort("reason").iter_rows():
            lines.append(f"  {reason}: {n}")
        return "\n".join(lines)


def landmark_data(
    cohort: Cohort,
    at: int | str = "24m",
    threshold: float | None = None,
    *,
    unit: str = "days",
    covariates: Sequence[str] | None = None,
    **class_options: Any,
) -> LandmarkData:
    """Build landmark PFS data: patients at risk at ``at``, class from data up to ``at``.

    Method: the landmark method (Anderson, Cain & Gelber, J Clin Oncol 1983;1:710-719).
    A patient is at risk at landmark L (a study day; "24m" = day 730) when PFS time > L,
    i.e. alive, progression-free and still followed *after* day L; a patient whose
    progression, death or end of follow-up falls on day L itself is excluded (no time at risk
    after L). The MRD class uses only assays with sample day <= L and before progression
    (`classify_trajectories` with ``window_end=L``). Time is reset: ``time = (PFS day - L)``
    in ``unit``; ``event`` is the PFS event (progression or death). R equivalent:
    ``subset(d, time > L)`` then ``time - L`` (``survival::survSplit`` at L and keeping the
    second piece gives the same rows).

    Parameters
    ----------
    cohort : Cohort
        The study.
    at : int or str
        Landmark: study day or "24m" / "2y" / "730d" (months 30.4375 days, rounded down).
    threshold : float, optional
        MRD threshold (default: the disease preset's; myeloma 1e-5).
    unit : {"days", "months", "years"}
        Unit of the reset time.
    covariates : sequence of str, optional
        Columns of ``cohort.patients`` to carry into the analysis frame.
    **class_options
        Passed to `classify_trajectories` (``confirm_days``, ``tolerance_days``, ``combine``,
        ``disease``, ``disease_options``…); classes and their names follow the disease preset.

    Returns
    -------
    LandmarkData
    """
    factor = _unit_factor(unit)
    landmark = as_study_day(at, "at")
    if landmark < 0:
        raise ValueError("the landmark must be a study day >= 0")
    classes = classify_trajectories(
        cohort, window_end=landmark, threshold=threshold, **class_options
    )
    pfs = cohort.pfs("days")
    ids = classes.classes.select("patient_id")
    merged = ids.join(pfs, on="patient_id", how="left")
    reason = (
        pl.when(pl.col("time").is_null())
        .then(pl.lit("no_outcome_record"))
        .when(pl.col("time") > landmark)
        .then(pl.lit(None, pl.String))
        .when(pl.col("event_type") == "progression")
        .then(pl.lit("progressed_on_or_before_landmark"))
        .when(pl.col("event_type") == "death")
        .then(pl.lit("died_on_or_before_landmark"))
        .otherwise(pl.lit("follow_up_ended_on_or_before_landmark"))
    )
    merged = merged.with_columns(reason.alias("reason"))
    excluded = merged.filter(pl.col("reason").is_not_null()).select(
        "patient_id", "reason", pl.col("time").cast(pl.Int64).alias("day")
    )
    at_risk = merged.filter(pl.col("reason").is_null())
    keep_cols = [
        "patient_id",
        "mrd_class",
        "known_day",
        "evidence_days",
        "first_status",
        "n_evaluable",
        "converted",
        "sustained",
    ]
    data = at_risk.select(
        "patient_id",
        ((pl.col("time") - landmark) / factor).alias("time"),
        pl.col("event").cast(pl.Int64),
        "event_type",
    ).join(classes.classes.select(keep_cols), on="patient_id", how="left")
    data = data.with_columns(pl.lit(landmark, dtype=pl.Int64).alias("landmark_day"))
    if covariates:
        pats = to_polars(cohort.patients)
        missing = [c for c in covariates if c not in pats.columns]
        if missing:
            raise ValueError(f"covariate column(s) {missing} not in the patients table")
        data = data.join(pats.select("patient_id", *covariates), on="patient_id", how="left")
    return LandmarkData(
        data=data.sort("patient_id"),
        excluded=excluded.sort("patient_id"),
        classes=classes,
        landmark_day=landmark,
        unit=unit,
    )


def pfs_by_class(
    cohort: Cohort, classes: Any, *, unit: str = "days", column: str = "mrd_class"
) -> pl.DataFrame:
    """PFS rows (``patient_id, time, event, <column>``) grouped by MRD class — bias-guarded.

    Accepts a `LandmarkData` (returns its frame: time from the landmark), or a
    `TrajectoryClasses` / class table whose window ends at or before day 0 (e.g. a baseline
    class), joined to PFS from day 0. A class built with any assessment after day 0 raises
    `GuaranteeTimeBiasError`: that comparison is biased in favour of classes that need
    follow-up to be reached. Class tables carry the window they used (``window_end``; null =
    whole follow-up), which is what is checked; ``column`` names the grouping column of a
    plain table (e.g. ``"status"`` for `baseline_status`, whose window ends at its upper bound).

    Raises
    ------
    GuaranteeTimeBiasError
        If the classes used post-origin information.
    """
    factor = _unit_factor(unit)
    if isinstance(classes, LandmarkData):
        if classes.unit != unit:
            return classes.data.with_columns(pl.col("time") * _UNITS[classes.unit] / factor)
        return classes.data
    if isinstance(classes, TrajectoryClasses):
        window_end = classes.window_end
        table = classes.classes
    else:
        table = to_polars(classes)
        if "window_end" not in table.columns or column not in table.columns:
            raise ValueError(
                "classes must be a TrajectoryClasses, a LandmarkData, or a class table with "
                f"{column!r} and 'window_end' columns (as made by classify_trajectories)"
            )
        ends = table["window_end"]
        window_end = None if ends.null_count() else int(ends.max())
    if window_end is None or window_end > 0:
        window = "whole follow-up" if window_end is None else f"assessments up to day {window_end}"
        raise GuaranteeTimeBiasError(_BIAS_MESSAGE.format(window=window))
    pfs = cohort.pfs("days").with_columns(pl.col("time") / factor)
    return pfs.join(table.select("patient_id", column), on="patient_id", how="inner").sort(
        "patient_id"
    )
