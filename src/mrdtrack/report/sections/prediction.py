"""Section: dynamic prediction of progression from MRD history (landmark supermodel).

The supermodel of `mrdtrack.predict` (van Houwelingen 2007): landmarks every 6 months from 0 to
36 months, window 24 months, MRD history terms (last known status, loss of negativity), Breslow
ties, robust SEs clustered on patient. Guarantee-time rule: an MRD result enters at a landmark
only if it was known on or before it (sample day plus the reporting lag). Accuracy by 5-fold
cross-validation by patient (seeded; AUC from case-control pairs within a fold, see
`mrdtrack.predict.crossval`): IPCW time-dependent AUC, Brier score, index of prediction accuracy
(IPA) and calibration, with percentile intervals from a patient bootstrap of the whole
fit-and-evaluate pipeline, for the MRD-history, last-MRD-only and no-MRD models against the
null (Kaplan-Meier) model; a calibration plot of the held-out predictions with its numbers; and
the watch list of patients at risk at the analysis landmark who lost MRD negativity, with their
current risk and its bootstrap interval (identifiers are not printed: rank, days and risk only).
Model terms are always shown with plain-words labels.

The joint model of the log10 MRD level and progression (`mrdtrack.predict.joint`) is compared
with the MRD-history supermodel on the same cross-validation folds: AUC and Brier score of both
and their paired differences, with intervals. The random intercept-and-slope model is tried
first; if it does not converge the section says so and why, and uses the random-intercept
model if that converges (never a non-converged fit).
"""

from __future__ import annotations

import math

import polars as pl

from mrdtrack.errors import EstimationError
from mrdtrack.predict import MODEL_LABELS, cross_validate, fit_landmark_supermodel, watch_list
from mrdtrack.predict.figures import plot_calibration
from mrdtrack.predict.joint import (
    JointComparison,
    compare_joint_with_supermodel,
    comparison_in_words,
)
from mrdtrack.report import figures
from mrdtrack.report.sections._base import (
    Context,
    Figure,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)

LANDMARKS = ("0m", "6m", "12m", "18m", "24m", "30m", "36m")
WINDOW = "24m"
SEED = 20211
EVAL_BOOT = 100  # bootstrap replicates of the whole cross-validation pipeline
RISK_BOOT = 200  # bootstrap replicates of the watch-list risks
LAG = 0  # reporting lag (days) of the guarantee-time rule
MIN_CONTROLS = 5  # below this many observed controls a landmark's AUC is not interpretable
COMPARE_BOOT = 200  # paired bootstrap replicates of the joint-vs-supermodel comparison


def _ci(est: float, lo: float, hi: float, digits: int) -> str:
    if est is None or not math.isfinite(est):
        return "not estimable"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{est:.{digits}f}"
    return f"{est:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


