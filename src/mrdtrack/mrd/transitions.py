"""MRD state by yearly visit, visit-to-visit transitions, prevalence, and patient timelines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.cohort import Cohort
from mrdtrack.mrd.presets import Preset, preset_for, with_threshold
from mrdtrack.mrd.status import (
    MRD_SPECIMENS,
    Combine,
    PositiveBelow,
    call_status,
)
from mrdtrack.mrd.trajectories import restrict_assessments
from mrdtrack.schema import DAYS_PER_YEAR

MRD_STATES = ("negative", "positive", "not_evaluable")
OTHER_STATES = ("missing", "progressed", "died", "censored")
STATES = MRD_STATES + OTHER_STATES


@dataclass(frozen=True)
class Transitions:
    """MRD state at nominal yearly visits and the transitions between consecutive visits.

    Attributes
    ----------
    states : polars.DataFrame
        One row per patient and visit: ``patient_id, visit, nominal_day, day, state``
        (``day`` = sample day of the assessment used, null when not assessed).
    transitions : polars.DataFrame
        ``from_visit, to_visit, from_state, to_state, n, row_percent`` (row percentages within
        a from-visit and from-state; all seven states, including absorbing ones).
    prevalence : polars.DataFrame
        ``visit, nominal_day, state, n, percent_of_patients, percent_of_evaluable``
        (``percent_of_evaluable`` only for negative/positive: denominator negative + positive).
    visit_window_days : int
        Half-width of each visit window.
    threshold : float
        MRD threshold of the status calls.
    """

    states: pl.DataFrame
    transitions: pl.DataFrame
    prevalence: pl.DataFrame
    visit_window_days: int
    threshold: float

    def table(self) -> pl.DataFrame:
        """The visit-to-visit transition counts with row percentages."""
        return self.transitions

    def matrix(self, from_visit: int) -> pl.DataFrame:
        """Wide count matrix for one step ``from_visit -> from_visit + 1`` (rows: from_state)."""
        t = self.transitions.filter(pl.col("from_visit") == from_visit)
        if t.height == 0:
            raise ValueError(f"no transitions from visit {from_visit}")
        wide = t.pivot(on="to_state", index="from_state", values="n").fill_null(0)
        cols = [s for s in STATES if s in wide.columns]
        return wide.select("from_state", *cols)

    def summary(self) -> str:
        """Prevalence of MRD negativity by visit, with not-evaluable and missing counts."""
        lines = [
            f"MRD state by yearly visit (window +/-{self.visit_window_days} days, threshold "
            f"{self.threshold:g})",
            "  visit  negative  positive  not_eval  missing  progressed  died  censored",
        ]
        p = self.prevalence
        for v in sorted(p["visit"].unique().to_list()):
            row = dict(p.filter(pl.col("visit") == v).select("state", "n").iter_rows())
            lines.append(
                f"  {v:>5}  {row.get('negative', 0):>8}  {row.get('positive', 0):>8}  "
                f"{row.get('not_evaluable', 0):>8}  {row.get('missing', 0):>7}  "
                f"{row.get('progressed', 0):>10}  {row.get('died', 0):>4}  "
                f"{row.get('censored', 0):>8}"
            )
        return "\n".join(lines)


def _follow_up(cohort: Cohort) -> pl.DataFrame:
    o = to_polars(cohort.outcomes)
    p = to_polars(cohort.patients).select(pl.col("patient_id").cast(pl.String), "cutoff_day")
    cols = {
        c: pl.lit(None, pl.Int64) for c in ("progression_day", "death_day") if c not in o.columns
    }
    o = o.with_columns(**cols)
    return p.join(
        o.select(
            pl.col("patient_id").cast(pl.String),
            pl.col("progression_day").cast(pl.Int64),
            pl.col("death_day").cast(pl.Int64),
            pl.col("last_contact_day").cast(pl.Int64),
        ),
        on="patient_id",
        how="left",
    ).with_columns(
        pl.min_horizontal("last_contact_day", "cutoff_day").alias("follow_up_end"),
    )


def visit_states(
    cohort: Cohort,
    threshold: float | None = None,
    *,
    visit_window_days: int = 90,
    n_visits: int | None = None,
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """MRD state of every patient at nominal yearly visits 0 (baseline), 1, 2, ….

    Visit k has nominal day ``round(k * 365.25)`` and window ``nominal +/- visit_window_days``
    (default 90, must be < 183 so windows do not overlap). The visit's state is the call of the
    assessment in the window closest to the nominal day (ties: the earlier), among assessments
    not after progression. Without one, the state is ``progressed`` (progression on or
    before the nominal day), ``died`` (death without progression on or before it),
    ``censored`` (follow-up ended before it) or ``missing`` (under follow-up, not assessed).
    ``n_visits`` defaults to one past the last visit with an assessment.
    Status options (``threshold, combine, methods, specimens, positive_below_threshold,
    disease, disease_options``) are those of `call_status` (threshold default: the disease
    preset's).
    """
    if not 0 <= visit_window_days < 183:
        raise ValueError("visit_window_days must be in [0, 183)")
    preset = with_threshold(preset_for(cohort, disease, disease_options), threshold)
    kept, _ = restrict_assessments(cohort)
    visits = call_status(
        kept,
        combine=combine,
        methods=methods,
        specimens=specimens,
        positive_below_threshold=positive_below_threshold,
        disease=preset,
    ).visits
    visits = visits.with_columns(
        (pl.col("day") / DAYS_PER_YEAR).round(0).cast(pl.Int64).alias("visit")
    ).with_columns(
        (pl.col("visit") * DAYS_PER_YEAR).round(0).cast(pl.Int64).alias("nominal_day"),
    )
    visits = visits.filter(
        (pl.col("visit") >= 0)
        & ((pl.col("day") - pl.col("nominal_day")).abs() <= visit_window_days)
    )
    chosen = (
        visits.with_columns((pl.col("day") - pl.col("nominal_day")).abs().alias("_dist"))
        .sort("patient_id", "visit", "_dist", "day")
        .unique(["patient_id", "visit"], keep="first", maintain_order=True)
        .select("patient_id", "visit", "day", pl.col("status").alias("_status"))
    )
    if n_visits is None:
        n_visits = int(chosen["visit"].max()) + 1 if chosen.height else 1
    grid = pl.DataFrame({"visit": list(range(n_visits))}, schema={"visit": pl.Int64}).with_columns(
        (pl.col("visit") * DAYS_PER_YEAR).round(0).cast(pl.Int64).alias("nominal_day")
    )
    fu = _follow_up(cohort)
    states = (
        fu.join(grid, how="cross")
        .join(chosen, on=["patient_id", "visit"], how="left")
        .with_columns(
            pl.when(pl.col("_status").is_not_null())
            .then(pl.col("_status"))
            .when(pl.col("progression_day") <= pl.col("nominal_day"))
            .then(pl.lit("progressed"))
            .when(pl.col("death_day") <= pl.col("nominal_day"))
            .then(pl.lit("died"))
            .when(pl.col("follow_up_end") < pl.col("nominal_day"))
            .then(pl.lit("censored"))
            .otherwise(pl.lit("missing"))
            .alias("state")
        )
    )
    return states.select("patient_id", "visit", "nominal_day", "day", "state").sort(
        "patient_id", "visit"
    )


def transitions(
    cohort: Cohort,
    threshold: float | None = None,
    *,
    visit_window_days: int = 90,
    n_visits: int | None = None,
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> Transitions:
    """Counts and row percentages of MRD state from each yearly visit to the next.

    States per visit come from `visit_states`. Row percentages are within (from_visit,
    from_state), as in a transition-count table (cf. R ``msm::statetable.msm``, which counts
    pairs of consecutive observed states per subject; here consecutive *nominal visits*,
    with absorbing and missing states shown, not dropped). Prevalence gives, per visit, counts
    over all patients (intention to treat) and negative/positive percentages over evaluable
    calls.
    """
    preset = with_threshold(preset_for(cohort, disease, disease_options), threshold)
    states = visit_states(
        cohort,
        visit_window_days=visit_window_days,
        n_visits=n_visits,
        combine=combine,
        methods=methods,
        specimens=specimens,
        positive_below_threshold=positive_below_threshold,
        disease=preset,
    )
    nxt = states.select(
        "patient_id",
        (pl.col("visit") - 1).alias("visit"),
        pl.col("state").alias("to_state"),
    )
    pairs = states.join(nxt, on=["patient_id", "visit"], how="inner")
    trans = (
        pairs.group_by(
            pl.col("visit").alias("from_visit"), pl.col("state").alias("from_state"), "to_state"
        )
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .with_columns(
            (pl.col("from_visit") + 1).alias("to_visit"),
        )
        .with_columns(
            (100.0 * pl.col("n") / pl.col("n").sum().over("from_visit", "from_state")).alias(
                "row_percent"
            )
        )
    )
    order = {s: i for i, s in enumerate(STATES)}
    trans = (
        trans.with_columns(
            pl.col("from_state").replace_strict(order).alias("_f"),
            pl.col("to_state").replace_strict(order).alias("_t"),
        )
        .sort("from_visit", "_f", "_t")
        .select("from_visit", "to_visit", "from_state", "to_state", "n", "row_percent")
    )
    n_pat = states["patient_id"].n_unique()
    prev = states.group_by("visit", "nominal_day", "state").agg(pl.len().cast(pl.Int64).alias("n"))
    evaluable = (
        prev.filter(pl.col("state").is_in(["negative", "positive"]))
        .group_by("visit")
        .agg(pl.col("n").sum().alias("_ev"))
    )
    prev = (
        prev.join(evaluable, on="visit", how="left")
        .with_columns(
            (100.0 * pl.col("n") / n_pat).alias("percent_of_patients"),
            pl.when(pl.col("state").is_in(["negative", "positive"]))
            .then(100.0 * pl.col("n") / pl.col("_ev"))
            .otherwise(pl.lit(None, pl.Float64))
            .alias("percent_of_evaluable"),
            pl.col("state").replace_strict(order).alias("_s"),
        )
        .sort("visit", "_s")
        .select("visit", "nominal_day", "state", "n", "percent_of_patients", "percent_of_evaluable")
    )
    return Transitions(
        states=states,
        transitions=trans,
        prevalence=prev,
        visit_window_days=int(visit_window_days),
        threshold=float(preset.threshold),
    )


def patient_timeline(
    cohort: Cohort,
    threshold: float | None = None,
    *,
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Per-patient timeline: MRD visits and outcome events as one tidy frame.

    Columns ``patient_id, day, event, status, reason``; ``event`` is ``mrd`` (status and
    reason filled; ``after_progression`` true for visits after the progression day, which the
    trajectory classes ignore), ``treatment_end``, ``progression``, ``death`` or ``censored``
    (end of follow-up: min(last contact, cutoff), only when no progression/death).
    """
    visits = call_status(
        cohort,
        threshold,
        combine=combine,
        methods=methods,
        specimens=specimens,
        positive_below_threshold=positive_below_threshold,
        disease=disease,
        disease_options=disease_options,
    ).visits
    fu = _follow_up(cohort)
    o = to_polars(cohort.outcomes)
    tend = (
        o.select(pl.col("patient_id").cast(pl.String), pl.col("treatment_end_day").cast(pl.Int64))
        if "treatment_end_day" in o.columns
        else fu.select("patient_id", pl.lit(None, pl.Int64).alias("treatment_end_day"))
    )
    mrd_rows = visits.join(fu.select("patient_id", "progression_day"), on="patient_id", how="left")
    mrd_rows = mrd_rows.select(
        "patient_id",
        "day",
        pl.lit("mrd").alias("event"),
        "status",
        "reason",
        (pl.col("day") > pl.col("progression_day")).fill_null(False).alias("after_progression"),
    )

    def events(frame: pl.DataFrame, col: str, name: str) -> pl.DataFrame:
        return frame.filter(pl.col(col).is_not_null()).select(
            "patient_id",
            pl.col(col).alias("day"),
            pl.lit(name).alias("event"),
            pl.lit(None, pl.String).alias("status"),
            pl.lit(None, pl.String).alias("reason"),
            pl.lit(False).alias("after_progression"),
        )

    censored = fu.filter(pl.col("progression_day").is_null() & pl.col("death_day").is_null())
    parts = [
        mrd_rows,
        events(tend, "treatment_end_day", "treatment_end"),
        events(fu, "progression_day", "progression"),
        events(fu, "death_day", "death"),
        events(censored, "follow_up_end", "censored"),
    ]
    order = {"mrd": 0, "treatment_end": 1, "progression": 2, "death": 3, "censored": 4}
    out = pl.concat(parts, how="vertical_relaxed")
    return (
        out.with_columns(pl.col("event").replace_strict(order).alias("_o"))
        .sort("patient_id", "day", "_o")
        .drop("_o")
    )
