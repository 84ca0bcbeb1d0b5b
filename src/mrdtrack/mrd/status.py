"""MRD status calling: one call per assay at a chosen sensitivity threshold, combined per visit.

Rules (documented in ``docs/methods/mrd.md``) follow the IMWG 2016 consensus (Kumar et al.,
Lancet Oncol 2016;17:e328-e346): MRD negativity is the absence of clonal plasma cells in a
bone-marrow sample examined with a sensitivity of at least 1 in 10^5 nucleated cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.mrd.presets import FAMILIES, Preset, preset_for, with_threshold

DEFAULT_THRESHOLD = 1e-5
# IMWG 2016 defines MRD in the bone marrow; other specimens keep their own call but do not
# enter a visit's MRD call unless asked for (e.g. imaging for imaging-plus negativity).
MRD_SPECIMENS: tuple[str, ...] = ("bone_marrow",)
STATUS_CODES = ("negative", "positive", "not_evaluable")

# Reasons attached to every call; not-evaluable reasons say why, evaluable ones say on what.
REASONS = {
    "clonal_cells_detected": "reported positive (clonal cells detected)",
    "clonal_fraction_at_or_above_threshold": "no coded result; clonal fraction >= threshold",
    "no_clonal_cells_at_sensitivity": "reported negative at a sensitivity reaching the threshold",
    "clonal_fraction_below_threshold": "clonal fraction < threshold (no coded result and the "
    "sensitivity reaches the threshold, or positive_below_threshold='negative')",
    "imaging_negative": "imaging assay reported negative (sensitivity does not apply)",
    "inadequate_sample": "sample reported inadequate (e.g. haemodilute)",
    "indeterminate": "result reported indeterminate",
    "reported_not_evaluable": "result reported not evaluable",
    "insufficient_sensitivity": "negative, but the sample sensitivity is worse than the threshold",
    "sensitivity_not_reported": "negative, but the sample's sensitivity is not reported",
    "conflicting_clonal_fraction": "reported negative but clonal fraction >= threshold",
    "no_result": "neither a coded result nor a clonal fraction",
    "not_all_assays_evaluable": "an assay at this visit is not evaluable (combine='all_assays')",
    "not_stand_alone": "the preset does not let this method call a visit alone (e.g. NGS in "
    "AML, ELN 2021 D4) and no other method is evaluable at the visit",
}

Combine = Literal["all_evaluable", "all_assays"]
PositiveBelow = Literal["positive", "negative"]

# Relative slack so that 1e-5 stored as 1.0000000000000001e-05 still counts as reaching 1e-5.
_REL_EPS = 1e-9


@dataclass(frozen=True)
class StatusCalls:
    """MRD status per assay and per visit at one threshold.

    Attributes
    ----------
    assays : polars.DataFrame
        One row per assay: the input columns plus ``status`` (negative / positive /
        not_evaluable), ``reason``, ``assessment`` (1-based index of the visit it belongs to
        within the patient) and ``used`` (whether it entered the visit call).
    visits : polars.DataFrame
        One row per patient and visit (``assessment``): ``patient_id, assessment, day,
        last_day, visit, status, reason, n_assays, n_evaluable, methods``.
    threshold : float
        Sensitivity threshold of the calls (e.g. 1e-5).
    combine : str
        Rule combining several assays of a visit (see `call_status`).
    same_visit_days : int
        Assays of a patient whose sample days are at most this far apart (chained) form one visit.
    """

    assays: pl.DataFrame
    visits: pl.DataFrame
    threshold: float
    combine: str
    same_visit_days: int
    disease: str = "myeloma"
    preset: Preset | None = None

    def table(self, level: Literal["visit", "assay"] = "visit") -> pl.DataFrame:
        """The per-visit calls (default) or per-assay calls as a tidy frame."""
        if level == "visit":
            return self.visits
        if level == "assay":
            return self.assays
        raise ValueError(f"level must be 'visit' or 'assay', got {level!r}")

    def counts(self, level: Literal["visit", "assay"] = "visit") -> pl.DataFrame:
        """Number of calls per status and reason."""
        return (
            self.table(level)
            .group_by("status", "reason")
            .agg(pl.len().alias("n"))
            .sort("status", "reason")
        )

    def concordance(self) -> pl.DataFrame:
        """Cross-tabulation of calls between each pair of assays done at the same visit.

        Returns a tidy frame ``method_a, specimen_a, method_b, specimen_b, status_a, status_b,
        n``; pairs are ordered alphabetically by (method, specimen) so each pair appears once.
        Use `concordance_summary` for agreement and Cohen's kappa.
        """
        a = self.assays.select(
            "patient_id",
            "assessment",
            pl.col("method").alias("method_a"),
            pl.col("specimen").fill_null("bone_marrow").alias("specimen_a"),
            pl.col("status").alias("status_a"),
        )
        b = a.rename(
            {
                "method_a": "method_b",
                "specimen_a": "specimen_b",
                "status_a": "status_b",
            }
        )
        pairs = a.join(b, on=["patient_id", "assessment"], how="inner").filter(
            pl.concat_str("method_a", "specimen_a", separator="\x00")
            < pl.concat_str("method_b", "specimen_b", separator="\x00")
        )
        return (
            pairs.group_by(
                "method_a", "specimen_a", "method_b", "specimen_b", "status_a", "status_b"
            )
            .agg(pl.len().alias("n"))
            .sort("method_a", "specimen_a", "method_b", "specimen_b", "status_a", "status_b")
        )

    def concordance_summary(self) -> pl.DataFrame:
        """Agreement between each pair of assays among visits where both are evaluable.

        Columns ``method_a, specimen_a, method_b, specimen_b, n_pairs, n_both_evaluable,
        n_agree, agreement, kappa``; ``kappa`` is Cohen's (1960) kappa on the 2x2 table of
        negative/positive (null when undefined, i.e. both assays constant and equal).
        """
        keys = ["method_a", "specimen_a", "method_b", "specimen_b"]
        c = self.concordance()
        rows = []
        for key, g in c.group_by(keys, maintain_order=True):
            n_pairs = int(g["n"].sum())
            ev = g.filter(
                (pl.col("status_a") != "not_evaluable") & (pl.col("status_b") != "not_evaluable")
            )
            n = int(ev["n"].sum())

            def cell(sa: str, sb: str, ev: pl.DataFrame = ev) -> int:
                return int(
                    ev.filter((pl.col("status_a") == sa) & (pl.col("status_b") == sb))["n"].sum()
                )

            nn, np_, pn, pp = (
                cell("negative", "negative"),
                cell("negative", "positive"),
                cell("positive", "negative"),
                cell("positive", "positive"),
            )
            agree = nn + pp
            p_o = agree / n if n else None
            kappa = None
            if n:
                p_e = ((nn + np_) * (nn + pn) + (pn + pp) * (np_ + pp)) / (n * n)
                if p_e < 1.0:
                    kappa = (p_o - p_e) / (1.0 - p_e)
            rows.append((*key, n_pairs, n, agree, p_o, kappa))
        schema = {
            "method_a": pl.String,
            "specimen_a": pl.String,
            "method_b": pl.String,
            "specimen_b": pl.String,
            "n_pairs": pl.Int64,
            "n_both_evaluable": pl.Int64,
            "n_agree": pl.Int64,
            "agreement": pl.Float64,
            "kappa": pl.Float64,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def summary(self) -> str:
        """Counts of visit-level calls by status and the not-evaluable reasons."""
        v = self.visits
        lines = [
            f"MRD status calls at threshold {self.threshold:g} (combine={self.combine!r}, "
            f"same_visit_days={self.same_visit_days})",
            *(
                [f"  disease preset: {self.preset.describe()}"]
                if self.preset is not None and self.disease != "myeloma"
                else []
            ),
            f"  assays: {self.assays.height}, visits: {v.height}, "
            f"patients: {v['patient_id'].n_unique()}",
        ]
        for s in STATUS_CODES:
            lines.append(f"  {s:<14} {int((v['status'] == s).sum()):>6}")
        ne = v.filter(pl.col("status") == "not_evaluable")
        for reason, n in ne.group_by("reason").agg(pl.len()).sort("reason").iter_rows():
            lines.append(f"    not evaluable: {reason}: {n}")
        return "\n".join(lines)


def mrd_frame(data: Any) -> pl.DataFrame:
    """The MRD table of a Cohort (or an MRD frame itself) as polars, its required columns
    checked (``patient_id, day, method, result``)."""
    mrd = getattr(data, "mrd", None)
    frame = to_polars(mrd if mrd is not None else data)
    required = ("patient_id", "day", "method", "result")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"MRD table lacks required column(s) {missing}")
    defaults = {
        "visit": pl.lit(None, dtype=pl.String),
        "specimen": pl.lit("bone_marrow", dtype=pl.String),
        "sensitivity": pl.lit(None, dtype=pl.Float64),
        "clonal_fraction": pl.lit(None, dtype=pl.Float64),
        "adequate": pl.lit(None, dtype=pl.Boolean),
    }
    frame = frame.with_columns(
        [expr.alias(name) for name, expr in defaults.items() if name not in frame.columns]
    )
    frame = frame.with_columns(
        pl.col("patient_id").cast(pl.String),
        pl.col("day").cast(pl.Int64),
        pl.col("visit").cast(pl.String),
        pl.col("method").cast(pl.String),
        pl.col("specimen").cast(pl.String),
        pl.col("sensitivity").cast(pl.Float64),
        pl.col("result").cast(pl.String),
        pl.col("clonal_fraction").cast(pl.Float64),
        pl.col("adequate").cast(pl.Boolean),
    )
    for col in ("patient_id", "day", "method"):
        n_null = int(frame[col].null_count())
        if n_null:
            raise ValueError(f"MRD table: column {col!r} has {n_null} missing value(s)")
    bad = frame.filter(
        pl.col("result").is_not_null()
        & ~pl.col("result").is_in(["negative", "positive", "indeterminate", "not_evaluable"])
    ).height
    if bad:
        raise ValueError(
            f"MRD table: column 'result' has {bad} row(s) outside "
            "{negative, positive, indeterminate, not_evaluable}"
        )
    for col in ("sensitivity", "clonal_fraction"):
        n_bad = frame.filter((pl.col(col) < 0) | (pl.col(col) > 1)).height
        if n_bad:
            raise ValueError(f"MRD table: column {col!r} has {n_bad} value(s) outside [0, 1]")
    return frame


def _assay_status(
    threshold: float | pl.Expr,
    positive_below: str | pl.Expr = "positive",
    sensitivity_needed: float | pl.Expr | None = None,
) -> tuple[pl.Expr, pl.Expr]:
    """Expressions giving (status, reason) for one assay row; first matching rule wins.

    ``threshold`` is the positivity level compared with ``clonal_fraction``;
    ``sensitivity_needed`` (default: ``threshold``) the sensitivity a negative must reach;
    ``positive_below`` says whether a reported positive below the level is "negative" at it.
    Floats give the single-threshold rules; expressions give per-row (per-method) rules.
    """
    res = pl.col("result")
    cf = pl.col("clonal_fraction")
    sens = pl.col("sensitivity")
    imaging = (pl.col("specimen") == "imaging") | (pl.col("method") == "PET-CT")
    if sensitivity_needed is None:
        sensitivity_needed = threshold
    high = threshold * (1.0 - _REL_EPS)
    reaches = sens <= sensitivity_needed * (1.0 + _REL_EPS)
    below_is_negative = (
        positive_below
        if isinstance(positive_below, pl.Expr)
        else pl.lit(positive_below == "negative")
    )
    cf_high = cf >= high
    rules: list[tuple[pl.Expr, str, str]] = [
        (pl.col("adequate").eq(False), "not_evaluable", "inadequate_sample"),
        (res == "indeterminate", "not_evaluable", "indeterminate"),
        (res == "not_evaluable", "not_evaluable", "reported_not_evaluable"),
        # A positive whose clonal fraction is below the threshold was necessarily measured at
        # a sensitivity beyond it: negative *at this threshold* only if asked for.
        (
            (res == "positive") & below_is_negative & (cf < high).fill_null(False),
            "negative",
            "clonal_fraction_below_threshold",
        ),
        (res == "positive", "positive", "clonal_cells_detected"),
        (res.is_null() & cf.is_null(), "not_evaluable", "no_result"),
        (res.is_null() & cf_high, "positive", "clonal_fraction_at_or_above_threshold"),
        # From here on the result is negative, or only a clonal fraction below threshold.
        (
            (res == "negative") & cf_high.fill_null(False),
            "not_evaluable",
            "conflicting_clonal_fraction",
        ),
        ((res == "negative") & imaging, "negative", "imaging_negative"),
        (sens.is_null(), "not_evaluable", "sensitivity_not_reported"),
        (~reaches, "not_evaluable", "insufficient_sensitivity"),
        (res == "negative", "negative", "no_clonal_cells_at_sensitivity"),
    ]
    status = pl.when(rules[0][0]).then(pl.lit(rules[0][1]))
    reason = pl.when(rules[0][0]).then(pl.lit(rules[0][2]))
    for cond, s, r in rules[1:]:
        status = status.when(cond).then(pl.lit(s))
        reason = reason.when(cond).then(pl.lit(r))
    status = status.otherwise(pl.lit("negative"))
    reason = reason.otherwise(pl.lit("clonal_fraction_below_threshold"))
    return status, reason


def _preset_rules(
    preset: Preset, positive_below: str | None
) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """Per-row (level, sensitivity needed, below-is-negative, family) for a disease preset."""
    fam = pl.col("method").replace_strict(FAMILIES, default="other", return_dtype=pl.String)
    lvl = pl.lit(preset.threshold)
    sens = pl.lit(preset.threshold)
    below = pl.lit(positive_below == "negative")
    for family, rule in preset.families.items():
        is_f = fam == family
        f_sens = rule.sensitivity if rule.sensitivity is not None else preset.threshold
        if rule.positivity == "level":
            f_lvl = rule.level if rule.level is not None else preset.threshold
        else:
            f_lvl = f_sens
        lvl = pl.when(is_f).then(pl.lit(f_lvl)).otherwise(lvl)
        sens = pl.when(is_f).then(pl.lit(f_sens)).otherwise(sens)
        if positive_below is None:
            below = pl.when(is_f).then(pl.lit(rule.positivity == "level")).otherwise(below)
    return lvl, sens, below, fam


def call_status(
    data: Any,
    threshold: float | None = None,
    *,
    combine: Combine | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    specimens: tuple[str, ...] | list[str] | None = MRD_SPECIMENS,
    positive_below_threshold: PositiveBelow | None = None,
    same_visit_days: int = 0,
    disease: str | Preset | None = None,
    disease_options: dict[str, Any] | None = None,
) -> StatusCalls:
    """Call MRD negative / positive / not evaluable per assay and per visit at a threshold.

    Per-assay rules, first match wins (IMWG 2016, Kumar et al., Lancet Oncol 2016):

    1. ``adequate`` is false → not evaluable (``inadequate_sample``).
    2. ``result`` indeterminate → not evaluable (``indeterminate``); ``result`` not_evaluable →
       not evaluable (``reported_not_evaluable``).
    3. ``result`` positive → positive (clonal cells detected), whatever the clonal fraction;
       with ``positive_below_threshold="negative"``, a positive whose ``clonal_fraction`` is
       below the threshold is negative *at this threshold* (``clonal_fraction_below_threshold``;
       per-threshold reporting as in NGS reports "MRD negative at 10^-5").
    4. No coded result: positive if ``clonal_fraction >= threshold``; if below, negative only
       when the sample's sensitivity reaches the threshold (rules 6-7), else not evaluable.
    5. ``result`` negative with ``clonal_fraction >= threshold`` → not evaluable
       (``conflicting_clonal_fraction``).
    6. Negative imaging (PET-CT / specimen imaging) → negative; sensitivity does not apply.
    7. Negative marrow/blood → negative only if ``sensitivity <= threshold`` (e.g. 1e-5 or
       1e-6 reaches 1e-5; 1e-4 does not: ``insufficient_sensitivity``); a missing sensitivity is
       never assumed (``sensitivity_not_reported``).

    Nothing is imputed. Assays of a patient are grouped into visits: sample days at most
    ``same_visit_days`` apart, chained, are one visit (default 0: the same day). A visit's call
    under ``combine="all_evaluable"`` (default) is positive if any evaluable assay is positive,
    negative if at least one assay is evaluable and every evaluable assay is negative, else not
    evaluable; ``combine="all_assays"`` also requires every assay of the visit to be evaluable
    for a negative call (IMWG imaging-plus negativity: marrow and PET-CT both negative).

    Parameters
    ----------
    data : Cohort or DataFrame
        A Cohort (its ``mrd`` table is used) or an MRD frame with the columns of
        ``mrdtrack.schema.MRD`` (pandas or polars).
    threshold : float, optional
        Sensitivity threshold; default the disease preset's (myeloma: 1e-5, IMWG 2016; 1e-6
        for the deeper level).
    combine : {"all_evaluable", "all_assays", "priority"}, optional
        Rule combining the assays of one visit (default: the preset's; myeloma
        "all_evaluable"). ``"priority"``: for each method family, only the evaluable assays
        of the visit's highest-priority specimen (order of the preset's ``specimens``) enter;
        the families are then combined as under "all_evaluable".
    methods : sequence of str, optional
        Only these assays (e.g. ``("NGF",)``) enter the visit calls (default: all methods).
    specimens : sequence of str or None
        Only assays on these specimens enter the visit calls; default ``("bone_marrow",)``
        (IMWG 2016 MRD is a marrow measurement; a null specimen counts as bone marrow). Use
        ``("bone_marrow", "imaging")`` with ``combine="all_assays"`` for imaging-plus
        negativity; None uses every specimen. Assays left out keep their own call in
        ``assays`` (``used`` false); a visit with no used assay has no visit call.
    same_visit_days : int
        Maximal gap in days between chained assays of one visit.
    positive_below_threshold : {"positive", "negative"}, optional
        Call of a reported positive with a clonal fraction below the threshold (myeloma
        default "positive": IMWG 2016 negativity is the *absence* of clonal cells; other
        presets decide per method family, see `mrdtrack.mrd.presets`).
    disease, disease_options
        Disease preset (`mrdtrack.mrd.presets.preset_for`): given here, else the Cohort's
        ``disease`` (its study metadata), else myeloma. With the default ``specimens`` the
        preset's specimens are used; ``threshold`` replaces the preset's headline level.

    Returns
    -------
    StatusCalls
        Per-assay and per-visit calls, each with its reason.

    Notes
    -----
    No R package implements MRD calling; the rules are ours and documented in
    ``docs/methods/mrd.md``. A threshold comparison allows a relative slack of 1e-9 so that a
    sensitivity stored as 1.0000000000000001e-05 reaches 1e-5.

    Examples
    --------
    >>> import polars as pl
    >>> mrd = pl.DataFrame({
    ...     "patient_id": ["a", "a", "b"],
    ...     "day": [0, 0, 0],
    ...     "method": ["NGF", "NGS", "NGF"],
    ...     "sensitivity": [1e-5, 1e-6, 1e-4],
    ...     "result": ["negative", "indeterminate", "negative"],
    ... })
    >>> for row in call_status(mrd).visits.select("patient_id", "status", "reason").rows():
    ...     print(row)
    ('a', 'negative', 'no_clonal_cells_at_sensitivity')
    ('b', 'not_evaluable', 'insufficient_sensitivity')
    """
    preset = with_threshold(preset_for(data, disease, disease_options), threshold)
    threshold = preset.threshold
    if combine is None:
        combine = preset.combine  # type: ignore[assignment]
    if specimens is MRD_SPECIMENS:
        specimens = preset.specimens
    if methods is None and preset.methods is not None:
        methods = preset.methods
    if combine not in ("all_evaluable", "all_assays", "priority"):
        raise ValueError(
            f"combine must be 'all_evaluable', 'all_assays' or 'priority', got {combine!r}"
        )
    if same_visit_days < 0:
        raise ValueError("same_visit_days must be >= 0")
    frame = mrd_frame(data)
    used = pl.lit(True)
    if methods is not None:
        used = used & pl.col("method").is_in(list(methods))
    if specimens is not None:
        used = used & pl.col("specimen").fill_null("bone_marrow").is_in(list(specimens))
    if positive_below_threshold not in (None, "positive", "negative"):
        raise ValueError(
            "positive_below_threshold must be 'positive' or 'negative', "
            f"got {positive_below_threshold!r}"
        )
    # The myeloma default keeps the single-threshold rules of mrdtrack before presets.
    plain = preset.name == "myeloma" and combine != "priority"
    if plain:
        status, reason = _assay_status(float(threshold), positive_below_threshold or "positive")
        extra: list[str] = []
    else:
        lvl, sens, below, fam = _preset_rules(preset, positive_below_threshold)
        frame = frame.with_columns(lvl.alias("_lvl"), sens.alias("_sens"), below.alias("_below"))
        status, reason = _assay_status(pl.col("_lvl"), pl.col("_below"), pl.col("_sens"))
        frame = frame.with_columns(fam.alias("family"))
        extra = ["family"]
    assays = frame.with_columns(status.alias("status"), reason.alias("reason")).sort(
        "patient_id", "day", "method", "specimen", nulls_last=True
    )
    # A new visit starts where the gap to the previous assay of the same patient exceeds the
    # allowed gap (single-linkage chaining, order-independent). Written with shifts on the
    # sorted frame rather than per-patient windows: same result, several times faster.
    first_of_patient = (pl.col("patient_id") != pl.col("patient_id").shift(1)).fill_null(True)
    gap = pl.col("day") - pl.col("day").shift(1)
    new_visit = first_of_patient | (gap > same_visit_days).fill_null(True)
    assays = assays.with_columns(new_visit.cast(pl.Int64).cum_sum().alias("_vkey"))
    assays = assays.with_columns(
        (
            pl.col("_vkey") - pl.when(first_of_patient).then(pl.col("_vkey")).forward_fill() + 1
        ).alias("assessment")
    )
    assays = assays.select(
        "patient_id",
        "assessment",
        "day",
        "visit",
        "method",
        "specimen",
        "sensitivity",
        "result",
        "clonal_fraction",
        "adequate",
        "status",
        "reason",
        used.alias("used"),
        *extra,
        "_vkey",
    )
    if plain:
        visits = _combine_visits(assays.filter(pl.col("used")), combine)
    else:
        visits = _preset_visits(assays.filter(pl.col("used")), combine, preset)
    assays = assays.drop("_vkey")
    return StatusCalls(
        assays=assays,
        visits=visits,
        threshold=float(threshold),
        combine=combine,
        same_visit_days=int(same_visit_days),
        disease=preset.name,
        preset=preset,
    )


def _preset_visits(assays: pl.DataFrame, combine: str, preset: Preset) -> pl.DataFrame:
    """Visit calls for a disease preset: the IMWG combination, after specimen priority, plus
    the visit's MRD level, molecular level, per-compartment calls (CLL) and the 3-level
    response (ALL)."""
    st = pl.col("status")
    rank = {s: i for i, s in enumerate(preset.specimens)}
    a = assays.with_columns(
        pl.col("specimen")
        .fill_null("bone_marrow")
        .replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
        .alias("_rank")
    )
    if combine == "priority":
        # per method family: marrow flow does not overrule blood qPCR, but marrow qPCR
        # overrules blood qPCR at the same visit
        best = pl.col("_rank").filter(st != "not_evaluable").min().over("_vkey", "family")
        a = a.filter(best.is_null() | (pl.col("_rank") == best))
    a = _drop_lone_dependent(a, preset)
    visits = _combine_visits(a.drop("_rank"), "all_evaluable" if combine == "priority" else combine)
    pos = st == "positive"
    levels = a.group_by("_vkey").agg(
        pl.col("patient_id").first(),
        pl.col("assessment").first(),
        pl.col("clonal_fraction").filter(pos).max().alias("level"),
        pl.col("clonal_fraction")
        .filter(pos & (pl.col("family") == "molecular"))
        .max()
        .alias("molecular_level"),
        (pos & (pl.col("family") == "molecular")).any().alias("molecular_positive"),
        (pos & (pl.col("family") != "molecular")).any().alias("other_positive"),
        pl.col("reason").str.contains("insufficient_sensitivity").any().alias("_insufficient"),
    )
    visits = visits.join(
        levels.drop("_vkey"), on=["patient_id", "assessment"], how="left"
    ).with_columns(
        pl.col("molecular_positive").fill_null(False), pl.col("other_positive").fill_null(False)
    )
    if preset.by_compartment:
        for spec in preset.specimens:
            sub = assays.filter(pl.col("specimen").fill_null("bone_marrow") == spec)
            comp = _combine_visits(sub, "all_evaluable").select(
                "patient_id", "assessment", pl.col("status").alias(f"status_{spec}")
            )
            visits = visits.join(comp, on=["patient_id", "assessment"], how="left")
    if preset.name == "cll":
        visits = visits.join(_cll_depth(a), on=["patient_id", "assessment"], how="left")
    if preset.name == "all":
        lvl = pl.col("level")
        visits = visits.with_columns(
            pl.when(st == "negative")
            .then(pl.lit("complete_response"))
            .when(pos & (lvl >= preset.threshold * (1.0 - _REL_EPS)).fill_null(False))
            .then(pl.lit("failure"))
            .when(pos | ((st == "not_evaluable") & pl.col("_insufficient").fill_null(False)))
            .then(pl.lit("intermediate"))
            .otherwise(pl.lit("not_evaluable"))
            .alias("response")
        )
    return visits.drop("_insufficient").sort("patient_id", "assessment")


def _drop_lone_dependent(a: pl.DataFrame, preset: Preset) -> pl.DataFrame:
    """Results of a family that cannot stand alone (`FamilyRule.stand_alone` false) are not
    evaluable at a visit where no assay of another, stand-alone family is evaluable."""
    dependent = [f for f, r in preset.families.items() if not r.stand_alone]
    if not dependent:
        return a
    st = pl.col("status")
    dep = pl.col("family").is_in(dependent)
    alone = ~((st != "not_evaluable") & ~dep).any().over("_vkey")
    drop = dep & alone & (st != "not_evaluable")
    return a.with_columns(
        pl.when(drop).then(pl.lit("not_evaluable")).otherwise(st).alias("status"),
        pl.when(drop).then(pl.lit("not_stand_alone")).otherwise(pl.col("reason")).alias("reason"),
    )


def _cll_depth(assays: pl.DataFrame) -> pl.DataFrame:
    """Deepest uMRD level per visit (iwCLL: uMRD4 = < 10^-4; NGS reaches uMRD6).

    An assay is undetectable at 10^-k when it is negative at a sensitivity <= 10^-k, or detected
    at a level < 10^-k; the visit takes the shallowest level among its evaluable assays;
    ``MRD+`` when the visit is positive; null when not evaluable.
    """
    st = pl.col("status")
    sens = pl.col("sensitivity")
    cf = pl.col("clonal_fraction")
    k = pl.lit(None, pl.Int64)
    for e in (4, 5, 6):
        lim = 10.0**-e
        ok = ((pl.col("result") == "negative") & (sens <= lim * (1.0 + _REL_EPS))) | (
            (pl.col("result") == "positive") & (cf < lim * (1.0 - _REL_EPS))
        )
        k = pl.when((st == "negative") & ok.fill_null(False)).then(pl.lit(e)).otherwise(k)
    per = assays.filter(st != "not_evaluable").with_columns(k.alias("_k"))
    agg = per.group_by("patient_id", "assessment").agg(
        (st == "positive").any().alias("_pos"), pl.col("_k").min().alias("_k")
    )
    return agg.select(
        "patient_id",
        "assessment",
        pl.when(pl.col("_pos"))
        .then(pl.lit("MRD+"))
        .when(pl.col("_k").is_not_null())
        .then(pl.lit("uMRD") + pl.col("_k").cast(pl.String))
        .otherwise(pl.lit(None, pl.String))
        .alias("umrd_depth"),
    )


def _combine_visits(assays: pl.DataFrame, combine: str) -> pl.DataFrame:
    st = pl.col("status")
    counts = [
        (st != "not_evaluable").cast(pl.Int64).alias("n_evaluable"),
        (st == "positive").cast(pl.Int64).alias("n_positive"),
        (st == "negative").cast(pl.Int64).alias("n_negative"),
    ]
    # Most visits hold a single assay: those are copied, only the others are aggregated.
    single = pl.col("_vkey").is_first_distinct() & pl.col("_vkey").is_last_distinct()
    ones = assays.filter(single).select(
        "_vkey",
        "patient_id",
        "assessment",
        "day",
        pl.col("day").alias("last_day"),
        "visit",
        pl.lit(1, dtype=pl.Int64).alias("n_assays"),
        *counts,
        pl.concat_str("method", pl.lit(":"), "status").alias("methods"),
        *[
            pl.when(st == s).then(pl.col("reason")).otherwise(pl.lit("")).alias(f"_r_{s}")
            for s in STATUS_CODES
        ],
    )
    many = (
        assays.filter(~single)
        .group_by("_vkey")
        .agg(
            pl.col("patient_id").first(),
            pl.col("assessment").first(),
            pl.col("day").min().alias("day"),
            pl.col("day").max().alias("last_day"),
            pl.col("visit").drop_nulls().first().alias("visit"),
            pl.len().cast(pl.Int64).alias("n_assays"),
            *[c.sum() for c in counts],
            pl.concat_str("method", pl.lit(":"), "status").sort().str.join(";").alias("methods"),
            *[
                pl.col("reason").filter(st == s).unique().sort().str.join(";").alias(f"_r_{s}")
                for s in STATUS_CODES
            ],
        )
    )
    agg = pl.concat([ones, many.select(ones.columns)], how="vertical_relaxed")
    all_evaluable = pl.col("n_evaluable") == pl.col("n_assays")
    negative_ok = pl.col("n_negative") > 0
    if combine == "all_assays":
        negative_ok = negative_ok & all_evaluable
    visits = agg.with_columns(
        pl.when(pl.col("n_positive") > 0)
        .then(pl.lit("positive"))
        .when(negative_ok)
        .then(pl.lit("negative"))
        .otherwise(pl.lit("not_evaluable"))
        .alias("status"),
        pl.when(pl.col("n_positive") > 0)
        .then(pl.col("_r_positive"))
        .when(negative_ok)
        .then(pl.col("_r_negative"))
        .when(pl.col("n_evaluable") == 0)
        .then(pl.col("_r_not_evaluable"))
        .otherwise(pl.concat_str(pl.lit("not_all_assays_evaluable;"), pl.col("_r_not_evaluable")))
        .alias("reason"),
    )
    return visits.select(
        "patient_id",
        "assessment",
        "day",
        "last_day",
        "visit",
        "status",
        "reason",
        "n_assays",
        "n_evaluable",
        "methods",
    ).sort("patient_id", "assessment")
