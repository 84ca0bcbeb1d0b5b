"""Each patient's evolving risk: a prediction now, its trajectory over assessments, a watch list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.mrd import as_study_day, call_status
from mrdtrack.predict.crossval import bootstrap_risk
from mrdtrack.predict.supermodel import LandmarkSupermodel, current_rows
from mrdtrack.schema import DAYS_PER_MONTH

#: An interval narrower than this (on the probability scale) is reported as degenerate.
DEGENERATE_WIDTH = 1e-6


@dataclass(frozen=True)
class PatientPrediction:
    """The risk of progression or death within ``window`` days for one patient at day ``at``.

    ``history`` lists the MRD visit calls the prediction used, with the sample ``day`` and the
    day the result became ``known`` (sample day + reporting lag, all on or before ``at``);
    ``n_boot_failed`` counts bootstrap refits left out of the interval (see `bootstrap_risk`).
    ``degenerate`` is True when the bootstrap interval has zero width (every refit gives the
    same risk): then the model, not the patient, fixes the number, and the summary says so.
    """

    patient_id: str
    at: int
    window: int
    risk: float
    lower: float
    upper: float
    conf_level: float
    last_status: str
    lost_negativity: bool
    history: pl.DataFrame
    n_boot: int = 0
    n_boot_failed: int = 0
    lag: int = 0

    @property
    def degenerate(self) -> bool:
        return bool(np.isfinite(self.lower) and self.upper - self.lower < DEGENERATE_WIDTH)

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "at_day": [self.at],
                "window_days": [self.window],
                "risk": [self.risk],
                "lower": [self.lower],
                "upper": [self.upper],
                "last_status": [self.last_status],
                "lost_negativity": [self.lost_negativity],
            }
        )

    def summary(self) -> str:
        months_at = self.at / DAYS_PER_MONTH
        months_w = self.window / DAYS_PER_MONTH
        ci = (
            f" ({self.conf_level:.0%} CI {self.lower:.1%} to {self.upper:.1%}; patient bootstrap,"
            f" {self.n_boot - self.n_boot_failed} of {self.n_boot} refits)"
            if np.isfinite(self.lower)
            else ""
        )
        lines = [
            f"Risk of progression or death within {months_w:.0f} months, "
            f"at month {months_at:.1f} (day {self.at}): {self.risk:.1%}{ci}",
        ]
        if self.degenerate:
            lines.append(
                "  The interval has zero width: every bootstrap refit gives the same risk, so the"
                " model is degenerate for this history (a term estimated at its boundary); the"
                " number is not an informative estimate."
            )
        lines += [
            f"Current MRD status: {self.last_status}"
            + ("; negativity lost" if self.lost_negativity else ""),
            "MRD history used (only results known by day "
            f"{self.at}; reporting lag {self.lag} days):",
        ]
        for r in self.history.iter_rows(named=True):
            lines.append(
                f"  sampled day {r['day']:>5}, known day {r['known_day']:>5}: {r['status']}"
                f"  ({r['reason']})"
            )
        if self.history.height == 0:
            lines.append("  (no MRD result known on or before this day)")
        return "\n".join(lines)


def predict_patient(
    cohort: Cohort,
    model: LandmarkSupermodel,
    patient_id: str,
    at: int | str,
    *,
    covariates: Sequence[str] = (),
    n_boot: int = 200,
    seed: int = 20211,
    conf_level: float = 0.95,
    fit_args: dict[str, Any] | None = None,
) -> PatientPrediction:
    """Predict one patient's risk at day ``at`` from their MRD history up to ``at``.

    The patient must be progression-free and under follow-up at ``at``. The interval is the
    patient-bootstrap percentile interval (`bootstrap_risk`) of the same supermodel specification
    (``fit_args``); ``n_boot=0`` skips it.
    """
    s = as_study_day(at, "at")
    if patient_id not in set(cohort.patients.get_column("patient_id").to_list()):
        raise ValueError("patient not found in the cohort (check the identifier)")
    rows = current_rows(
        cohort, s, covariates, model.threshold, patients=[patient_id], lag=model.lag
    )
    if rows.height == 0:
        raise ValueError(
            "the patient is not progression-free and under follow-up at that day: "
            "dynamic prediction applies only to patients still at risk"
        )
    risk = float(model.predict(rows)[0])
    lower = upper = float("nan")
    n_failed = 0
    if n_boot > 0:
        args = dict(fit_args or {})
        args.setdefault("window", model.window)
        args.setdefault("landmarks", list(model.landmarks))
        args.setdefault("threshold", model.threshold)
        args.setdefault("covariates", tuple(covariates))
        args.setdefault("lag", model.lag)
        limits, n_failed = bootstrap_risk(
            cohort, rows, n_boot=n_boot, seed=seed, conf_level=conf_level, **args
        )
        lower, upper = limits[0]
    visits = call_status(cohort, threshold=model.threshold).visits
    history = (
        visits.with_columns((pl.col("day") + model.lag).alias("known_day"))
        .filter((pl.col("patient_id") == patient_id) & (pl.col("known_day") <= s))
        .select("day", "known_day", "status", "reason")
    )
    r = rows.row(0, named=True)
    return PatientPrediction(
        patient_id=patient_id,
        at=s,
        window=model.window,
        risk=risk,
        lower=float(lower),
        upper=float(upper),
        conf_level=conf_level,
        last_status=r["last_status"],
        lost_negativity=bool(r["lost_negativity"]),
        history=history.sort("day"),
        n_boot=n_boot,
        n_boot_failed=n_failed,
        lag=model.lag,
    )


def risk_trajectory(
    cohort: Cohort,
    model: LandmarkSupermodel,
    patient_id: str,
    *,
    covariates: Sequence[str] = (),
) -> pl.DataFrame:
    """The patient's predicted risk recomputed at each MRD assessment (within the model range).

    Returns ``day, risk, last_status, lost_negativity``: at each assessment day while the
    patient is at risk and the day is within the landmarks the model was fitted on, and at
    day 0.
    """
    visits = call_status(cohort, threshold=model.threshold).visits.filter(
        pl.col("patient_id") == patient_id
    )
    days = sorted({0, *visits.get_column("day").to_list()})
    days = [d for d in days if 0 <= d <= model.design.horizon]
    out = []
    for d in days:
        rows = current_rows(
            cohort, d, covariates, model.threshold, patients=[patient_id], lag=model.lag
        )
        if rows.height == 0:
            break
        r = rows.row(0, named=True)
        out.append(
            {
                "day": int(d),
                "risk": float(model.predict(rows)[0]),
                "last_status": r["last_status"],
                "lost_negativity": bool(r["lost_negativity"]),
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "day": pl.Int64,
            "risk": pl.Float64,
            "last_status": pl.String,
            "lost_negativity": pl.Boolean,
        },
    )


def watch_list(
    cohort: Cohort,
    model: LandmarkSupermodel,
    at: int | str,
    *,
    covariates: Sequence[str] = (),
    n_boot: int = 0,
    seed: int = 20211,
    conf_level: float = 0.95,
    fit_args: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Patients at risk at ``at`` who have lost MRD negativity, with their current risk.

    Sorted by decreasing risk; ``day_of_loss`` is the sample day of the first positive call
    after a negative, ``known_day`` the day it became known (plus the model's reporting lag).
    With ``n_boot`` > 0, ``lower``/``upper`` are patient-bootstrap percentile limits of each risk
    (`bootstrap_risk`, the same supermodel specification ``fit_args``) and ``degenerate`` flags
    a zero-width interval (the model, not the data, fixes that risk); otherwise they are NaN.
    """
    s = as_study_day(at, "at")
    rows = current_rows(cohort, s, covariates, model.threshold, lag=model.lag)
    lost = rows.filter(pl.col("lost_negativity") == 1)
    schema = {
        "patient_id": pl.String,
        "day_of_loss": pl.Int64,
        "known_day": pl.Int64,
        "risk": pl.Float64,
        "lower": pl.Float64,
        "upper": pl.Float64,
        "degenerate": pl.Boolean,
    }
    if lost.height == 0:
        return pl.DataFrame(schema=schema)
    visits = (
        call_status(cohort, threshold=model.threshold)
        .visits.filter(pl.col("status") != "not_evaluable")
        .filter(pl.col("day") + model.lag <= s)
    )
    first_neg = (
        visits.filter(pl.col("status") == "negative")
        .group_by("patient_id")
        .agg(pl.col("day").min().alias("first_neg"))
    )
    loss = (
        visits.join(first_neg, on="patient_id")
        .filter((pl.col("status") == "positive") & (pl.col("day") > pl.col("first_neg")))
        .group_by("patient_id")
        .agg(pl.col("day").min().alias("day_of_loss"))
    )
    lower = upper = np.full(lost.height, np.nan)
    if n_boot > 0:
        args = dict(fit_args or {})
        args.setdefault("window", model.window)
        args.setdefault("landmarks", list(model.landmarks))
        args.setdefault("threshold", model.threshold)
        args.setdefault("covariates", tuple(covariates))
        args.setdefault("lag", model.lag)
        limits, _ = bootstrap_risk(
            cohort, lost, n_boot=n_boot, seed=seed, conf_level=conf_level, **args
        )
        lower, upper = limits[:, 0], limits[:, 1]
    return (
        lost.with_columns(
            pl.Series("risk", model.predict(lost)),
            pl.Series("lower", lower),
            pl.Series("upper", upper),
        )
        .join(loss, on="patient_id", how="left")
        .with_columns(
            (pl.col("day_of_loss") + model.lag).alias("known_day"),
            ((pl.col("upper") - pl.col("lower")) < DEGENERATE_WIDTH)
            .fill_null(False)
            .alias("degenerate"),
        )
        .select(list(schema))
        .sort("risk", descending=True)
    )