def compute(ctx: Context, res: SectionResult) -> None:
    thr = ctx.config.mrd_threshold
    fit_args = {"landmarks": LANDMARKS, "window": WINDOW, "threshold": thr, "lag": LAG}
    try:
        model = fit_landmark_supermodel(ctx.cohort, **fit_args)
        acc = cross_validate(
            ctx.cohort,
            landmarks=LANDMARKS,
            window=WINDOW,
            threshold=thr,
            lag=LAG,
            seed=SEED,
            n_boot=EVAL_BOOT,
        )
    except EstimationError as e:
        raise SectionSkipped(f"the supermodel is not estimable from these data: {e}") from e
    _describe_supermodel(res, model)
    table = acc.table()
    res.values["accuracy"] = table.to_dicts()
    res.values["accuracy_intervals"] = acc.interval
    _accuracy_paragraph(res, acc)
    shown = table.with_columns(
        pl.col("model").replace_strict(MODEL_LABELS, default=pl.col("model")).alias("label"),
        (pl.col("landmark") / 30.4375).round(0).cast(pl.Int64).alias("month"),
        pl.struct("auc", "auc_lower", "auc_upper")
        .map_elements(lambda r: _ci(r["auc"], r["auc_lower"], r["auc_upper"], 2), pl.String)
        .alias("auc_ci"),
        pl.struct("ipa", "ipa_lower", "ipa_upper")
        .map_elements(lambda r: _ci(r["ipa"], r["ipa_lower"], r["ipa_upper"], 3), pl.String)
        .alias("ipa_ci"),
        pl.struct("brier", "brier_lower", "brier_upper")
        .map_elements(lambda r: _ci(r["brier"], r["brier_lower"], r["brier_upper"], 3), pl.String)
        .alias("brier_ci"),
    )
    res.tables.append(
        Table.from_frame(
            "prediction_accuracy",
            "Cross-validated accuracy by landmark (95% intervals): MRD history vs last MRD "
            "result only vs no MRD; the null model's Brier score alongside",
            shown,
            {
                "label": ("Model", "text"),
                "month": ("Landmark (months)", "int"),
                "n_at_risk": ("At risk", "int"),
                "n_cases": ("Events in window", "int"),
                "n_controls": ("Followed event-free to the horizon", "int"),
                "auc_ci": ("AUC", "text"),
                "brier_ci": ("Brier", "text"),
                "brier_null": ("Brier, null model", "f3"),
                "ipa_ci": ("IPA", "text"),
            },
            notes=(
                f"Where fewer than {MIN_CONTROLS} patients were followed event-free to the "
                "horizon, the AUC rests on a handful of controls and is not interpretable.",
            ),
            collapse=("label",),
        )
    )
    verdict = _verdict(table, model.n_patients)
    res.values["mrd_improves_prediction"] = verdict["improves"]
    res.paragraphs.append(verdict["text"])
    _joint_model(ctx, res, acc, thr)

    preds = acc.predictions.filter(pl.col("model") == "mrd_history")
    fig, bins = plot_calibration(preds, model.window)
    figures.save(fig, ctx.figures_dir, "prediction_calibration")
    res.figures.append(
        Figure(
            "prediction_calibration",
            "Calibration of the cross-validated 24-month risks (MRD-history supermodel): "
            "observed (IPCW) against predicted risk in fifths of predicted risk, all landmarks "
            "pooled",
            "Calibration plot of predicted against observed 24-month risk of progression",
        )
    )
    _calibration_table(res, bins)
    at = int(ctx.config.landmark_days)
    wl = watch_list(ctx.cohort, model, at, n_boot=RISK_BOOT, seed=SEED, fit_args=dict(fit_args))
    _watch_list(ctx, res, model, wl)


def _accuracy_paragraph(res: SectionResult, acc) -> None:
    """How the accuracy was measured, in words."""
    res.paragraphs.append(
        "Accuracy by 5-fold cross-validation by patient (seed "
        f"{SEED}; folds balanced on the event): time-dependent AUC (cumulative/dynamic, "
        "inverse-probability-of-censoring weighted, ties counted 1/2; compared only within a "
        "fold, because risks of different fitted models are not comparable), Brier score and "
        "IPA = 1 - Brier/Brier of the null model (Kaplan-Meier risk without covariates, also "
        "cross-validated; 0 = no better than the null model). A model without patient-level "
        "information has AUC 0.5 and IPA 0. Intervals (95%): "
        f"{acc.interval}."
    )


def _calibration_table(res: SectionResult, bins: pl.DataFrame) -> None:
    """The calibration plot's numbers."""
    res.values["calibration_groups"] = bins.to_dicts()
    res.tables.append(
        Table.from_frame(
            "prediction_calibration_groups",
            "The calibration plot's numbers: mean predicted and observed (IPCW) 24-month risk "
            "per fifth of predicted risk (MRD-history model, cross-validated, all landmarks)",
            bins,
            {
                "group": ("Group", "int"),
                "n": ("Landmark rows", "int"),
                "predicted": ("Predicted risk", "pct"),
                "observed": ("Observed risk", "pct"),
            },
        )
    )


def _describe_supermodel(res: SectionResult, model) -> None:
    """The supermodel's values, its description and the guarantee-time rule, its terms."""
    coef = model.table()
    res.values["supermodel"] = {
        "landmarks_days": list(model.landmarks),
        "window_days": model.window,
        "reporting_lag_days": model.lag,
        "n_rows": model.n_rows,
        "n_patients": model.n_patients,
        "n_events": model.n_events,
        "dropped_terms": list(model.dropped_terms),
        "coefficients": coef.to_dicts(),
    }
    res.paragraphs.append(
        f"Landmark supermodel (van Houwelingen 2007): {model.n_rows} stacked rows of "
        f"{model.n_patients} patients at landmarks 0-36 months, predicting progression or death "
        "within 24 months from the MRD history known at the landmark (last known evaluable "
        "status, loss of negativity); Cox model with Breslow ties and robust SEs clustered on "
        "patient, baselines proportional in the landmark."
    )
    res.paragraphs.append(
        "Guarantee-time rule: an MRD result is used at a landmark only if it was known on or "
        f"before that landmark (sample day plus a reporting lag of {model.lag} days). Baseline "
        "samples taken after day 0 are therefore not known at the start of maintenance: at "
        "landmark 0 most patients' MRD status is 'not yet known', and the landmark-0 prediction "
        "uses only what is known on day 0."
    )
    res.tables.append(
        Table.from_frame(
            "prediction_coefficients",
            "Supermodel terms (hazard ratios with robust, patient-clustered SEs)",
            coef,
            {
                "label": ("Term", "text"),
                "hazard_ratio": ("HR", "f3"),
                "robust_se": ("Robust SE of log HR", "f3"),
                "p": ("p", "p"),
            },
        )
    )


