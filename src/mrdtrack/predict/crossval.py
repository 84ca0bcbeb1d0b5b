"""Cross-validated comparison of dynamic prediction models, and bootstrap intervals of risks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.errors import EstimationError
from mrdtrack.mrd._days import as_study_day
from mrdtrack.predict.evaluate import PredictionAccuracy, score_landmark
from mrdtrack.predict.stack import landmark_stack
from mrdtrack.predict.supermodel import LandmarkSupermodel, fit_stacked

#: The models compared by default: full MRD history, the last MRD result only, and no MRD.
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "mrd_history": {"mrd_features": ("mrd_positive", "mrd_unknown", "lost_negativity")},
    "last_mrd": {"mrd_features": ("mrd_positive", "mrd_unknown")},
    "baseline": {"mrd_features": ()},
}


def cross_validate(
    cohort: Cohort,
    *,
    landmarks: Sequence[int | str] | None = None,
    window: int | str = "24m",
    covariates: Sequence[str] = (),
    models: Mapping[str, Mapping[str, Any]] | None = None,
    folds: int = 5,
    seed: int = 20211,
    threshold: float = 1e-5,
) -> PredictionAccuracy:
    """K-fold cross-validated AUC, Brier score and calibration of supermodels, per landmark.

    Patients (not rows) are split into ``folds`` groups with a seeded permutation; each model is
    fitted on the stacked data of the other folds and predicts the held-out patients at every
    landmark. The measures (`mrdtrack.predict.evaluate`) are computed on the pooled held-out
    predictions of each landmark. A ``baseline`` model with no covariates and no MRD terms has
    nothing to fit and predicts the stacked Breslow risk of its landmark.
    """
    models = DEFAULT_MODELS if models is None else models
    w = as_study_day(window, "window")
    stacked = landmark_stack(cohort, landmarks, w, covariates=covariates, threshold=threshold)
    pfs = cohort.pfs("days").select(
        "patient_id", pl.col("time").alias("T"), pl.col("event").alias("E")
    )
    stacked = stacked.join(pfs, on="patient_id")
    ids = np.array(sorted(stacked.get_column("patient_id").unique().to_list()))
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(ids[rng.permutation(ids.size)], np.arange(ids.size) % folds, strict=True))
    fold = stacked.get_column("patient_id").replace_strict(fold_of, return_dtype=pl.Int64)
    stacked = stacked.with_columns(fold.alias("_fold"))
    rows = []
    pred_frames = []
    for name, spec in models.items():
        preds = np.full(stacked.height, np.nan)
        for k in range(folds):
            train = stacked.filter(pl.col("_fold") != k)
            test_mask = (stacked.get_column("_fold") == k).to_numpy()
            model = _fit_model(train, w, covariates, spec, threshold)
            preds[test_mask] = model.predict(stacked.filter(pl.col("_fold") == k))
        scored = stacked.with_columns(pl.Series("_risk", preds))
        pred_frames.append(
            scored.select(
                pl.lit(name).alias("model"),
                "landmark",
                "patient_id",
                pl.col("_risk").alias("risk"),
                pl.col("T").alias("time"),
                pl.col("E").alias("event"),
            )
        )
        for s in sorted(scored.get_column("landmark").unique().to_list()):
            part = scored.filter(pl.col("landmark") == s)
            rows.append(
                {
                    "model": name,
                    "landmark": int(s),
                    **score_landmark(
                        part.get_column("_risk").to_numpy(),
                        part.get_column("T").to_numpy(),
                        part.get_column("E").to_numpy(),
                        float(s),
                        float(w),
                    ),
                }
            )
    return PredictionAccuracy(
        pl.DataFrame(rows),
        window=w,
        validation=f"{folds}-fold cross-validation by patient, seed {seed}",
        predictions=pl.concat(pred_frames),
    )


def _fit_model(train: pl.DataFrame, w: int, covariates, spec, threshold) -> LandmarkSupermodel:
    spec = dict(spec)
    covs = tuple(spec.pop("covariates", covariates))
    feats = tuple(spec.pop("mrd_features", ()))
    try:
        return fit_stacked(
            train, window=w, covariates=covs, mrd_features=feats, threshold=threshold, **spec
        )
    except EstimationError:
        # A training fold where a term never varies: drop constant terms and refit.
        keep = tuple(f for f in feats if train.get_column(f).n_unique() > 1)
        covs = tuple(c for c in covs if train.get_column(c).n_unique() > 1)
        return fit_stacked(
            train, window=w, covariates=covs, mrd_features=keep, threshold=threshold, **spec
        )


def bootstrap_risk(
    cohort: Cohort,
    rows: pl.DataFrame,
    *,
    n_boot: int = 200,
    seed: int = 20211,
    conf_level: float = 0.95,
    **fit_args: Any,
) -> tuple[np.ndarray, int]:
    """Percentile bootstrap interval (patients resampled with replacement) of predicted risks.

    Returns an array ``(len(rows), 2)`` of lower and upper limits and the number of replicates
    whose refit failed (monotone likelihood or a term that never varies in the resample); those
    are left out and the count is reported, so the interval is conditional on an estimable fit.
    Each replicate refits the supermodel on the stacked data of the resampled patients (a
    resampled patient contributes all its landmark rows, renamed so that copies are distinct
    clusters).
    """
    window = as_study_day(fit_args.pop("window", "24m"), "window")
    landmarks = fit_args.pop("landmarks", None)
    covariates = tuple(fit_args.get("covariates", ()))
    threshold = fit_args.get("threshold", 1e-5)
    stacked = landmark_stack(cohort, landmarks, window, covariates=covariates, threshold=threshold)
    ids = np.array(sorted(stacked.get_column("patient_id").unique().to_list()))
    parts = stacked.partition_by("patient_id", as_dict=True)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        pick = rng.integers(0, ids.size, ids.size)
        boot = pl.concat(
            [
                parts[(ids[j],)].with_columns(pl.lit(f"b{i}").alias("patient_id"))
                for i, j in enumerate(pick)
            ]
        )
        try:
            model = fit_stacked(boot, window=window, **fit_args)
        except EstimationError:
            continue
        draws.append(model.predict(rows))
    if len(draws) < max(10, n_boot // 2):
        raise EstimationError(
            f"only {len(draws)} of {n_boot} bootstrap refits succeeded: interval not reliable"
        )
    a = (1 - conf_level) / 2
    return np.quantile(np.vstack(draws), [a, 1 - a], axis=0).T, n_boot - len(draws)
