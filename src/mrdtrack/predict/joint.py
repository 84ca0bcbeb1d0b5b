"""Dynamic prediction of progression from the MRD *level* history: the joint model.

The landmark supermodel (`mrdtrack.predict.supermodel`) predicts from the MRD status history
(negative / positive, loss of negativity). The joint model (`mrdtrack.joint`: a mixed model of
``log10`` MRD level, left-censored at each sample's own limit of detection, sharing random
effects with a proportional-hazards model of progression or death) predicts from the levels:
``P(T > s + w | T > s, levels known at s)`` (Rizopoulos 2011; R ``JM::survfitJM``).

Both are scored by the same code: `mrdtrack.predict.evaluate.score_predictions`, cross-validated
by patient with the *same folds* as `mrdtrack.predict.cross_validate` (same landmark rows, same
seeded fold assignment balanced on the event, AUC from case-control pairs within a fold, the
training folds' Kaplan-Meier as the null model). Each fold's joint model is fitted on the other
folds' patients only (all their levels and follow-up) and predicts the held-out patients from
their levels known at the landmark (guarantee-time rule: sample day + reporting lag <= s).
The risk scored is the first-order estimate ``1 - P(T > s + u | ...)`` at theta-hat and the
posterior mode of the random effects (JM's ``simulate = FALSE``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.joint import (
    JointData,
    JointModelResult,
    dynamic_prediction,
    fit_joint_model,
    joint_data_from_cohort,
)
from mrdtrack.mrd import as_study_day
from mrdtrack.predict.crossval import assign_folds, null_risk_km, score_horizons
from mrdtrack.predict.evaluate import PredictionAccuracy, compare_models, score_predictions
from mrdtrack.predict.stack import landmark_stack
from mrdtrack.schema import DAYS_PER_YEAR

#: Name of the joint model in accuracy tables.
JOINT_MODEL = "joint"


@dataclass(frozen=True)
class JointOptions:
    """The joint model used for prediction (see `mrdtrack.joint.fit_joint_model`).

    ``random_effects``: "intercept+time" (random intercept and slope) or "intercept";
    ``association``: "value", "slope", "both"; ``n_nodes``: aGH nodes per random effect
    (None: the fitter's default).
    """

    random_effects: str = "intercept+time"
    association: str = "value"
    n_nodes: int | None = None

    def label(self) -> str:
        re = {"intercept": "random intercept", "intercept+time": "random intercept and slope"}
        return (
            f"joint model of the log10 MRD level ({re.get(self.random_effects, '?')}; "
            f"association: current {self.association})"
        )


def level_data(cohort: Cohort) -> JointData:
    """The joint model's data from a study: log10 MRD level (LOD-censored) and PFS, in years."""
    return joint_data_from_cohort(cohort, unit="years")


def fit_joint(data: JointData, options: JointOptions | None = None) -> JointModelResult:
    """Fit the joint model of `JointOptions` (a non-convergence warning is left to the caller)."""
    options = JointOptions() if options is None else options
    return fit_joint_model(
        data,
        association=options.association,
        random_effects=options.random_effects,
        n_nodes=options.n_nodes,
    )


def joint_risk(
    fit: JointModelResult,
    data: JointData,
    landmark: int | str,
    horizons: Sequence[float | str] | np.ndarray,
    *,
    lag: int = 0,
    n_draws: int = 0,
    seed: int = 20211,
    conf_level: float = 0.95,
) -> pl.DataFrame:
    """Risk of progression or death within each horizon after the landmark (study days, or
    strings such as "24m").

    One row per patient at risk at ``landmark`` and horizon: ``patient_id, landmark, horizon``
    (days) and ``risk`` (first-order estimate), and with ``n_draws`` > 0 the Monte Carlo
    ``risk_lower, risk_upper`` (percentile interval of the risk; `dynamic_prediction`). Only
    samples known at the landmark (sample day + ``lag`` <= landmark) are used.
    """
    landmark = as_study_day(landmark, "landmark")
    u = np.asarray([as_study_day(h, "horizon") for h in horizons], dtype=np.float64)
    dp = dynamic_prediction(
        fit,
        data,
        landmark / DAYS_PER_YEAR,
        u / DAYS_PER_YEAR,
        n_draws=n_draws,
        seed=seed,
        conf_level=conf_level,
        lag=lag / DAYS_PER_YEAR,
    ).table()
    return dp.select(
        "patient_id",
        pl.lit(int(landmark)).cast(pl.Int64).alias("landmark"),
        (pl.col("horizon") * DAYS_PER_YEAR).round(6).alias("horizon"),
        (1.0 - pl.col("prob")).alias("risk"),
        (1.0 - pl.col("upper")).alias("risk_lower"),
        (1.0 - pl.col("lower")).alias("risk_upper"),
    )


@dataclass(frozen=True)
class JointCrossValidation:
    """Held-out joint-model predictions scored as `cross_validate` scores the supermodel.

    ``accuracy``: `PredictionAccuracy` of model ``"joint"`` (its ``predictions`` and ``curves``
    can be stacked with the supermodel's for a comparison on the same bootstrap resamples);
    ``fold_fits``: per fold, whether the fit converged and its message (a fold whose fit did
    not converge still predicts, from its last estimates, and is counted here, never hidden).
    """

    accuracy: PredictionAccuracy
    options: JointOptions
    fold_fits: tuple[tuple[bool, str], ...]

    @property
    def n_converged(self) -> int:
        return sum(ok for ok, _ in self.fold_fits)

    def summary(self) -> str:
        return (
            f"{self.options.label()}: {self.n_converged} of {len(self.fold_fits)} fold fits "
            f"converged\n{self.accuracy.summary()}"
        )


def cross_validate_joint(
    cohort: Cohort,
    *,
    landmarks: Sequence[int | str] | None = None,
    window: int | str = "24m",
    options: JointOptions | None = None,
    folds: int = 5,
    seed: int = 20211,
    threshold: float = 1e-5,
    lag: int = 0,
    n_boot: int = 0,
    conf_level: float = 0.95,
    n_horizons: int = 8,
) -> JointCrossValidation:
    """K-fold cross-validated accuracy of the joint model's dynamic predictions.

    Same landmark rows, folds (``seed``, ``folds``, ``threshold`` and ``lag`` as in
    `cross_validate`, which draws the folds first from ``numpy.random.default_rng(seed)``),
    horizons and null model as `cross_validate`, so the two tables compare like with like.
    ``n_boot`` > 0: percentile intervals from a patient bootstrap with the held-out
    predictions held fixed (`score_predictions`); refitting the joint model in every
    replicate and fold is not done (seconds per fit), so these intervals leave out the
    variability of fitting.
    """
    options = JointOptions() if options is None else options
    w = as_study_day(window, "window")
    if folds < 2:
        raise ValueError("folds must be at least 2")
    stacked = landmark_stack(cohort, landmarks, w, threshold=threshold, lag=lag)
    pfs = cohort.pfs("days").select(
        "patient_id", pl.col("time").alias("T"), pl.col("event").alias("E")
    )
    stacked = stacked.join(pfs, on="patient_id")
    horizons = score_horizons(w, n_horizons)
    fold_of = assign_folds(stacked, folds, np.random.default_rng(seed))
    data = level_data(cohort)
    preds, curves, fits = _held_out(stacked, data, fold_of, folds, horizons, options, lag)
    validation = (
        f"{folds}-fold cross-validation by patient, seed {seed} (the supermodel's folds); "
        "AUC from case-control pairs within a fold"
    )
    acc = score_predictions(
        preds,
        w,
        curves=curves,
        n_boot=n_boot,
        seed=seed,
        conf_level=conf_level,
        validation=validation,
    )
    return JointCrossValidation(acc, options, tuple(fits))


def _held_out(stacked, data, fold_of, folds, horizons, options, lag):
    """Fit per fold on the training patients; predict the fold's landmark rows."""
    ids = np.asarray(data.patient_id).astype(str)
    fold_of_patient = np.array([fold_of.get(p, -1) for p in ids])
    pred_frames, curve_frames, fits = [], [], []
    for k in range(folds):
        test = stacked.filter(
            pl.col("patient_id").replace_strict(fold_of, default=-1, return_dtype=pl.Int64) == k
        )
        if test.height == 0:
            continue
        train = stacked.filter(~pl.col("patient_id").is_in(test["patient_id"].unique().implode()))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_joint(data.subset(np.nonzero(fold_of_patient != k)[0]), options)
        for c in caught:  # non-convergence is recorded per fold; anything else passed on
            if "did not converge" not in str(c.message):
                warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
        fits.append((fit.converged, str(fit.convergence.get("message", ""))))
        held = data.subset(np.nonzero(fold_of_patient == k)[0])
        null = null_risk_km(train, test, horizons)
        risk = pl.concat(
            [joint_risk(fit, held, int(s), horizons, lag=lag) for s in test["landmark"].unique()]
        ).select("patient_id", "landmark", "horizon", "risk")
        key = test.select(
            pl.lit(JOINT_MODEL).alias("model"),
            "landmark",
            "patient_id",
            pl.lit(k).cast(pl.Int64).alias("fold"),
            pl.col("T").alias("time"),
            pl.col("E").alias("event"),
        )
        for j, u in enumerate(horizons):
            at_u = key.select("model", "landmark", "patient_id").with_columns(
                pl.lit(float(u)).alias("horizon"), pl.Series("null_risk", null[:, j])
            )
            curve_frames.append(_attach(at_u, risk, u))
        window_rows = key.with_columns(pl.Series("null_risk", null[:, -1]))
        pred_frames.append(_attach(window_rows, risk, horizons[-1]).drop("horizon"))
    return pl.concat(pred_frames), pl.concat(curve_frames), fits


def _attach(rows: pl.DataFrame, risk: pl.DataFrame, u: float) -> pl.DataFrame:
    """The joint model's risk at horizon ``u`` for each landmark row (every row must have one)."""
    at = risk.filter((pl.col("horizon") - u).abs() < 1e-6).select(
        "patient_id", "landmark", pl.lit(float(u)).alias("horizon"), "risk"
    )
    out = rows.drop("horizon", strict=False).join(
        at, on=["patient_id", "landmark"], how="left", coalesce=True
    )
    missing = out["risk"].null_count()
    if missing:
        raise RuntimeError(f"joint model: {missing} landmark rows without a prediction")
    return out


#: Below this many controls followed to the horizon a landmark's AUC is not interpreted.
MIN_CONTROLS = 5


@dataclass(frozen=True)
class JointComparison:
    """The joint model against the landmark supermodel, cross-validated on the same folds.

    ``full_fit``: the joint model with a random intercept and slope fitted to all patients
    (its convergence is reported, never hidden); ``used``: the model cross-validated (the
    full one if it converged, else the random-intercept model if that converged, else None);
    ``fits``: every fit tried, by random-effects structure; ``cv``: its cross-validation;
    ``accuracy``: both models scored with intervals from the same patient resamples
    (predictions held fixed); ``differences``: joint minus supermodel per landmark, paired
    bootstrap (`compare_models`).
    """

    supermodel: str
    fits: dict[str, JointModelResult]
    used: JointOptions | None
    data_notes: dict[str, float]
    cv: JointCrossValidation | None = None
    accuracy: PredictionAccuracy | None = None
    differences: pl.DataFrame | None = None

    def not_fitted_reason(self) -> str:
        """Why the random intercept-and-slope model is not used, in words ("" if it is)."""
        full = self.fits.get("intercept+time")
        if full is None or full.converged:
            return ""
        D = full.D
        corr = D[0, 1] / np.sqrt(D[0, 0] * D[1, 1]) if D[0, 0] * D[1, 1] > 0 else float("nan")
        boundary = (
            f" The estimate it stopped at lies on the boundary of the parameter space: the "
            f"random intercept and slope are perfectly correlated (correlation {corr:.3f}), "
            "where standard errors do not exist."
            if abs(corr) > 0.99
            else ""
        )
        return (
            "The joint model with a random intercept and a random slope per patient could not "
            f"be fitted to these data: the fit did not converge ({full.convergence['message']})."
            f"{boundary} With {self.data_notes['levels_per_patient']:.1f} MRD levels per patient "
            f"on average and {self.data_notes['censored_pct']:.0f}% of them below the limit of "
            "detection, the data hold too little information about each patient's trend for "
            "the slope's variance and its correlation with the level to be estimated "
            "(docs/methods/joint.md investigates the same failure on the demo study: the "
            "likelihood has several maxima and none found passes the convergence checks)."
        )


def compare_joint_with_supermodel(
    cohort: Cohort,
    supermodel_cv: PredictionAccuracy,
    *,
    supermodel: str = "mrd_history",
    landmarks: Sequence[int | str] | None = None,
    window: int | str = "24m",
    threshold: float = 1e-5,
    lag: int = 0,
    seed: int = 20211,
    n_boot: int = 200,
    conf_level: float = 0.95,
) -> JointComparison:
    """Fit the joint model (random intercept and slope; if that does not converge, random
    intercept only), cross-validate it on the supermodel's folds (``seed`` as in the
    supermodel's `cross_validate`, which produced ``supermodel_cv``), and compare the two.

    Both models' held-out predictions are rescored together (`score_predictions`, the same
    ``n_boot`` patient resamples for both, predictions held fixed) and their differences
    taken per resample (`compare_models`). A model that does not converge is never used
    silently: `JointComparison.fits` holds every fit and ``not_fitted_reason`` says why.
    """
    data = level_data(cohort)
    per_patient = data.n_obs / max(data.n_patients, 1)
    notes = {
        "levels_per_patient": per_patient,
        "censored_pct": 100.0 * float(data.censored.mean()) if data.n_obs else float("nan"),
    }
    fits: dict[str, JointModelResult] = {}
    used = None
    for re in ("intercept+time", "intercept"):
        options = JointOptions(random_effects=re)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported in the result
            fits[re] = fit_joint(data, options)
        if fits[re].converged:
            used = options
            break
    if used is None:
        return JointComparison(supermodel, fits, None, notes)
    cv = cross_validate_joint(
        cohort,
        landmarks=landmarks,
        window=window,
        options=used,
        seed=seed,
        threshold=threshold,
        lag=lag,
    )
    cols = ["model", "landmark", "patient_id", "fold", "time", "event", "risk", "null_risk"]
    ccols = ["model", "landmark", "patient_id", "horizon", "risk", "null_risk"]
    sm_preds = supermodel_cv.predictions.filter(pl.col("model") == supermodel)
    preds = pl.concat([sm_preds.select(cols), cv.accuracy.predictions.select(cols)])
    curves = None
    if supermodel_cv.curves is not None:
        sm_curves = supermodel_cv.curves.filter(pl.col("model") == supermodel).select(ccols)
        curves = pl.concat([sm_curves, cv.accuracy.curves.select(ccols)])
    w = supermodel_cv.window
    acc = score_predictions(
        preds,
        w,
        curves=curves,
        n_boot=n_boot,
        seed=seed,
        conf_level=conf_level,
        validation=cv.accuracy.validation,
    )
    diff = compare_models(
        preds, w, supermodel, JOINT_MODEL, curves=curves, n_boot=n_boot, seed=seed,
        conf_level=conf_level,
    )  # fmt: skip
    return JointComparison(supermodel, fits, used, notes, cv, acc, diff)


def comparison_in_words(cmp: JointComparison, supermodel_label: str) -> str:
    """The comparison's answer in plain words (landmarks with enough controls only)."""
    if cmp.used is None:
        return (
            "Neither the joint model with a random intercept and slope nor the simpler one "
            "with a random intercept only converged on these data, so the MRD levels could "
            "not be compared with the MRD status history as predictors."
        )
    d = cmp.differences.filter(pl.col("n_controls") >= MIN_CONTROLS).sort("landmark")
    if d.height == 0:
        return "No landmark had enough patients followed event-free to the horizon to compare."
    month = [round(s / 30.4375) for s in d["landmark"].to_list()]
    better = [m for m, lo in zip(month, d["auc_diff_lower"], strict=True) if lo > 0]
    worse = [m for m, hi in zip(month, d["auc_diff_upper"], strict=True) if hi < 0]
    lo_j, hi_j = d["auc_b"].min(), d["auc_b"].max()
    lo_s, hi_s = d["auc_a"].min(), d["auc_a"].max()
    text = (
        f"At the {d.height} landmarks with at least {MIN_CONTROLS} patients followed "
        f"event-free to the horizon, the joint model's cross-validated AUC was {lo_j:.2f} to "
        f"{hi_j:.2f} and the supermodel's ({supermodel_label}) {lo_s:.2f} to {hi_s:.2f}. "
    )
    if not better and not worse:
        text += (
            "At every one of these landmarks the interval of the difference in AUC includes 0: "
            "in this study the joint model of the MRD levels does not discriminate measurably "
            "better or worse than the MRD status history."
        )
    else:
        if worse:
            text += (
                f"The supermodel discriminates better at month(s) "
                f"{', '.join(map(str, worse))} (the interval of the difference excludes 0). "
            )
        if better:
            text += (
                f"The joint model discriminates better at month(s) "
                f"{', '.join(map(str, better))} (the interval of the difference excludes 0). "
            )
        text += "At the other landmarks the interval of the difference includes 0."
    for words, col, sign in (
        ("higher (worse)", "brier_diff_lower", 1),
        ("lower (better)", "brier_diff_upper", -1),
    ):
        months = [m for m, v in zip(month, d[col], strict=True) if sign * v > 0]
        if months:
            text += (
                f" The joint model's Brier score is {words} at month(s) "
                f"{', '.join(map(str, months))} (interval of the difference excludes 0)."
            )
    return text