def _watch_list(ctx: Context, res: SectionResult, model, wl: pl.DataFrame) -> None:
    """The watch list at the analysis landmark (rank, days and risk; no identifiers)."""
    at = int(ctx.config.landmark_days)
    degenerate = bool(wl["degenerate"].any()) if wl.height else False
    res.values["watch_list"] = {
        "at_day": at,
        "n": wl.height,
        "risks": wl["risk"].to_list(),
        "lower": wl["lower"].to_list(),
        "upper": wl["upper"].to_list(),
        "degenerate": degenerate,
        "days_of_loss": wl["day_of_loss"].to_list(),
        "known_days": wl["known_day"].to_list(),
    }
    if wl.height:
        shown_wl = wl.with_row_index("rank", offset=1).with_columns(
            pl.struct("risk", "lower", "upper", "degenerate")
            .map_elements(
                lambda r: (
                    "zero width: degenerate model"
                    if r["degenerate"]
                    else f"{r['lower']:.0%} to {r['upper']:.0%}"
                ),
                pl.String,
            )
            .alias("interval")
        )
        res.tables.append(
            Table.from_frame(
                "prediction_watch_list",
                f"Watch list at day {at}: patients at risk who lost MRD negativity, by predicted "
                "24-month risk (95% patient-bootstrap interval)",
                shown_wl,
                {
                    "rank": ("Rank", "int"),
                    "day_of_loss": ("Loss of negativity, sample day", "int"),
                    "known_day": ("Known on day", "int"),
                    "risk": ("24-month risk", "pct"),
                    "interval": ("95% interval", "text"),
                },
            )
        )
        if wl["risk"].n_unique() == 1:
            res.paragraphs.append(
                "All patients on the watch list share the same MRD history pattern (negativity "
                "lost, last result positive) and no other covariate enters the model, so they "
                "receive the same predicted risk; the interval shows how uncertain that risk is."
            )
    res.highlights.append(
        (
            f"Patients at risk at day {at} who lost MRD negativity",
            f"{wl.height}" + (f" (24-month risk {_risk_range(wl)})" if wl.height else ""),
        )
    )


def _joint_model(ctx: Context, res: SectionResult, acc, thr: float) -> None:
    """The joint model of the MRD level against the MRD-history supermodel, same folds."""
    cmp = compare_joint_with_supermodel(
        ctx.cohort,
        acc,
        landmarks=LANDMARKS,
        window=WINDOW,
        threshold=thr,
        lag=LAG,
        seed=SEED,
        n_boot=COMPARE_BOOT,
    )
    res.values["joint_model"] = {
        "fits": {
            re: {"converged": f.converged, "convergence": f.convergence["message"]}
            for re, f in cmp.fits.items()
        },
        "random_effects_used": None if cmp.used is None else cmp.used.random_effects,
        "fold_fits_converged": None if cmp.cv is None else cmp.cv.n_converged,
        "accuracy": None if cmp.accuracy is None else cmp.accuracy.table().to_dicts(),
        "differences": None if cmp.differences is None else cmp.differences.to_dicts(),
    }
    res.paragraphs.append(
        "Joint model of the MRD level (a second kind of prediction): instead of the MRD status "
        "(negative / positive), the measured level, log10 of the clonal fraction, with a "
        "negative sample counted as below its own limit of detection, is modelled over time "
        "by a mixed model whose patient-level random effects also drive the hazard of "
        "progression or death (shared-random-effects joint model, maximum likelihood; "
        "Rizopoulos 2011). A patient's risk at a landmark uses the levels known then."
    )
    reason = cmp.not_fitted_reason()
    if reason:
        res.paragraphs.append(reason)
    if cmp.used is None:
        res.paragraphs.append(comparison_in_words(cmp, "MRD history"))
        return
    if reason:
        res.paragraphs.append(
            "The simpler joint model with a random intercept only (each patient's level is "
            "shifted by a constant; the trend over time is common to all patients) converged "
            f"and is compared below; {cmp.cv.n_converged} of {len(cmp.cv.fold_fits)} of its "
            "cross-validation fold fits converged."
        )
    res.tables.extend(_joint_tables(cmp))
    res.paragraphs.append(comparison_in_words(cmp, "MRD history"))


