"""MRD trajectory classes per patient over a window (IMWG 2016 sustained negativity and friends).

Rules, precedence and their sources are in `classify_trajectories` and ``docs/methods/mrd.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.mrd import guideline_classes
from mrdtrack.mrd._days import as_study_day
from mrdtrack.mrd.presets import CLL_RENAME, Preset, preset_for, with_threshold
from mrdtrack.mrd.status import (
    MRD_SPECIMENS,
    Combine,
    PositiveBelow,
    StatusCalls,
    call_status,
    mrd_frame,
)
from mrdtrack.mrd.trajectory_codes import (
    CLASSES,
    NOT_EVALUABLE,
    STATUS_CODES,
    prefix_codes_of_runs,
    trajectory_codes_of_runs,
)

NOT_CLASSIFIABLE_REASONS = (
    "no_assessment",
    "no_evaluable_assessment",
    "single_evaluable_assessment",
    "negativity_not_confirmed",
)

SustainedAfterConversion = Literal["sustained_negative", "conversion"]


@dataclass(frozen=True)
class TrajectoryClasses:
    """One MRD trajectory class per patient, with its evidence and the day it became known.

    Attributes
    ----------
    classes : polars.DataFrame
        One row per patient, see `classify_trajectories` for the columns.
    calls : StatusCalls
        The visit calls the classes were built from (assays inside the window, before
        progression).
    window_end : int or None
        Last study day whose assessments were used (None: whole follow-up). A class built with
        information after day 0 cannot group patients in a PFS comparison from day 0
        (guarantee-time bias); see `mrdtrack.mrd.landmark_data`.
    threshold, confirm_days, tolerance_days, sustained_after_conversion
        The settings used.
    """

    classes: pl.DataFrame
    calls: StatusCalls
    window_end: int | None
    threshold: float
    confirm_days: int
    tolerance_days: int
    sustained_after_conversion: str
    disease: str = "myeloma"
    preset: Preset | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes of the disease preset, in display order."""
        return self.preset.classes if self.preset is not None else CLASSES

    def label(self, cls: str) -> str:
        """The guideline's label of a class."""
        return self.preset.label(cls) if self.preset is not None else cls

    @property
    def uses_post_origin_information(self) -> bool:
        """True if any assessment after day 0 could have informed a class."""
        return self.window_end is None or self.window_end > 0

    def table(self) -> pl.DataFrame:
        """The per-patient class table (``patient_id, mrd_class, known_day, evidence_days…``)."""
        return self.classes

    def counts(self) -> pl.DataFrame:
        """Patients per class (every class listed, zeros included), with percentages."""
        n_total = self.classes.height
        base = pl.DataFrame({"mrd_class": list(self.class_names)})
        got = self.classes.group_by("mrd_class").agg(pl.len().cast(pl.Int64).alias("n"))
        out = base.join(got, on="mrd_class", how="left").with_columns(pl.col("n").fill_null(0))
        return out.with_columns(
            (100.0 * pl.col("n") / n_total if n_total else pl.lit(None, pl.Float64)).alias(
                "percent"
            )
        )

    def as_dict(self) -> dict[str, int]:
        """Class counts as ``{class: n}``."""
        return dict(self.counts().select("mrd_class", "n").iter_rows())

    def summary(self) -> str:
        """Class counts and the rules used."""
        window = "whole follow-up" if self.window_end is None else f"days <= {self.window_end}"
        if self.disease not in ("myeloma", "cll"):
            assert self.preset is not None
            lines = [
                f"MRD classes ({window}; {self.preset.title}, {self.preset.guideline}; "
                f"threshold {self.threshold:g})",
                f"  options: {dict(self.preset.options)}",
            ]
            for cls, n, pct in self.counts().iter_rows():
                pct_s = f"({pct:5.1f}%)" if pct is not None else ""
                lines.append(f"  {cls:<24} {n:>6}  {pct_s}")
            nc = self.classes.filter(pl.col("mrd_class") == "not_classifiable")
            for reason, n in nc.group_by("reason").agg(pl.len()).sort("reason").iter_rows():
                lines.append(f"    not classifiable: {reason}: {n}")
            return "\n".join(lines)
        lines = [
            f"MRD trajectory classes ({window}; threshold {self.threshold:g}; sustained = "
            f"negatives >= {self.confirm_days - self.tolerance_days} days apart "
            f"[{self.confirm_days} - tolerance {self.tolerance_days}]; "
            f"sustained after conversion counted as {self.sustained_after_conversion})",
        ]
        for cls, n, pct in self.counts().iter_rows():
            lines.append(f"  {cls:<20} {n:>6}  ({pct:5.1f}%)" if pct is not None else f"  {cls} 0")
        nc = self.classes.filter(pl.col("mrd_class") == "not_classifiable")
        for reason, n in nc.group_by("reason").agg(pl.len()).sort("reason").iter_rows():
            lines.append(f"    not classifiable: {reason}: {n}")
        return "\n".join(lines)


