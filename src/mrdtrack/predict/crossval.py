"""Cross-validated comparison of dynamic prediction models, and bootstrap intervals of risks.

Why the AUC compares only predictions of the same fold
-----------------------------------------------------
Pooling the held-out predictions of all folds and computing one AUC compares risks produced by
*different* fitted models. Each fold's model is fitted without that fold, so its baseline risk is
low when the held-out fold happens to hold many events, and high when it holds few: fold by fold
the predictions are anti-correlated with the outcomes. For a model with no patient-level
information (the no-MRD model predicts one risk per landmark and fold) this between-fold
variation is the only variation, and the pooled AUC falls far below 0.5 (on the demo study
0.27-0.32, and 0.000 at 36 months, where the correlation of a fold's predicted risk with its
event rate was -0.99 to -1.00); weak models are dragged below 0.5 as well. The bias of pooled
cross-validated AUCs is described by Parker, Gunter & Bailey (BMC Bioinformatics 2007,
"stratification bias") and Airola et al. (Comput Stat Data Anal 2011, "pooling" versus
"averaging"). Here the AUC sums the IPCW-weighted case-control pairs *within* each fold (a
pair-weighted average of the fold AUCs), the calibration slope has one intercept per fold, and
the folds are balanced on the PFS event indicator. Brier scores are means of per-patient losses
and are pooled; the null model is cross-validated as well (the Kaplan-Meier risk of the
training folds), so that IPA compares like with like.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.errors import EstimationError
from mrdtrack.mrd import as_study_day
from mrdtrack.predict.evaluate import (
    MEASURES,
    PredictionAccuracy,
    score_predictions,
    with_intervals,
)
from mrdtrack.predict.stack import landmark_stack
from mrdtrack.predict.supermodel import LandmarkSupermodel, fit_stacked

#: The models compared by default: full MRD history, the last MRD result only, and no MRD.
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "mrd_history": {"mrd_features": ("mrd_positive", "mrd_unknown", "lost_negativity")},
    "last_mrd": {"mrd_features": ("mrd_positive", "mrd_unknown")},
    "baseline": {"mrd_features": ()},
}

#: Plain-words labels of the default models (for reports and tables).
MODEL_LABELS: dict[str, str] = {
    "mrd_history": "MRD history (current status and loss of negativity)",
    "last_mrd": "last MRD result only",
    "baseline": "no MRD (landmark baseline risk only)",
    "null": "null model (Kaplan-Meier, no covariates)",
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
    lag: int = 0,
    n_boot: int = 0,
    conf_level: float = 0.95,
    n_horizons: int = 8,
) -> PredictionAccuracy:
    """K-fold cross-validated AUC, Brier score, IPA, integrated Brier and calibration, per landmark.

    Patients (not rows) are split into ``folds`` groups with a seeded permutation balanced on the
    PFS event indicator; each model is fitted on the
    stacked data of the other folds and predicts the held-out patients at every landmark, at the
    window and at ``n_horizons`` equally spaced horizons (integrated Brier score). The measures
    are `mrdtrack.predict.evaluate.score_predictions` with the fold as ``group`` (see the module
    docstring for why) and the training folds' Kaplan-Meier as the null model.

    ``n_boot`` > 0 adds percentile intervals from a patient bootstrap of the *whole* pipeline:
    each replicate resamples patients with replacement, reassigns folds (copies of a patient stay
    in one fold), refits every model and rescores. Replicates in which a model cannot be fitted
    are left out and counted in the interval description.
    """
    models = DEFAULT_MODELS if models is None else models
    w = as_study_day(window, "window")
    if folds < 2:
        raise ValueError("folds must be at least 2")
    stacked = landmark_stack(
        cohort, landmarks, w, covariates=covariates, threshold=threshold, lag=lag
    )
    pfs = cohort.pfs("days").select(
        "patient_id", pl.col("time").alias("T"), pl.col("event").alias("E")
    )
    stacked = stacked.join(pfs, on="patient_id")
    horizons = score_horizons(w, n_horizons)
    rng = np.random.default_rng(seed)
    preds, curves, _ = _cv_predictions(
        stacked, models, folds, rng, w, covariates, threshold, horizons
    )
    validation = (
        f"{folds}-fold cross-validation by patient, seed {seed}; "
        "AUC from case-control pairs within a fold"
    )
    acc = score_predictions(preds, w, curves=curves, n_boot=0, validation=validation)
    if n_boot <= 0:
        return PredictionAccuracy(acc.results, w, validation, preds, "", conf_level, curves)
    table, interval = _pipeline_bootstrap(
        acc, stacked, models, folds, rng, w, covariates, threshold, horizons, n_boot, seed,
        conf_level,
    )  # fmt: skip
    return PredictionAccuracy(table, w, validation, preds, interval, conf_level, curves)


def _pipeline_bootstrap(
    acc, stacked, models, folds, rng, w, covariates, threshold, horizons, n_boot, seed, conf_level
) -> tuple[pl.DataFrame, str]:
    """Percentile intervals from a patient bootstrap of the whole fit-and-evaluate pipeline
    (see `cross_validate`): the estimates with ``<measure>_lower/_upper`` and the interval's
    description."""
    parts = stacked.partition_by("patient_id", as_dict=True)
    ids = sorted(k[0] for k in parts)
    reps, failed, not_converged = [], dict.fromkeys(models, 0), 0
    for b in range(n_boot):
        pick = rng.integers(0, len(ids), len(ids))
        boot = pl.concat(
            [
                parts[(ids[j],)].with_columns(
                    pl.lit(f"b{i}").alias("patient_id"), pl.lit(ids[j]).alias("_origin")
                )
                for i, j in enumerate(pick)
            ]
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bp, bc, bad = _cv_predictions(
                boot, models, folds, rng, w, covariates, threshold, horizons, strict=False
            )
        for c in caught:  # non-convergence of a refit is counted, anything else passed on
            if "did not converge" in str(c.message):
                not_converged += 1
            else:
                warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
        for name in bad:
            failed[name] += 1
        if bp is None:
            continue
        res = score_predictions(bp, w, curves=bc, n_boot=0).results
        reps.append(res.select("model", "landmark", *MEASURES).with_columns(pl.lit(b).alias("b")))
    worst = max(failed.values())
    if n_boot - worst < max(10, n_boot // 2):
        raise EstimationError(
            f"only {n_boot - worst} of {n_boot} bootstrap replicates of a model could be "
            "fitted: no reliable interval"
        )
    table = with_intervals(
        acc.results.select(~pl.selectors.ends_with("_lower", "_upper")), pl.concat(reps), conf_level
    )
    fitted = ", ".join(f"{MODEL_LABELS.get(name, name)} {n_boot - k}" for name, k in failed.items())
    interval = (
        f"percentile, patient bootstrap of the whole fit-and-evaluate pipeline, seed {seed} "
        f"(replicates fitted out of {n_boot}: {fitted}; a replicate in which a model could not "
        "be fitted in every fold, e.g. no event after a loss of negativity, is left out for "
        "that model"
        + (
            f"; {not_converged} refits stopped at the iteration limit and were kept"
            if not_converged
            else ""
        )
        + ")"
    )
    return table, interval


def score_horizons(w: int, k: int) -> np.ndarray:
    """``k`` equally spaced horizons in ``(0, w]`` (whole days), the last equal to ``w``."""
    k = max(2, int(k))
    return np.unique(np.append(np.round(np.arange(1, k) * w / k), w)).astype(np.float64)


def assign_folds(stacked: pl.DataFrame, folds: int, rng) -> dict[str, int]:
    """Fold of each original patient: seeded permutation, balanced on the PFS event."""
    origin = "_origin" if "_origin" in stacked.columns else "patient_id"
    pat = stacked.group_by(origin).agg(pl.col("E").first()).sort(origin)
    ids = pat.get_column(origin).to_numpy()
    ev = pat.get_column("E").to_numpy()
    order = np.lexsort((rng.permutation(ids.size), ev))  # events grouped, random within
    start = rng.integers(folds)
    return dict(zip(ids[order], (np.arange(ids.size) + start) % folds, strict=True))


def _cv_predictions(stacked, models, folds, rng, w, covariates, threshold, horizons, strict=True):
    """Held-out window risks (with the fold's null risk) and risk curves for every model.

    With ``strict=False`` a model that cannot be fitted in some fold is left out (all its rows)
    and named in the third return value instead of raising.
    """
    origin = "_origin" if "_origin" in stacked.columns else "patient_id"
    pred_frames, curve_frames = {n: [] for n in models}, {n: [] for n in models}
    failed: set[str] = set()
    fold_of = assign_folds(stacked, folds, rng)
    fold = stacked.get_column(origin).replace_strict(fold_of, return_dtype=pl.Int64)
    data = stacked.with_columns(fold.alias("_fold"))
    for k in range(folds):
        train = data.filter(pl.col("_fold") != k)
        test = data.filter(pl.col("_fold") == k)
        if test.height == 0:
            continue
        null = null_risk_km(train, test, horizons)
        for name, spec in models.items():
            if name in failed:
                continue
            try:
                model = _fit_model(train, w, covariates, spec, threshold)
            except EstimationError:
                if strict:
                    raise
                failed.add(name)
                continue
            key = test.select(
                pl.lit(name).alias("model"),
                "landmark",
                "patient_id",
                pl.col("_fold").alias("fold"),
                pl.col("T").alias("time"),
                pl.col("E").alias("event"),
            )
            pred_frames[name].append(
                key.with_columns(
                    pl.Series("risk", model.predict(test)),
                    pl.Series("null_risk", null[:, -1]),
                )
            )
            for j, u in enumerate(horizons):
                curve_frames[name].append(
                    key.select("model", "landmark", "patient_id").with_columns(
                        pl.lit(float(u)).alias("horizon"),
                        pl.Series("risk", model.predict(test, horizon=u)),
                        pl.Series("null_risk", null[:, j]),
                    )
                )
    ok = [n for n in models if n not in failed]
    if not ok:
        return None, None, failed
    preds = pl.concat([f for n in ok for f in pred_frames[n]])
    curves = pl.concat([f for n in ok for f in curve_frames[n]])
    return preds, curves, failed


def null_risk_km(train: pl.DataFrame, test: pl.DataFrame, horizons: np.ndarray) -> np.ndarray:
    """Kaplan-Meier risk within each horizon of the training rows at the test row's landmark.

    ``P(T <= s + u | T > s)`` from the product-limit estimate on the training rows of landmark
    ``s`` (``(s, stop]`` with the window's administrative censoring): the null model, fitted like
    the others on the training folds only. Returns ``(test.height, len(horizons))``.
    """
    out = np.full((test.height, horizons.size), np.nan)
    lm_test = test.get_column("landmark").to_numpy()
    for s in np.unique(lm_test):
        tr = train.filter(pl.col("landmark") == s)
        stop = tr.get_column("stop").to_numpy().astype(np.float64)
        ev = tr.get_column("event").to_numpy()
        times = np.unique(stop[ev == 1])
        n_risk = stop.size - np.searchsorted(np.sort(stop), times, side="left")
        d = np.searchsorted(np.sort(stop[ev == 1]), times, side="right") - np.searchsorted(
            np.sort(stop[ev == 1]), times, side="left"
        )
        surv = np.cumprod(1.0 - d / n_risk) if times.size else np.array([])
        idx = np.searchsorted(times, float(s) + horizons, side="right") - 1
        risk = 1.0 - np.where(idx >= 0, surv[np.clip(idx, 0, None)] if times.size else 1.0, 1.0)
        out[lm_test == s] = risk
    return out


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
    lag = int(fit_args.get("lag", 0))
    stacked = landmark_stack(
        cohort, landmarks, window, covariates=covariates, threshold=threshold, lag=lag
    )
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