def _joint_tables(cmp: JointComparison) -> list[Table]:
    """Two compact tables (AUC, Brier): each model with its interval and the paired difference."""
    acc = cmp.accuracy.table()
    d = cmp.differences.sort("landmark").with_columns(
        (pl.col("landmark") / 30.4375).round(0).cast(pl.Int64).alias("month")
    )
    used = {"intercept": "random intercept", "intercept+time": "random intercept and slope"}
    tables = []
    for m, name, digits in (("auc", "AUC", 2), ("brier", "Brier score", 3)):
        cells = {}
        for who, model in (("s", cmp.supermodel), ("j", "joint")):
            rows = acc.filter(pl.col("model") == model).iter_rows(named=True)
            cells[who] = {
                r["landmark"]: _ci(r[m], r[f"{m}_lower"], r[f"{m}_upper"], digits) for r in rows
            }
        shown = d.with_columns(
            *[
                pl.col("landmark").replace_strict(c, return_dtype=pl.String).alias(who)
                for who, c in cells.items()
            ],
            pl.struct(f"{m}_diff", f"{m}_diff_lower", f"{m}_diff_upper")
            .map_elements(
                lambda r, m=m, digits=digits: _ci(
                    r[f"{m}_diff"], r[f"{m}_diff_lower"], r[f"{m}_diff_upper"], digits
                ),
                pl.String,
            )
            .alias("diff"),
        )
        notes = (
            (
                f"Where fewer than {MIN_CONTROLS} patients were followed event-free to the "
                "horizon, the AUC is not interpretable.",
            )
            if m == "auc"
            else (
                "Intervals of both tables: percentile, patient bootstrap with the held-out "
                "predictions held fixed, the same resamples for both models (refitting the "
                "joint model in every replicate would take hours), so they leave out the "
                "variability of fitting; the supermodel's intervals in the accuracy table "
                "above include it. A lower Brier score is better.",
            )
        )
        tables.append(
            Table.from_frame(
                f"prediction_joint_{m}",
                f"Cross-validated 24-month {name}: joint model of the MRD level "
                f"({used[cmp.used.random_effects]}) against the MRD-history supermodel on the "
                "same folds (95% intervals), and the difference joint minus supermodel",
                shown,
                {
                    "month": ("Landmark (months)", "int"),
                    "n_controls": ("Followed event-free to the horizon", "int"),
                    "s": ("Supermodel", "text"),
                    "j": ("Joint model", "text"),
                    "diff": ("Difference", "text"),
                },
                notes=notes,
            )
        )
    return tables


def _risk_range(wl: pl.DataFrame) -> str:
    lo, hi = wl["risk"].min(), wl["risk"].max()
    if wl["degenerate"].any():
        return f"{lo:.0%}-{hi:.0%}; degenerate model, no interval"
    if lo == hi:
        return f"{lo:.0%}, 95% interval {wl['lower'][0]:.0%} to {wl['upper'][0]:.0%}"
    return f"{lo:.0%} to {hi:.0%}"


def _verdict(table: pl.DataFrame, n_patients: int) -> dict:
    """Does MRD history improve on the no-MRD model? An interval-based answer in words."""
    hist = table.filter(pl.col("model") == "mrd_history").sort("landmark")
    better = hist.filter(
        (pl.col("n_controls") >= MIN_CONTROLS)
        & ((pl.col("auc_lower") > 0.5) | (pl.col("ipa_lower") > 0))
    )
    months = [round(s / 30.4375) for s in better["landmark"].to_list()]
    cases = hist["n_cases"].to_list()
    if not months:
        text = (
            "In this study the MRD history does not measurably improve the prediction of "
            "progression within 24 months: at every landmark the AUC interval of the "
            "MRD-history model includes 0.5 and its IPA interval includes 0 (no better than the "
            "Kaplan-Meier risk and the no-MRD model). This is an answer, not a failure of the "
            f"method: with {n_patients} patients and {min(cases)}-{max(cases)} events per "
            "prediction window, an effect of MRD on the risk would have to be large to be "
            "detected; larger studies can answer more precisely."
        )
    else:
        text = (
            "The MRD history improves the prediction of progression within 24 months at "
            f"landmark(s) {', '.join(str(m) for m in months)} months (AUC interval above 0.5 or "
            "IPA interval above 0); at the other landmarks the intervals include no improvement. "
            f"With {n_patients} patients and {min(cases)}-{max(cases)} events per window the "
            "intervals are wide."
        )
    return {"improves": bool(months), "months": months, "text": text}


SECTION = Section(
    key="prediction",
    title="Dynamic prediction from MRD history",
    compute=compute,
)
