"""MRD-/MRD+/progression/death panel data from a Cohort, and a ready-made MRD Markov model.

States (msm numbering): 1 = MRD negative, 2 = MRD positive, 3 = progression, 4 = death.
MRD is observed at visits (panel data); progression and death are observed at exact times with
the preceding state unknown (msm ``deathexact``).  A patient alive and progression-free at last
contact after their last MRD visit contributes a censored observation "in state 1 or 2" (msm
``censor``), coded 99.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.mrd.status import call_status
from mrdtrack.schema import DAYS_PER_YEAR

from .panel_markov import PanelMarkovFit, fit_panel_markov

CENSOR_CODE = 99
STATE_LABELS = {1: "MRD negative", 2: "MRD positive", 3: "progression", 4: "death"}


@dataclass(frozen=True)
class MrdMarkovData:
    """Panel data for the MRD multi-state model, with the model structure it implies.

    ``data`` has one row per observation: ``patient_id``, ``years`` (study day / 365.25),
    ``day``, ``state`` (1..4 or 99 = alive and progression-free, MRD state unknown) and
    ``source`` (mrd / progression / death / last_contact).
    """

    data: pl.DataFrame
    qmatrix: np.ndarray
    exact_death_states: tuple[int, ...]
    censored_states: dict[int, tuple[int, ...]]
    state_labels: dict[int, str]
    counts: dict[str, int] = field(default_factory=dict)

    def table(self) -> pl.DataFrame:
        return self.data

    def summary(self) -> str:
        lines = [
            "MRD multi-state panel data (states: "
            + ", ".join(f"{k} = {v}" for k, v in self.state_labels.items())
            + f"; {CENSOR_CODE} = alive and progression-free, MRD unknown)"
        ]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        return "\n".join(lines)


def _status_visits(cohort: Any, threshold: float) -> tuple[pl.DataFrame, str]:
    """Per-visit MRD calls from `mrdtrack.mrd.status.call_status` (the Cohort's disease preset)."""
    visits = call_status(cohort, threshold).visits
    return visits.select("patient_id", "day", "status"), "mrdtrack.mrd.status.call_status"


def _outcome_days(cohort: Any, death: str) -> pl.DataFrame:
    """Progression / death / last-contact days with death handled as ``death`` says."""
    out = cohort.outcomes.select("patient_id", "progression_day", "death_day", "last_contact_day")
    if death == "as_progression":
        out = out.with_columns(
            pl.min_horizontal("progression_day", "death_day").alias("progression_day"),
            pl.lit(None, dtype=pl.Int64).alias("death_day"),
        )
    elif death == "separate":
        out = out.with_columns(
            pl.when(pl.col("progression_day").is_not_null())
            .then(None)
            .otherwise(pl.col("death_day"))
            .alias("death_day")
        )
    elif death == "censor":
        out = out.with_columns(pl.lit(None, dtype=pl.Int64).alias("death_day"))
    return out


def _endpoint_rows(out: pl.DataFrame, mrd_rows: pl.DataFrame, with_mrd: pl.DataFrame):
    """Rows for progression (state 3), death (4) and the last contact after the last
    observation (censored in 1 or 2 if progression-free, else known to be in 3)."""
    o = out.join(with_mrd, on="patient_id", how="inner")
    last_mrd = mrd_rows.group_by("patient_id").agg(pl.col("day").max().alias("last_mrd"))
    o = o.join(last_mrd, on="patient_id")
    prog = o.filter(pl.col("progression_day").is_not_null()).select(
        "patient_id",
        pl.col("progression_day").alias("day"),
        pl.lit(3).alias("state"),
        pl.lit("progression").alias("source"),
    )
    dth = o.filter(pl.col("death_day").is_not_null()).select(
        "patient_id",
        pl.col("death_day").alias("day"),
        pl.lit(4).alias("state"),
        pl.lit("death").alias("source"),
    )
    # alive at last contact after the last observation: progression-free -> censored (1 or 2);
    # after progression -> known to be in state 3
    alive = o.filter(pl.col("death_day").is_null())
    last_obs = pl.max_horizontal(pl.col("last_mrd"), pl.col("progression_day").fill_null(-1))
    cens = alive.filter(pl.col("last_contact_day") > last_obs).select(
        "patient_id",
        pl.col("last_contact_day").alias("day"),
        pl.when(pl.col("progression_day").is_null()).then(CENSOR_CODE).otherwise(3).alias("state"),
        pl.lit("last_contact").alias("source"),
    )
    return prog, dth, cens


def mrd_markov_data(
    cohort: Any,
    *,
    threshold: float = 1e-5,
    death: str = "as_progression",
) -> MrdMarkovData:
    """Build MRD-/MRD+/progression(/death) panel data from a Cohort.

    MRD status per visit comes from `mrdtrack.mrd.status.call_status` at ``threshold``
    (IMWG 2016 rules); not-evaluable visits are left out and counted.  MRD visits on or after
    progression are left out (the state is then progression) and counted.  Times are study days
    / 365.25 (years).

    Parameters
    ----------
    cohort : Cohort (or any object with ``mrd`` and ``outcomes`` tables of the schema).
    threshold : MRD sensitivity threshold of the status calls.
    death : "as_progression" (default; 3 states: progression or death at its exact time, the
        PFS event — maintenance trials have few deaths without progression), "separate"
        (4 states; progression and death without progression compete, both exact, both
        absorbing: a death after progression is outside the MRD model and left out, so no path
        can pass unseen through progression) or "censor" (3 states; follow-up ends at death,
        which is treated like last contact).

    Returns
    -------
    MrdMarkovData, with ``qmatrix`` (initial values: 1<->2, 1->3, 2->3 and, with separate
    death, 1, 2 -> 4), ``exact_death_states`` and ``censored_states`` ready for
    `fit_panel_markov`.
    """
    if death not in ("separate", "as_progression", "censor"):
        raise ValueError("death must be 'separate', 'as_progression' or 'censor'")
    visits, source = _status_visits(cohort, threshold)
    n_visits = visits.height
    evaluable = visits.filter(pl.col("status").is_in(["negative", "positive"]))
    out = _outcome_days(cohort, death)
    ev = evaluable.join(out, on="patient_id", how="inner")
    after_prog = ev.filter(
        pl.col("progression_day").is_not_null() & (pl.col("day") >= pl.col("progression_day"))
    )
    ev = ev.filter(
        pl.col("progression_day").is_null() | (pl.col("day") < pl.col("progression_day"))
    )
    mrd_rows = ev.select(
        "patient_id",
        "day",
        pl.when(pl.col("status") == "negative").then(1).otherwise(2).alias("state"),
        pl.lit("mrd").alias("source"),
    )
    with_mrd = mrd_rows.select("patient_id").unique()
    prog, dth, cens = _endpoint_rows(out, mrd_rows, with_mrd)
    rows = pl.concat([mrd_rows, prog, dth, cens], how="vertical_relaxed")
    # a death on the day of progression: keep the death (entered through progression or not)
    rows = rows.sort("patient_id", "day", "state").unique(
        ["patient_id", "day"], keep="last", maintain_order=True
    )
    rows = rows.with_columns((pl.col("day") / DAYS_PER_YEAR).alias("years")).select(
        "patient_id", "years", "day", "state", "source"
    )
    k = 4 if death == "separate" else 3
    q = np.zeros((k, k))
    q[0, 1], q[1, 0], q[0, 2], q[1, 2] = 0.2, 0.2, 0.02, 0.1
    if k == 4:
        q[0, 3] = q[1, 3] = 0.02
    exact = (3, 4) if k == 4 else (3,)
    counts = {
        "visits with an MRD call": n_visits,
        "visits not evaluable (left out)": n_visits - evaluable.height,
        "evaluable visits on or after progression (left out)": after_prog.height,
        "patients with at least one evaluable MRD visit": with_mrd.height,
        "patients without an evaluable MRD visit (left out)": int(
            cohort.outcomes.height - with_mrd.height
        ),
        "progressions": prog.height,
        "deaths": dth.height,
        "censored last contacts": cens.filter(pl.col("state") == CENSOR_CODE).height,
    }
    labels = {i: STATE_LABELS[i] for i in range(1, k + 1)}
    if death == "as_progression":
        labels[3] = "progression or death"
    return MrdMarkovData(
        data=rows,
        qmatrix=q,
        exact_death_states=exact,
        censored_states={CENSOR_CODE: (1, 2)},
        state_labels=labels,
        counts={**counts, "MRD status source": source},
    )


def fit_mrd_markov(
    cohort: Any,
    *,
    threshold: float = 1e-5,
    death: str = "as_progression",
    misclassification: bool = False,
    covariates: list[str] | None = None,
    drop: tuple[tuple[int, int], ...] = (),
    **kwargs: Any,
) -> PanelMarkovFit:
    """The ready MRD model: `mrd_markov_data` then `fit_panel_markov`.

    ``misclassification=True`` adds MRD misclassification (a true MRD-positive read negative
    and vice versa, msm ``ematrix``) with the first MRD visit taken as the true state;
    ``covariates`` are columns of the ``patients`` table joined onto every observation.
    ``drop`` lists transitions ``(from, to)`` (msm state numbers) fixed at 0, e.g. ``((1, 3),)``
    when no patient progresses from MRD negative and the intensity would sit on the boundary.
    """
    md = mrd_markov_data(cohort, threshold=threshold, death=death)
    qmatrix = md.qmatrix.copy()
    for r, s in drop:
        if (
            not (1 <= r <= qmatrix.shape[0] and 1 <= s <= qmatrix.shape[0])
            or qmatrix[r - 1, s - 1] == 0
        ):
            raise ValueError(
                f"transition {r}->{s} is not in the MRD model, so it cannot be dropped"
            )
        qmatrix[r - 1, s - 1] = 0.0
    data = md.data
    if covariates:
        data = data.join(
            cohort.patients.select("patient_id", *covariates), on="patient_id", how="left"
        )
    k = md.qmatrix.shape[0]
    extra: dict[str, Any] = {}
    if misclassification:
        e = np.zeros((k, k))
        e[0, 1] = e[1, 0] = 0.05
        data = data.with_columns(
            (pl.col("day") == pl.col("day").min().over("patient_id"))
            .cast(pl.Int8)
            .alias("first_visit")
        )
        starts = data.filter(pl.col("first_visit") == 1)
        p_neg = float((starts.get_column("state") == 1).mean())
        extra = {
            "ematrix": e,
            "obstrue": "first_visit",
            "initprobs": [p_neg, 1 - p_neg] + [0.0] * (k - 2),
        }
    return fit_panel_markov(
        data,
        subject="patient_id",
        time="years",
        state="state",
        qmatrix=qmatrix,
        exact_death_states=md.exact_death_states,
        censored_states=md.censored_states,
        covariates=covariates,
        **extra,
        **kwargs,
    )