def _progression_days(data: Any) -> pl.DataFrame | None:
    outcomes = getattr(data, "outcomes", None)
    if outcomes is None:
        return None
    o = to_polars(outcomes)
    if "progression_day" not in o.columns:
        return None
    return o.select(
        pl.col("patient_id").cast(pl.String), pl.col("progression_day").cast(pl.Int64)
    ).unique("patient_id", keep="first")


def _patient_ids(data: Any, mrd: pl.DataFrame) -> pl.DataFrame:
    patients = getattr(data, "patients", None)
    ids = mrd.select(pl.col("patient_id").cast(pl.String))
    if patients is not None:
        ids = pl.concat([to_polars(patients).select(pl.col("patient_id").cast(pl.String)), ids])
    return ids.unique().sort("patient_id")


def restrict_assessments(
    data: Any, window_end: int | str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """MRD assays used for classes: on or before ``window_end`` and not after progression.

    Returns ``(kept, counts)`` where ``counts`` has per patient ``n_after_window`` and
    ``n_after_progression`` (assays set aside, never dropped silently).
    """
    mrd = mrd_frame(data)
    end = None if window_end is None else as_study_day(window_end, "window_end")
    prog = _progression_days(data)
    if prog is not None:
        mrd = mrd.join(prog, on="patient_id", how="left")
    else:
        mrd = mrd.with_columns(pl.lit(None, dtype=pl.Int64).alias("progression_day"))
    after_window = pl.lit(False) if end is None else (pl.col("day") > end)
    # Assessments strictly after the progression day are ignored: MRD describes the depth of a
    # remission, and a marrow taken on the day progression is declared still belongs to it.
    after_prog = (pl.col("day") > pl.col("progression_day")).fill_null(False)
    mrd = mrd.with_columns(
        after_window.alias("_after_window"), (after_prog & ~after_window).alias("_after_prog")
    )
    counts = mrd.group_by("patient_id").agg(
        pl.col("_after_window").sum().cast(pl.Int64).alias("n_after_window"),
        pl.col("_after_prog").sum().cast(pl.Int64).alias("n_after_progression"),
    )
    kept = mrd.filter(~pl.col("_after_window") & ~pl.col("_after_prog")).drop(
        "_after_window", "_after_prog", "progression_day"
    )
    return kept, counts


def classify_trajectories(
    data: Any,
    window_end: int | str | None = None,
    threshold: float | None = None,
    *,
    confirm_days: int = 365,
    tolerance_days: int = 0,
    sustained_after_conversion: SustainedAfterConversion = "sustained_negative",
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    same_visit_days: int = 0,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> TrajectoryClasses:
    """Classify each patient's MRD trajectory over a window into one of five classes.

    The visit calls of `call_status` are used, keeping only assays on or before
    ``window_end`` (a study day, or "24m"; None = whole follow-up) and not after the patient's
    progression day. Not-evaluable visits are skipped: they neither confirm nor break a pattern.
    With E the evaluable visits in day order, the class is the first that applies:

    1. ``loss_of_negativity``: a positive after a negative (IMWG 2016 "relapse from MRD
       negativity"). Precedence: neg→pos→neg, and pos→neg→pos, are loss of negativity.
       Known on the first such positive; evidence = (last negative before it, that positive).
    2. ``not_classifiable``: fewer than two evaluable visits (reason ``no_assessment``,
       ``no_evaluable_assessment`` or ``single_evaluable_assessment``).
    3. ``sustained_negative``: no positive after a negative, and two negatives at least
       ``confirm_days - tolerance_days`` days apart (IMWG 2016: "negativity confirmed a
       minimum of 1 year apart"; default 365 days, no tolerance). Known on the first negative
       that confirms; evidence = (first negative, confirming negative). By default (IMWG) a
       patient positive before the negatives who then sustains negativity is here, with
       ``converted = True``; with ``sustained_after_conversion="conversion"`` such patients are
       in class 5 with ``sustained = True``.
    4. ``not_classifiable`` (``negativity_not_confirmed``): only negatives, not yet confirmed.
    5. ``persistent_positive``: only positives (at least two). Known on the second positive.
    6. ``conversion``: positives, then negatives (pos→neg), not (or, under the alternative
       setting, also) sustained. Known on the first negative; evidence = (last positive, first
       negative); ``sustained`` says whether negativity was then confirmed.

    The classes are exhaustive and mutually exclusive. ``known_day`` is the earliest
    assessment day on which the class computed from the assessments up to that day equals the
    final class.

    Parameters
    ----------
    data : Cohort or DataFrame
        A Cohort (MRD, outcomes for progression, patients for the patient list) or an MRD
        frame (then no progression rule applies and only patients with MRD rows are listed).
    window_end : int, str or None
        Last study day (inclusive) whose assessments may be used, e.g. 730 or "24m".
    threshold, combine, methods, specimens, same_visit_days, positive_below_threshold
        Passed to `call_status`.
    confirm_days, tolerance_days : int
        Sustained negativity needs negatives at least ``confirm_days - tolerance_days`` apart.
    sustained_after_conversion : {"sustained_negative", "conversion"}
        Where a pos→neg→neg (confirmed) patient goes.
    disease, disease_options
        Disease preset (`mrdtrack.mrd.presets.preset_for`; default the Cohort's ``disease``, else
        myeloma). ``"cll"`` applies the rules above at the iwCLL 2018 level (uMRD4) with
        iwCLL names (``umrd_sustained``, ``umrd_achieved``, ``umrd_loss``,
        ``mrd_persistent``); ``"aml"`` and ``"all"`` use the guideline classes of
        `mrdtrack.mrd.guideline_classes` (same table columns, plus the guideline's own).

    Returns
    -------
    TrajectoryClasses
        ``.table()`` columns: ``patient_id, mrd_class, reason, known_day, evidence_days``
        (list of study days), ``converted`` (a positive before the first negative),
        ``sustained`` (IMWG sustained negativity reached, before any loss), ``then_sustained``
        (both), ``sustained_day, first_negative_day,
        first_positive_day, loss_day, first_status, n_assessments, n_evaluable, n_negative,
        n_positive, n_not_evaluable`` (visits in the window), ``n_after_window,
        n_after_progression`` (assays set aside), ``window_end``.

    Notes
    -----
    Kumar S, et al. International Myeloma Working Group consensus criteria for response and
    minimal residual disease assessment in multiple myeloma. Lancet Oncol 2016;17:e328-e346.
    No R/SAS function computes these classes; the rules are stated above in full.

    Examples
    --------
    >>> import polars as pl
    >>> mrd = pl.DataFrame({
    ...     "patient_id": ["a", "a", "b", "b", "b"],
    ...     "day": [14, 380, 10, 375, 740],
    ...     "method": "NGF",
    ...     "sensitivity": 1e-5,
    ...     "result": ["negative", "negative", "positive", "negative", "positive"],
    ... })
    >>> t = classify_trajectories(mrd, tolerance_days=30).table()
    >>> t.select("patient_id", "mrd_class", "known_day", "evidence_days").rows()
    [('a', 'sustained_negative', 380, [14, 380]), ('b', 'loss_of_negativity', 740, [375, 740])]
    """
    if confirm_days < 0 or tolerance_days < 0 or tolerance_days > confirm_days:
        raise ValueError("need 0 <= tolerance_days <= confirm_days")
    if sustained_after_conversion not in ("sustained_negative", "conversion"):
        raise ValueError(
            "sustained_after_conversion must be 'sustained_negative' or 'conversion', "
            f"got {sustained_after_conversion!r}"
        )
    preset = with_threshold(preset_for(data, disease, disease_options), threshold)
    end = None if window_end is None else as_study_day(window_end, "window_end")
    kept, set_aside = restrict_assessments(data, end)
    calls = call_status(
        kept,
        combine=combine,
        methods=methods,
        specimens=specimens,
        positive_below_threshold=positive_below_threshold,
        same_visit_days=same_visit_days,
        disease=preset,
    )
    ids = _patient_ids(data, mrd_frame(data))
    if preset.name in guideline_classes.RULES:
        table = guideline_classes.classify(calls.visits, ids, preset)
    else:
        table = _classify_visits(
            calls.visits,
            ids,
            required_gap=confirm_days - tolerance_days,
            sustained_to_conversion=sustained_after_conversion == "conversion",
        )
        if preset.name == "cll":
            table = table.with_columns(pl.col("mrd_class").replace_strict(CLL_RENAME))
    table = (
        table.join(set_aside, on="patient_id", how="left")
        .with_columns(
            pl.col("n_after_window").fill_null(0),
            pl.col("n_after_progression").fill_null(0),
            pl.lit(end, dtype=pl.Int64).alias("window_end"),
        )
        .sort("patient_id")
    )
    return TrajectoryClasses(
        classes=table,
        calls=calls,
        window_end=end,
        threshold=float(preset.threshold),
        confirm_days=int(confirm_days),
        tolerance_days=int(tolerance_days),
        sustained_after_conversion=sustained_after_conversion,
        disease=preset.name,
        preset=preset,
    )


def _visit_runs(visits: pl.DataFrame, ids: pl.DataFrame):
    """Patients' visits one after another (patient order of ``ids``, then day): day and status
    code arrays (`trajectory_codes.STATUS_CODES`) and the start of each patient's run."""
    k = ids.select("patient_id").with_row_index("_k")
    v = (
        visits.join(k, on="patient_id", how="inner")
        .sort("_k", "day", maintain_order=True)
        .select(
            "_k",
            pl.col("day").cast(pl.Float64),
            pl.col("status").replace_strict(
                STATUS_CODES, default=NOT_EVALUABLE, return_dtype=pl.Int8
            ),
        )
    )
    starts = np.searchsorted(v["_k"].to_numpy(), np.arange(k.height + 1), side="left")
    return v["day"].to_numpy(), v["status"].to_numpy(), starts


def _class_codes(
    visits: pl.DataFrame, ids: pl.DataFrame, required_gap: int, sustained_to_conversion: bool
) -> pl.DataFrame:
    """``patient_id, mrd_class`` by the one classifier kernel (`trajectory_codes`)."""
    day, status, starts = _visit_runs(visits, ids)
    codes = trajectory_codes_of_runs(
        day,
        status,
        starts,
        required_gap=required_gap,
        sustained_to_conversion=sustained_to_conversion,
    )
    return pl.DataFrame(
        {"patient_id": ids["patient_id"], "mrd_class": np.array(CLASSES, dtype=object)[codes]},
        schema={"patient_id": pl.String, "mrd_class": pl.String},
    )


def _classify_visits(
    visits: pl.DataFrame, ids: pl.DataFrame, *, required_gap: int, sustained_to_conversion: bool
) -> pl.DataFrame:
    """Class (by the kernel), reason, known day and evidence of each patient from visit-level
    calls (see `classify_trajectories`)."""
    v = visits.select("patient_id", "day", "status").sort("patient_id", "day")
    codes = _class_codes(v, ids, required_gap, sustained_to_conversion)
    t = (
        _patient_facts(v, ids, required_gap)
        .join(codes, on="patient_id", how="left")
        .with_columns(_reason().alias("reason"))
    )
    known, evidence = _known_day_and_evidence()
    t = t.with_columns(known.alias("known_day"), evidence.alias("evidence_days"))
    return t.select(
        "patient_id",
        "mrd_class",
        "reason",
        "known_day",
        "evidence_days",
        "converted",
        "sustained",
        "then_sustained",
        "sustained_day",
        "first_negative_day",
        "first_positive_day",
        "loss_day",
        "first_status",
        "n_assessments",
        "n_evaluable",
        "n_negative",
        "n_positive",
        "n_not_evaluable",
    )


def _patient_facts(v: pl.DataFrame, ids: pl.DataFrame, required_gap: int) -> pl.DataFrame:
    """Per patient: counts of calls, first/last days, the loss and sustained days, flags."""
    neg = pl.col("status") == "negative"
    pos = pl.col("status") == "positive"
    day = pl.col("day")
    s1 = v.group_by("patient_id").agg(
        pl.len().cast(pl.Int64).alias("n_assessments"),
        neg.sum().cast(pl.Int64).alias("n_negative"),
        pos.sum().cast(pl.Int64).alias("n_positive"),
        day.filter(neg).min().alias("first_negative_day"),
        day.filter(pos).min().alias("first_positive_day"),
        day.filter(pos).max().alias("last_positive_day"),
        day.filter(pos).sort().alias("_pos_days"),
        pl.col("status").filter(neg | pos).first().alias("first_status"),
    )
    v = v.join(s1.select("patient_id", "first_negative_day"), on="patient_id", how="left")
    loss = v.group_by("patient_id").agg(
        day.filter(pos & (day > pl.col("first_negative_day"))).min().alias("loss_day")
    )
    v = v.join(loss, on="patient_id", how="left")
    before_loss = pl.col("loss_day").is_null() | (day < pl.col("loss_day"))
    s2 = v.group_by("patient_id").agg(
        day.filter(neg & (day < pl.col("loss_day"))).max().alias("_neg_before_loss"),
        day.filter(
            neg
            & before_loss
            & (day > pl.col("first_negative_day"))
            & (day - pl.col("first_negative_day") >= required_gap)
        )
        .min()
        .alias("sustained_day"),
    )
    t = (
        ids.join(s1, on="patient_id", how="left")
        .join(loss, on="patient_id", how="left")
        .join(s2, on="patient_id", how="left")
        .with_columns(
            pl.col("n_assessments").fill_null(0),
            pl.col("n_negative").fill_null(0),
            pl.col("n_positive").fill_null(0),
        )
        .with_columns(
            (pl.col("n_negative") + pl.col("n_positive")).alias("n_evaluable"),
        )
        .with_columns(
            (pl.col("n_assessments") - pl.col("n_evaluable")).alias("n_not_evaluable"),
            (pl.col("first_positive_day") < pl.col("first_negative_day"))
            .fill_null(False)
            .alias("converted"),
            pl.col("sustained_day").is_not_null().alias("sustained"),
        )
        .with_columns((pl.col("converted") & pl.col("sustained")).alias("then_sustained"))
    )
    return t


def _reason() -> pl.Expr:
    """Why a patient is not classifiable (null otherwise)."""
    n_ev = pl.col("n_evaluable")
    has_loss = pl.col("loss_day").is_not_null()
    only_neg = pl.col("n_positive") == 0
    sustained = pl.col("sustained")
    return (
        pl.when(has_loss)
        .then(pl.lit(None, pl.String))
        .when(pl.col("n_assessments") == 0)
        .then(pl.lit("no_assessment"))
        .when(n_ev == 0)
        .then(pl.lit("no_evaluable_assessment"))
        .when(n_ev == 1)
        .then(pl.lit("single_evaluable_assessment"))
        .when(only_neg & ~sustained)
        .then(pl.lit("negativity_not_confirmed"))
        .otherwise(pl.lit(None, pl.String))
    )


def _known_day_and_evidence() -> tuple[pl.Expr, pl.Expr]:
    """The day the class became known and the study days that establish it."""
    cls = pl.col("mrd_class")
    second_pos = pl.col("_pos_days").list.get(1, null_on_oob=True)
    known = (
        pl.when(cls == "loss_of_negativity")
        .then(pl.col("loss_day"))
        .when(cls == "sustained_negative")
        .then(pl.col("sustained_day"))
        .when(cls == "persistent_positive")
        .then(second_pos)
        .when(cls == "conversion")
        .then(pl.col("first_negative_day"))
        .otherwise(pl.lit(None, pl.Int64))
    )
    evidence = (
        pl.when(cls == "loss_of_negativity")
        .then(pl.concat_list("_neg_before_loss", "loss_day"))
        .when((cls == "sustained_negative") & pl.col("converted"))
        .then(pl.concat_list("last_positive_day", "first_negative_day", "sustained_day"))
        .when(cls == "sustained_negative")
        .then(pl.concat_list("first_negative_day", "sustained_day"))
        .when(cls == "persistent_positive")
        .then(pl.col("_pos_days"))
        .when(cls == "conversion")
        .then(pl.concat_list("last_positive_day", "first_negative_day"))
        .otherwise(pl.lit([], dtype=pl.List(pl.Int64)))
    )
    return known, evidence


def prefix_classes(
    visits: pl.DataFrame,
    *,
    required_gap: int = 365,
    sustained_after_conversion: SustainedAfterConversion = "sustained_negative",
    preset: Preset | None = None,
) -> pl.DataFrame:
    """The trajectory class known at each evaluable visit, from that visit and earlier ones.

    With a CLL ``preset`` the classes carry iwCLL names; with AML / ALL presets the guideline
    rule is applied to each prefix of the visits (`mrdtrack.mrd.guideline_classes`).

    For visit-level calls (``patient_id, day, status``), returns the evaluable visits with
    ``mrd_class``: the class `classify_trajectories` would give with ``window_end`` = that
    visit's day (the same kernel, `trajectory_codes`, on each prefix). Used for a
    time-dependent class covariate; property-tested against `classify_trajectories`.
    """
    if preset is not None and preset.name in guideline_classes.RULES:
        return guideline_classes.prefix_classes(visits, preset)
    status = pl.col("status")
    v = visits.filter(status.is_in(["negative", "positive"])).sort(
        "patient_id", "day", maintain_order=True
    )
    run = v.select(pl.col("patient_id").rle_id()).to_series().to_numpy()
    starts = np.searchsorted(run, np.arange((run[-1] + 2) if run.size else 1), side="left")
    codes = prefix_codes_of_runs(
        v["day"].to_numpy(),
        v.select(status.replace_strict(STATUS_CODES, return_dtype=pl.Int8)).to_series().to_numpy(),
        starts,
        required_gap=required_gap,
        sustained_to_conversion=sustained_after_conversion == "conversion",
    )
    out = v.with_columns(
        pl.Series("mrd_class", np.array(CLASSES, dtype=object)[codes], dtype=pl.String)
    )
    if preset is not None and preset.name == "cll":
        out = out.with_columns(pl.col("mrd_class").replace_strict(CLL_RENAME))
    return out


def baseline_status(
    data: Any,
    threshold: float | None = None,
    *,
    window: tuple[int, int] = (-90, 90),
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Baseline MRD status: the first visit with a sample day inside ``window`` (study days).

    Returns one row per patient: ``patient_id, day, status, reason, window_end`` (the window's
    upper bound, for the guarantee-time guard of `pfs_by_class`) with status negative,
    positive, not_evaluable, or ``not_assessed`` when no sample falls in the window. The
    first visit in the window is taken even if not evaluable (no later sample substitutes).
    """
    lo, hi = window
    preset = with_threshold(preset_for(data, disease, disease_options), threshold)
    mrd = mrd_frame(data)
    inwin = mrd.filter(pl.col("day").is_between(lo, hi))
    calls = call_status(
        inwin,
        combine=combine,
        methods=methods,
        specimens=specimens,
        positive_below_threshold=positive_below_threshold,
        disease=preset,
    )
    first = (
        calls.visits.sort("patient_id", "day")
        .group_by("patient_id", maintain_order=True)
        .first()
        .select("patient_id", "day", "status", "reason")
    )
    ids = _patient_ids(data, mrd)
    return (
        ids.join(first, on="patient_id", how="left")
        .with_columns(
            pl.col("status").fill_null("not_assessed"),
            pl.lit(hi, dtype=pl.Int64).alias("window_end"),
        )
        .sort("patient_id")
    )
