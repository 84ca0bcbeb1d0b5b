"""Counting-process (start, stop] data with MRD status as a time-dependent covariate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.cohort import Cohort
from mrdtrack.mrd.landmark import _unit_factor
from mrdtrack.mrd.presets import Preset, preset_for, with_threshold
from mrdtrack.mrd.status import (
    MRD_SPECIMENS,
    Combine,
    PositiveBelow,
    call_status,
)
from mrdtrack.mrd.trajectories import SustainedAfterConversion, prefix_classes


@dataclass(frozen=True)
class TimeDependentData:
    """(start, stop] rows per patient with the MRD status current in each interval.

    Attributes
    ----------
    data : polars.DataFrame
        ``patient_id, start, stop, event, mrd_status, mrd_positive, mrd_class, status_day``
        (+ covariates). ``mrd_status``/``mrd_class`` are null before a patient's first
        evaluable assessment takes effect.
    excluded : polars.DataFrame
        ``patient_id, reason`` for patients with no time at risk (``time <= 0``) or no outcome.
    lag : int
        Days between an assessment and the start of its effect.
    threshold : float
        MRD threshold of the status calls.
    unit : str
        Unit of ``start``/``stop``.
    """

    data: pl.DataFrame
    excluded: pl.DataFrame
    lag: int
    threshold: float
    unit: str

    def table(self) -> pl.DataFrame:
        """The (start, stop] frame."""
        return self.data

    def person_time(self) -> pl.DataFrame:
        """Person-time and events by current MRD status (null status shown as 'unknown')."""
        return (
            self.data.with_columns(pl.col("mrd_status").fill_null("unknown"))
            .group_by("mrd_status")
            .agg(
                (pl.col("stop") - pl.col("start")).sum().alias("person_time"),
                pl.col("event").sum().cast(pl.Int64).alias("events"),
                pl.col("patient_id").n_unique().cast(pl.Int64).alias("patients"),
            )
            .sort("mrd_status")
        )

    def summary(self) -> str:
        """Rows, patients, events and person-time by status."""
        d = self.data
        lines = [
            f"Time-dependent MRD data: {d.height} (start, stop] rows, "
            f"{d['patient_id'].n_unique()} patients, {int(d['event'].sum())} events; "
            f"lag {self.lag} days; threshold {self.threshold:g}; time in {self.unit}",
        ]
        for status, pt, ev, n in self.person_time().iter_rows():
            lines.append(f"  {status:<10} person-time={pt:.6g} events={ev} patients={n}")
        if self.excluded.height:
            lines.append(f"Excluded: {self.excluded.height} (no time at risk after day 0)")
        return "\n".join(lines)


def time_dependent_data(
    cohort: Cohort,
    lag: int = 0,
    threshold: float | None = None,
    *,
    unit: str = "days",
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    same_visit_days: int = 0,
    confirm_days: int = 365,
    tolerance_days: int = 0,
    sustained_after_conversion: SustainedAfterConversion = "sustained_negative",
    covariates: Sequence[str] | None = None,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> TimeDependentData:
    """Split each patient's PFS follow-up at MRD assessments, carrying the status forward.

    Construction (as R ``survival::tmerge(base, base, id, event = event(time, status))``
    followed by ``tmerge(td, mrd, id, mrd = tdc(day + lag, value))``; Therneau, Crowson &
    Atkinson, "Using time dependent covariates", survival package vignette):

    - Follow-up runs from day 0 to the PFS day (`Cohort.pfs`); the event (progression or
      death) sits on the last interval only.
    - Each evaluable visit call (`call_status`) takes effect at ``t = last sample day + lag``:
      the interval is split at ``t`` when ``0 < t < PFS day``, and the new status applies to
      ``(t, next]``. A call with ``t <= 0`` (baseline sampled on or before day 0) applies from
      day 0; one with ``t >= PFS day`` never applies (information after the event is not used).
    - Not-evaluable visits do not change the current status (the last evaluable status is
      carried forward; nothing imputed). Before the first evaluable call takes effect the
      status is null (R: NA); such rows are kept — drop them, or model them as a level, before
      fitting.
    - Patients with PFS time <= 0 have no (start, stop] interval and are listed in
      ``excluded`` (R tmerge rejects them).
    - ``mrd_class`` is the trajectory class known from the evaluable visits up to the current
      one (`prefix_classes`; the rules of `classify_trajectories` with ``confirm_days``,
      ``tolerance_days``, ``sustained_after_conversion``), carried forward the same way: a
      time-dependent class, e.g. "loss of negativity so far", free of guarantee-time bias.

    Parameters
    ----------
    cohort : Cohort
        The study.
    lag : int
        Days from sample to effect (>= 0), e.g. to allow for the assay turnaround.
    threshold, combine, methods, specimens, same_visit_days, positive_below_threshold
        Passed to `call_status`.
    confirm_days, tolerance_days, sustained_after_conversion
        Class rules for ``mrd_class`` (see `classify_trajectories`).
    unit : {"days", "months", "years"}
        Unit of ``start``/``stop`` (days / 30.4375 for months).
    covariates : sequence of str, optional
        Columns of ``cohort.patients`` repeated on every row.
    disease, disease_options
        Disease preset (default: the Cohort's ``disease``): status rules, threshold
        and the class vocabulary of ``mrd_class``.

    Returns
    -------
    TimeDependentData
        Ready for ``cox_ph(data, time="stop", start="start", event="event", ...)``.
    """
    if int(lag) != lag or lag < 0:
        raise ValueError(f"lag must be a whole number of days >= 0, got {lag!r}")
    factor = _unit_factor(unit)
    preset = with_threshold(preset_for(cohort, disease, disease_options), threshold)
    pfs = cohort.pfs("days").select("patient_id", "time", "event")
    ids = to_polars(cohort.patients).select(pl.col("patient_id").cast(pl.String))
    base = ids.join(pfs, on="patient_id", how="left")
    excluded = base.filter(pl.col("time").is_null() | (pl.col("time") <= 0)).select(
        "patient_id",
        pl.when(pl.col("time").is_null())
        .then(pl.lit("no_outcome_record"))
        .otherwise(pl.lit("no_time_at_risk"))
        .alias("reason"),
    )
    base = base.filter(pl.col("time") > 0).with_columns(pl.col("time").cast(pl.Int64))

    calls = call_status(
        cohort,
        combine=combine,
        methods=methods,
        specimens=specimens,
        positive_below_threshold=positive_below_threshold,
        same_visit_days=same_visit_days,
        disease=preset,
    )
    evaluable = prefix_classes(
        calls.visits,
        required_gap=confirm_days - tolerance_days,
        sustained_after_conversion=sustained_after_conversion,
        preset=preset,
    )
    changes = (
        evaluable.select(
            "patient_id",
            (pl.col("last_day") + int(lag)).alias("t"),
            pl.col("status").alias("mrd_status"),
            "mrd_class",
            pl.col("last_day").alias("status_day"),
        )
        .join(base.select("patient_id", "time"), on="patient_id", how="inner")
        .filter(pl.col("t") < pl.col("time"))
        # Calls effective on or before day 0 apply from the start; the latest one wins.
        .with_columns(pl.max_horizontal(pl.col("t"), pl.lit(0)).alias("t"))
        .sort("patient_id", "t", "status_day")
        .unique(["patient_id", "t"], keep="last", maintain_order=True)
    )
    starts = pl.concat(
        [
            base.select("patient_id", pl.lit(0, dtype=pl.Int64).alias("start")),
            changes.filter(pl.col("t") > 0).select("patient_id", pl.col("t").alias("start")),
        ]
    ).sort("patient_id", "start")
    rows = (
        starts.join(base, on="patient_id", how="left")
        .with_columns(
            pl.col("start").shift(-1).over("patient_id").fill_null(pl.col("time")).alias("stop")
        )
        .with_columns(
            pl.when(pl.col("stop") == pl.col("time"))
            .then(pl.col("event").cast(pl.Int64))
            .otherwise(0)
            .alias("event")
        )
    )
    rows = rows.sort("start").join_asof(
        changes.select(
            "patient_id", pl.col("t").alias("start"), "mrd_status", "mrd_class", "status_day"
        ).sort("start"),
        on="start",
        by="patient_id",
        strategy="backward",
        check_sortedness=False,
    )
    data = rows.select(
        "patient_id",
        (pl.col("start") / factor if unit != "days" else pl.col("start")).alias("start"),
        (pl.col("stop") / factor if unit != "days" else pl.col("stop")).alias("stop"),
        "event",
        "mrd_status",
        pl.when(pl.col("mrd_status").is_null())
        .then(pl.lit(None, pl.Int64))
        .otherwise((pl.col("mrd_status") == "positive").cast(pl.Int64))
        .alias("mrd_positive"),
        "mrd_class",
        "status_day",
    ).sort("patient_id", "start")
    if covariates:
        pats = to_polars(cohort.patients)
        missing = [c for c in covariates if c not in pats.columns]
        if missing:
            raise ValueError(f"covariate column(s) {missing} not in the patients table")
        data = data.join(pats.select("patient_id", *covariates), on="patient_id", how="left")
    return TimeDependentData(
        data=data,
        excluded=excluded.sort("patient_id"),
        lag=int(lag),
        threshold=float(preset.threshold),
        unit=unit,
    )
