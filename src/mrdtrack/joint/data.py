"""Joint-model data: one longitudinal marker (possibly left-censored) and one event time.

`JointData` holds plain arrays (the fitter's input, like R's ``jointModel`` after its
front-end): observation times, values, a left-censoring flag per sample (the value of a censored
sample is its own limit of detection), and per patient the event time, event indicator and
baseline covariates. Two front-ends build it: `joint_data` from a long and a per-patient frame
(pandas or polars), and `joint_data_from_cohort` from a `Cohort`'s MRD table, where the marker is
``log10(clonal_fraction)`` and a negative sample is left-censored at ``log10(sensitivity)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.schema import DAYS_PER_MONTH, DAYS_PER_YEAR

_UNITS = {"days": 1.0, "months": DAYS_PER_MONTH, "years": DAYS_PER_YEAR}


@dataclass(frozen=True, eq=False, repr=False)
class JointData:
    """Arrays of a joint model. Patients are rows ``0..N-1``; observations are sorted by patient.

    Attributes
    ----------
    patient_id : (N,) identifiers (text; never printed).
    obs_patient, obs_time, value, censored : (n_obs,) patient row, time, marker value and
        left-censoring flag (True: the true value is below ``value``, the sample's LOD).
    event_time, event : (N,) follow-up time and event indicator (1 = event, 0 = censored).
    long_covariates : (N, p) baseline covariates in the longitudinal mean (``long_names``);
        ``time_interactions`` names those also interacting with the time basis.
    surv_covariates : (N, r) baseline covariates of the hazard (``surv_names``).
    notes : counts of records used and dropped by the front-end.
    """

    patient_id: np.ndarray
    obs_patient: np.ndarray
    obs_time: np.ndarray
    value: np.ndarray
    censored: np.ndarray
    event_time: np.ndarray
    event: np.ndarray
    long_covariates: np.ndarray
    long_names: tuple[str, ...]
    time_interactions: tuple[str, ...]
    surv_covariates: np.ndarray
    surv_names: tuple[str, ...]
    marker: str = "marker"
    time_unit: str = "years"
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def n_patients(self) -> int:
        return len(self.event_time)

    @property
    def n_obs(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return (
            f"JointData(patients={self.n_patients}, observations={self.n_obs}, "
            f"censored={int(self.censored.sum())}, events={int(self.event.sum())})"
        )

    def subset(self, rows: np.ndarray) -> JointData:
        """The patients at ``rows`` (integer positions), with their observations."""
        rows = np.asarray(rows, dtype=np.int64)
        new_index = np.full(self.n_patients, -1)
        new_index[rows] = np.arange(len(rows))
        keep = new_index[self.obs_patient] >= 0
        op = new_index[self.obs_patient[keep]]
        order = np.argsort(op, kind="stable")
        return JointData(
            patient_id=self.patient_id[rows],
            obs_patient=op[order],
            obs_time=self.obs_time[keep][order],
            value=self.value[keep][order],
            censored=self.censored[keep][order],
            event_time=self.event_time[rows],
            event=self.event[rows],
            long_covariates=self.long_covariates[rows],
            long_names=self.long_names,
            time_interactions=self.time_interactions,
            surv_covariates=self.surv_covariates[rows],
            surv_names=self.surv_names,
            marker=self.marker,
            time_unit=self.time_unit,
        )

    def up_to(self, landmark: float) -> JointData:
        """The data a prediction at ``landmark`` may use: observations at times <= landmark."""
        keep = self.obs_time <= landmark
        return JointData(
            patient_id=self.patient_id,
            obs_patient=self.obs_patient[keep],
            obs_time=self.obs_time[keep],
            value=self.value[keep],
            censored=self.censored[keep],
            event_time=self.event_time,
            event=self.event,
            long_covariates=self.long_covariates,
            long_names=self.long_names,
            time_interactions=self.time_interactions,
            surv_covariates=self.surv_covariates,
            surv_names=self.surv_names,
            marker=self.marker,
            time_unit=self.time_unit,
        )


def _polars(frame: Any) -> pl.DataFrame:
    return frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)


def _covariate_matrix(frame: pl.DataFrame, names: tuple[str, ...], what: str, problems: list[str]):
    cols = []
    for name in names:
        if name not in frame.columns:
            problems.append(f"{what} covariate {name!r} is not a column")
            continue
        s = frame[name]
        if s.dtype == pl.Boolean:
            s = s.cast(pl.Float64)
        if not s.dtype.is_numeric():
            problems.append(f"{what} covariate {name!r} is not numeric or boolean (code it 0/1)")
            continue
        if s.null_count():
            problems.append(f"{what} covariate {name!r} has {s.null_count()} missing values")
            continue
        cols.append(s.cast(pl.Float64).to_numpy())
    n = frame.height
    return np.column_stack(cols) if cols else np.zeros((n, 0))


def joint_data(
    longitudinal: Any,
    patients: Any,
    *,
    id: str = "id",
    time: str = "time",
    value: str = "value",
    censored: str | None = None,
    event_time: str = "event_time",
    event: str = "event",
    long_covariates: tuple[str, ...] = (),
    time_interactions: tuple[str, ...] = (),
    surv_covariates: tuple[str, ...] = (),
    marker: str = "marker",
    unit: str = "years",
) -> JointData:
    """Build `JointData` from a long frame (one row per sample) and a per-patient frame.

    ``censored`` names a boolean column of the long frame: True when the sample is below its
    limit of detection, in which case ``value`` holds that limit (Tobit convention, as JMbayes2's
    ``censored normal`` family). Covariates come from the per-patient frame and must be numeric
    or boolean. Samples after the patient's event or censoring time are dropped (counted in
    ``notes``). Raises ValueError listing every problem.
    """
    long = _polars(longitudinal)
    pat = _polars(patients)
    problems: list[str] = []
    for c in (id, time, value) + ((censored,) if censored else ()):
        if c not in long.columns:
            problems.append(f"longitudinal column {c!r} is missing")
    for c in (id, event_time, event):
        if c not in pat.columns:
            problems.append(f"patient column {c!r} is missing")
    bad_inter = [c for c in time_interactions if c not in long_covariates]
    if bad_inter:
        problems.append(f"time_interactions {bad_inter} must also be in long_covariates")
    if problems:
        raise ValueError("joint data: " + "; ".join(problems))
    pat = pat.with_columns(pl.col(id).cast(pl.String))
    if pat[id].is_duplicated().any():
        problems.append("patient frame has duplicated identifiers")
    et = pat[event_time].cast(pl.Float64).to_numpy()
    ev = pat[event].cast(pl.Int64).to_numpy()
    if np.any(~np.isfinite(et)) or np.any(et <= 0):
        problems.append("event times must be finite and > 0")
    if np.any((ev != 0) & (ev != 1)):
        problems.append("event indicator must be 0 or 1")
    lx = _covariate_matrix(pat, tuple(long_covariates), "longitudinal", problems)
    wx = _covariate_matrix(pat, tuple(surv_covariates), "survival", problems)
    long = long.with_columns(pl.col(id).cast(pl.String))
    index = dict(zip(pat[id].to_list(), range(pat.height), strict=True))
    row = np.array([index.get(k, -1) for k in long[id].to_list()], dtype=np.int64)
    if np.any(row < 0):
        problems.append(f"{int((row < 0).sum())} longitudinal rows have no patient row")
    t = long[time].cast(pl.Float64).to_numpy()
    y = long[value].cast(pl.Float64).to_numpy()
    cens = long[censored].cast(pl.Boolean).to_numpy() if censored else np.zeros(len(y), bool)
    if np.any(~np.isfinite(t)) or np.any(~np.isfinite(y)):
        problems.append("longitudinal times and values must be finite (drop missing samples)")
    if problems:
        raise ValueError("joint data: " + "; ".join(problems))
    after = t > et[row]
    keep = ~after
    order = np.lexsort((t[keep], row[keep]))
    return JointData(
        patient_id=np.asarray(pat[id].to_list(), dtype=object),
        obs_patient=row[keep][order],
        obs_time=t[keep][order],
        value=y[keep][order],
        censored=np.asarray(cens[keep][order], dtype=bool),
        event_time=et,
        event=ev.astype(np.int8),
        long_covariates=lx,
        long_names=tuple(long_covariates),
        time_interactions=tuple(time_interactions),
        surv_covariates=wx,
        surv_names=tuple(surv_covariates),
        marker=marker,
        time_unit=unit,
        notes={"samples_used": int(keep.sum()), "samples_after_event_dropped": int(after.sum())},
    )


def joint_data_from_cohort(
    cohort: Cohort,
    *,
    unit: str = "years",
    long_covariates: tuple[str, ...] = (),
    time_interactions: tuple[str, ...] = (),
    surv_covariates: tuple[str, ...] = (),
    method: str | None = None,
    specimen: str | None = "bone_marrow",
) -> JointData:
    """Joint-model data from a `Cohort`: log10 MRD level and progression-free survival.

    Marker: ``log10(clonal_fraction)`` of a positive sample with a reported clonal fraction;
    a negative sample with a reported sensitivity is left-censored at ``log10(sensitivity)``
    (its own LOD). Dropped and counted in ``notes``: not-evaluable / indeterminate samples,
    inadequate samples, positives without a level, negatives without a sensitivity, samples of
    other methods / specimens. Levels of different assays are not on one scale, so more than one
    method among the kept samples is an error unless ``method`` picks one.
    Event: PFS (`Cohort.pfs`): progression or death, censored at last contact / cutoff; times in
    ``unit`` (days, months = days/30.4375, years = days/365.25).
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {sorted(_UNITS)}, got {unit!r}")
    m = cohort.mrd
    notes: dict[str, int] = {"samples_read": m.height}
    if specimen is not None and "specimen" in m.columns:
        notes["other_specimen_dropped"] = int(
            (m["specimen"].fill_null("bone_marrow") != specimen).sum()
        )
        m = m.filter(pl.col("specimen").fill_null("bone_marrow") == specimen)
    if method is not None:
        notes["other_method_dropped"] = int((m["method"] != method).sum())
        m = m.filter(pl.col("method") == method)
    if "adequate" in m.columns:
        notes["inadequate_dropped"] = int((m["adequate"] == False).sum())  # noqa: E712
        m = m.filter(pl.col("adequate").fill_null(True))
    pos = (pl.col("result") == "positive") & (pl.col("clonal_fraction") > 0)
    neg = (pl.col("result") == "negative") & (pl.col("sensitivity") > 0)
    notes["no_level_dropped"] = int(m.height - m.filter(pos | neg).height)
    m = m.filter(pos | neg)
    methods = m["method"].unique().to_list()
    if len(methods) > 1:
        raise ValueError(
            f"joint data: {len(methods)} assay methods carry levels; pick one with method="
        )
    long = m.select(
        pl.col("patient_id"),
        (pl.col("day").cast(pl.Float64) / _UNITS[unit]).alias("time"),
        pl.when(pos)
        .then(pl.col("clonal_fraction").log10())
        .otherwise(pl.col("sensitivity").log10())
        .alias("value"),
        (~pos).alias("censored"),
    )
    pfs = cohort.pfs(unit)
    pat = pfs.join(cohort.patients, on="patient_id", how="left")
    pat = pat.with_columns(pl.col("time").clip(lower_bound=1e-6 / _UNITS[unit]))
    out = joint_data(
        long,
        pat,
        id="patient_id",
        time="time",
        value="value",
        censored="censored",
        event_time="time",
        event="event",
        long_covariates=long_covariates,
        time_interactions=time_interactions,
        surv_covariates=surv_covariates,
        marker="log10 MRD level",
        unit=unit,
    )
    notes.update(out.notes)
    object.__setattr__(out, "notes", notes)
    return out
