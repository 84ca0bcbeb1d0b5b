"""Section: dynamic prediction of progression from MRD history (landmark supermodel).

The supermodel of `mrdtrack.predict` (van Houwelingen 2007): landmarks every 6 months from 0 to
36 months, window 24 months, MRD history terms (current status, loss of negativity), Breslow
ties, robust SEs clustered on patient. Accuracy by 5-fold cross-validation by patient (seeded):
IPCW time-dependent AUC, Brier score and calibration, against the last-MRD-only and the
no-MRD (baseline) models; a calibration plot of the held-out predictions; and the watch list
of patients at risk at the analysis landmark who lost MRD negativity, with their current risk
(identifiers are not printed: rank, day of loss and risk only).
"""

from __future__ import annotations

import polars as pl

from mrdtrack.report import figures
from mrdtrack.report.sections._base import (
    Context,
    Figure,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
    need,
)

LANDMARKS = ("0m", "6m", "12m", "18m", "24m", "30m", "36m")
WINDOW = "24m"
SEED = 20211


def compute(ctx: Context, res: SectionResult) -> None:
    fit_landmark_supermodel = need("mrdtrack.predict:fit_landmark_supermodel")
    cross_validate = need("mrdtrack.predict:cross_validate")
    watch_list = need("mrdtrack.predict:watch_list")
    from mrdtrack.errors import EstimationError
    from mrdtrack.predict.figures import plot_calibration

    thr = ctx.config.mrd_threshold
    try:
        model = fit_landmark_supermodel(
            ctx.cohort, landmarks=LANDMARKS, window=WINDOW, threshold=thr
        )
        acc = cross_validate(
            ctx.cohort, landmarks=LANDMARKS, window=WINDOW, threshold=thr, seed=SEED
        )
    except EstimationError as e:
        raise SectionSkipped(f"the supermodel is not estimable from these data: {e}") from e
    coef = model.table()
    res.values["supermodel"] = {
        "landmarks_days": list(model.landmarks),
        "window_days": model.window,
        "n_rows": model.n_rows,
        "n_patients": model.n_patients,
        "n_events": model.n_events,
        "dropped_terms": list(model.dropped_terms),
        "coefficients": coef.to_dicts(),
    }
    res.paragraphs.append(
        f"Landmark supermodel (van Houwelingen 2007): {model.n_rows} stacked rows of "
        f"{model.n_patients} patients at landmarks 0-36 months, predicting progression or death "
        "within 24 months from the MRD history known at the landmark (last evaluable status, "
        "loss of negativity); Cox model with Breslow ties and robust SEs clustered on patient, "
        "baselines proportional in the landmark. Accuracy by 5-fold cross-validation by patient "
        f"(seed {SEED}) with inverse-probability-of-censoring weights."
    )
    res.tables.append(
        Table.from_frame(
            "prediction_coefficients",
            "Supermodel coefficients (hazard ratios with robust, patient-clustered SEs)",
            coef,
            {
                "term": ("Term", "text"),
                "hazard_ratio": ("HR", "f3"),
                "robust_se": ("Robust SE of log HR", "f3"),
                "p": ("p", "p"),
            },
        )
    )
    table = acc.table()
    res.values["accuracy"] = table.to_dicts()
    res.tables.append(
        Table.from_frame(
            "prediction_accuracy",
            "Cross-validated accuracy by landmark: MRD history vs last MRD only vs no MRD",
            table.with_columns((pl.col("landmark") / 30.4375).round(0).alias("month")),
            {
                "model": ("Model", "text"),
                "month": ("Landmark (months)", "int"),
                "n_at_risk": ("At risk", "int"),
                "n_cases": ("Events in window", "int"),
                "auc": ("AUC", "f3"),
                "brier": ("Brier", "f4"),
                "brier_null": ("Brier (null)", "f4"),
                "calibration_slope": ("Calibration slope", "f2"),
            },
            collapse=("model",),
        )
    )
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
    res.values["calibration_groups"] = bins.to_dicts()
    at = int(ctx.config.landmark_days)
    wl = watch_list(ctx.cohort, model, at)
    res.values["watch_list"] = {
        "at_day": at,
        "n": wl.height,
        "risks": wl["risk"].to_list(),
        "days_of_loss": wl["day_of_loss"].to_list(),
    }
    res.highlights.append(
        (
            f"Patients at risk at day {at} who lost MRD negativity",
            f"{wl.height}"
            + (
                f" (24-month risk {wl['risk'].min():.0%}–{wl['risk'].max():.0%})"
                if wl.height
                else ""
            ),
        )
    )


SECTION = Section(
    key="prediction",
    title="Dynamic prediction from MRD history",
    requires=(
        "mrdtrack.predict:fit_landmark_supermodel",
        "mrdtrack.predict:cross_validate",
        "mrdtrack.predict:watch_list",
    ),
    compute=compute,
)
