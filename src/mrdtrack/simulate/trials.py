"""Simulated trials as arrays (`Trials`) and one replicate as the four study tables.

The result codes of a simulated MRD sample and the `Trials` container are shared by the
generative model (`mrdtrack.simulate.model`), the analyses and the tables; the tables of a
replicate (`trial_tables`) follow `mrdtrack.schema` and become a validated `Cohort` through
`Cohort.from_frames` only (`Trials.to_cohort`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.simulate.params import SimulationParams

NO_SAMPLE, NEGATIVE, POSITIVE, NOT_EVALUABLE = 0, 1, 2, 3
RESULT_LABELS = ("", "negative", "positive", "not_evaluable")


@dataclass(frozen=True)
class Trials:
    """Simulated trials as arrays: patients ``(R, n)``, visits ``(R, n, V)``, AEs ``(R, n, T)``.

    Times are study days (float for continuous quantities before rounding, int64 after).
    ``progression_day``, ``death_day`` and ``treatment_end_day`` are ``-1`` when absent.
    """

    params: SimulationParams
    seed: int
    replicates: np.ndarray
    enrol_day: np.ndarray
    cutoff_day: np.ndarray
    age: np.ndarray
    male: np.ndarray
    prior_transplant: np.ndarray
    high_risk: np.ndarray
    iss: np.ndarray
    induction: np.ndarray
    baseline_response: np.ndarray
    baseline_state_negative: np.ndarray
    progression_day: np.ndarray
    death_day: np.ndarray
    last_contact_day: np.ndarray
    treatment_end_day: np.ndarray
    treatment_end_reason: np.ndarray
    cycles_completed: np.ndarray
    visit_day: np.ndarray
    visit_result: np.ndarray
    visit_sensitivity: np.ndarray
    visit_clonal_fraction: np.ndarray
    ae_grade: np.ndarray
    ae_onset: np.ndarray
    ae_related: np.ndarray
    sae: np.ndarray
    sae_term: np.ndarray
    sae_onset: np.ndarray

    @property
    def n_replicates(self) -> int:
        return self.enrol_day.shape[0]

    def subset(self, rows: np.ndarray) -> Trials:
        """Trials restricted to replicate rows ``rows`` (an index array)."""
        kw = {
            k: (v[rows] if isinstance(v, np.ndarray) else v)
            for k, v in self.__dict__.items()
            if k not in ("params", "seed")
        }
        return Trials(params=self.params, seed=self.seed, **kw)

    def to_cohort(self, r: int = 0, *, name: str | None = None) -> Cohort:
        """Replicate row ``r`` as a `Cohort`, validated by `Cohort.from_frames`."""
        frames = trial_tables(self, r)
        return Cohort.from_frames(
            frames["patients"],
            frames["mrd"],
            frames["outcomes"],
            frames["adverse_events"],
            name=name or f"{self.params.name} replicate {self.replicates[r]}",
        )


ISS_LABELS = ("I", "II", "III")
TREATMENT_END_REASONS = (
    "",
    "withdrawal before cycle 5",
    "progression",
    "death",
    "protocol completed (5 years)",
    "lost to follow-up",
    "adverse event or patient decision",
)


def visit_labels(n_visits: int, interval_days: float) -> np.ndarray:
    """Visit names: ``BASELINE``, then ``YEAR1``… for a yearly schedule (interval 365 or 365.25
    days), else ``MONTH6``… (months after the baseline sample, days / 30.4375, rounded)."""
    if 365.0 <= interval_days <= 365.25:
        later = [f"YEAR{k}" for k in range(1, n_visits)]
    else:
        later = [f"MONTH{round(k * interval_days / 30.4375)}" for k in range(1, n_visits)]
    return np.array(["BASELINE", *later])


def _null_if(values: np.ndarray, missing: np.ndarray) -> list:
    return [None if m else v for v, m in zip(values.tolist(), missing.tolist(), strict=True)]


def trial_tables(trials: Trials, r: int) -> dict[str, pl.DataFrame]:
    """The patients, mrd, outcomes and adverse_events tables of replicate row ``r``.

    Patients are numbered ``"001"…`` in order of enrolment (ties by simulation order).
    """
    order = np.argsort(trials.enrol_day[r], kind="stable")
    n = order.size
    width = max(3, len(str(n)))
    ids = np.array([str(k + 1).zfill(width) for k in range(n)])

    def g(a: np.ndarray) -> np.ndarray:  # replicate row r, patients in enrolment order
        return a[r][order]

    return {
        "patients": _patients_table(trials, g, ids),
        "mrd": _mrd_table(trials, g, ids),
        "outcomes": _outcomes_table(trials, g, ids),
        "adverse_events": _adverse_events_table(trials, g, ids),
    }


def _patients_table(t: Trials, g, ids: np.ndarray) -> pl.DataFrame:
    """The patients table (`mrdtrack.schema`); ``g`` picks the replicate row in patient order."""
    p, n = t.params, ids.size
    # R-ISS without LDH (not simulated): I = ISS I and standard risk, III = ISS III and high
    # risk, II otherwise (Palumbo et al. 2015)
    iss, hr = g(t.iss), g(t.high_risk)
    riss = np.where((iss == 0) & ~hr, 0, np.where((iss == 2) & hr, 2, 1))
    return pl.DataFrame(
        {
            "patient_id": ids,
            "arm": np.full(n, "lenalidomide maintenance"),
            "site": np.full(n, "site 1"),
            "cutoff_day": g(t.cutoff_day),
            "age": g(t.age).astype(float),
            "sex": np.where(g(t.male), "M", "F"),
            "iss": np.array(ISS_LABELS)[g(t.iss)],
            "riss": np.array(ISS_LABELS)[riss],
            "cytogenetic_risk": np.where(g(t.high_risk), "high", "standard"),
            "prior_transplant": g(t.prior_transplant),
            "induction": np.array(p.covariates.induction)[g(t.induction)],
            "baseline_response": np.array(p.covariates.responses)[g(t.baseline_response)],
            "cycles_completed": g(t.cycles_completed),
        }
    )


def _outcomes_table(t: Trials, g, ids: np.ndarray) -> pl.DataFrame:
    """The outcomes table: progression, death, last contact, end of treatment."""
    p, n = t.params, ids.size
    prog, death, txe = g(t.progression_day), g(t.death_day), g(t.treatment_end_day)
    reason = np.array(TREATMENT_END_REASONS, dtype=object)[g(t.treatment_end_reason)]
    return pl.DataFrame(
        {
            "patient_id": ids,
            "progression_day": pl.Series(_null_if(prog, prog < 0), dtype=pl.Int64),
            "progression_method": pl.Series(
                _null_if(np.full(n, "IMWG_laboratory"), prog < 0), dtype=pl.String
            ),
            "death_day": pl.Series(_null_if(death, death < 0), dtype=pl.Int64),
            "death_cause": pl.Series(
                _null_if(np.full(n, p.death.cause), death < 0), dtype=pl.String
            ),
            "last_contact_day": g(t.last_contact_day),
            "treatment_end_day": pl.Series(_null_if(txe, txe < 0), dtype=pl.Int64),
            "treatment_end_reason": pl.Series(_null_if(reason, txe < 0), dtype=pl.String),
        }
    )


def _mrd_table(t: Trials, g, ids: np.ndarray) -> pl.DataFrame:
    """The mrd table: one row per sample taken (missed visits have none)."""
    p = t.params
    res = g(t.visit_result)
    pi, vi = np.nonzero(res != NO_SAMPLE)
    rv = res[pi, vi]
    cf = g(t.visit_clonal_fraction)[pi, vi]
    return pl.DataFrame(
        {
            "patient_id": ids[pi],
            "day": g(t.visit_day)[pi, vi],
            "visit": visit_labels(res.shape[-1], p.assessment.interval_days)[vi],
            "method": np.full(pi.size, p.assessment.method),
            "specimen": np.full(pi.size, p.assessment.specimen),
            "sensitivity": pl.Series(
                _null_if(g(t.visit_sensitivity)[pi, vi], rv == NOT_EVALUABLE),
                dtype=pl.Float64,
            ),
            "result": np.array(RESULT_LABELS)[rv],
            "clonal_fraction": pl.Series(_null_if(cf, rv != POSITIVE), dtype=pl.Float64),
            "adequate": rv != NOT_EVALUABLE,
        }
    )


def _adverse_events_table(t: Trials, g, ids: np.ndarray) -> pl.DataFrame:
    """The adverse_events table: per-term events, the serious event, a grade-5 event per death."""
    p = t.params
    death = g(t.death_day)
    rows: list[pl.DataFrame] = []
    terms = p.safety.terms
    if terms:
        gr = g(t.ae_grade)
        pa, ta = np.nonzero(gr > 0)
        rows.append(
            pl.DataFrame(
                {
                    "patient_id": ids[pa],
                    "term": np.array([x.term for x in terms])[ta],
                    "body_system": np.array([x.body_system for x in terms])[ta],
                    "grade": gr[pa, ta].astype(np.int64),
                    "serious": np.zeros(pa.size, dtype=bool),
                    "onset_day": g(t.ae_onset)[pa, ta],
                    "related": g(t.ae_related)[pa, ta],
                }
            )
        )
    ps = np.nonzero(g(t.sae))[0]
    st = g(t.sae_term)[ps]
    rows.append(
        pl.DataFrame(
            {
                "patient_id": ids[ps],
                "term": np.array(p.safety.serious_terms)[st],
                "body_system": np.array(p.safety.serious_body_systems)[st],
                "grade": np.full(ps.size, 3, dtype=np.int64),
                "serious": np.ones(ps.size, dtype=bool),
                "onset_day": g(t.sae_onset)[ps],
                "related": np.zeros(ps.size, dtype=bool),
            }
        )
    )
    pdth = np.nonzero(death >= 0)[0]
    rows.append(
        pl.DataFrame(
            {
                "patient_id": ids[pdth],
                "term": np.full(pdth.size, p.death.grade5_term),
                "body_system": np.full(pdth.size, p.death.grade5_body_system),
                "grade": np.full(pdth.size, 5, dtype=np.int64),
                "serious": np.ones(pdth.size, dtype=bool),
                "onset_day": death[pdth],
                "related": np.zeros(pdth.size, dtype=bool),
            }
        )
    )
    ae = pl.concat(rows, how="vertical")
    ae = ae.with_columns(pl.col("term").alias("decod")).select(
        "patient_id", "term", "decod", "body_system", "grade", "serious", "onset_day", "related"
    )
    return ae.sort(["patient_id", "onset_day", "term"])
