"""Are constant intensities adequate?  Piecewise-constant against homogeneous, by likelihood ratio.

The alternative is msm's ``pci`` model: a ``timeperiod`` factor acting on every intensity, with
censored "in some transient state" observations inserted at the cut points.  Those inserted
observations change the likelihood whenever the absorbing state is observed at a visit (panel)
rather than at its exact time: a subject already absorbed at the cut is then excluded, so the
plain homogeneous fit is *not* nested in the ``pci`` fit and R ``lrtest.msm(homogeneous, pci)``
can return a negative statistic (it does on our simulated study without exact death times:
-31.9 on 4 df).  Here the null model is fitted to the same augmented data with the period
effects absent, so the two models are nested and the statistic is a proper likelihood ratio;
with exact death times (the usual MRD set-up) the null's -2 log L equals the plain homogeneous
fit's, and the test equals msm's ``lrtest.msm``.

R equivalent: ``lrtest.msm(msm(...), msm(..., pci = cuts))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.stats

from ._data import add_pci_rows
from .panel_markov import fit_panel_markov


@dataclass(frozen=True)
class HomogeneityTest:
    """Likelihood-ratio test of constant vs piecewise-constant intensities, and the choice."""

    cuts: tuple[float, ...]
    minus2loglik_homogeneous: float
    minus2loglik_piecewise: float
    statistic: float
    df: int
    p_value: float
    aic_homogeneous: float
    aic_piecewise: float
    alpha: float  # significance level of the test (not a confidence level)
    fit_homogeneous: object
    fit_piecewise: object

    @property
    def homogeneous_adequate(self) -> bool:
        return bool(self.p_value >= self.alpha)

    @property
    def preferred(self) -> str:
        return "homogeneous" if self.homogeneous_adequate else "piecewise"

    def reason(self, unit: str = "years") -> str:
        cuts = ", ".join(f"{c:g}" for c in self.cuts)
        lr = (
            f"likelihood-ratio test of intensities changing at time {cuts} ({unit}) against "
            f"constant intensities: -2 log LR = {self.statistic:.2f} on {self.df} df, "
            f"p = {self.p_value:.3g} (AIC {self.aic_piecewise:.1f} vs {self.aic_homogeneous:.1f})"
        )
        if self.homogeneous_adequate:
            return (
                f"Constant intensities are kept: {lr}; the data give no evidence "
                f"(at the {self.alpha:g} level) that the intensities change over time."
            )
        return (
            f"Constant intensities are rejected: {lr}; the piecewise-constant model is preferred."
        )

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "model": ["homogeneous", "piecewise"],
                "minus2loglik": [self.minus2loglik_homogeneous, self.minus2loglik_piecewise],
                "n_params": [
                    len(self.fit_homogeneous.params),
                    len(self.fit_piecewise.params),
                ],
                "aic": [self.aic_homogeneous, self.aic_piecewise],
            }
        )

    def summary(self) -> str:
        return self.reason()


def time_homogeneity_test(
    data,
    *,
    cuts: Sequence[float],
    alpha: float = 0.05,
    **fit_kwargs,
) -> HomogeneityTest:
    """Fit homogeneous and piecewise-constant (msm ``pci``) models and compare them.

    ``fit_kwargs`` are those of `fit_panel_markov` (``subject``, ``time``, ``state``,
    ``qmatrix``, ...).  Returns both fits, the LR statistic on ``(n_periods - 1) * n_transitions``
    df (chi-squared reference), the AICs and the choice at significance level ``alpha``.
    """
    if fit_kwargs.get("ematrix") is not None:
        raise NotImplementedError("time_homogeneity_test with misclassification")
    alt = fit_panel_markov(data, pci=cuts, **fit_kwargs)
    # the null on the same augmented data (nested), see the module docstring
    qm = np.asarray(fit_kwargs["qmatrix"], dtype=float)
    k = qm.shape[0]
    qmask = (qm > 0) & ~np.eye(k, dtype=bool)
    code = -(10**6)
    transient = [i + 1 for i in range(k) if qmask[i].any()]
    covs = list(fit_kwargs.get("covariates") or [])
    aug, _, _ = add_pci_rows(
        data,
        subject=fit_kwargs["subject"],
        time=fit_kwargs["time"],
        state=fit_kwargs["state"],
        covariates=covs,
        cuts=cuts,
        code=code,
        extra_columns=[c for c in (fit_kwargs.get("obstype"), fit_kwargs.get("obstrue")) if c],
    )
    null_kwargs = dict(fit_kwargs)
    null_kwargs["censored_states"] = {**(fit_kwargs.get("censored_states") or {}), code: transient}
    null = fit_panel_markov(aug, **null_kwargs)
    stat = float(null.minus2loglik - alt.minus2loglik)
    df = len(alt.params) - len(null.params)
    p = float(scipy.stats.chi2.sf(max(stat, 0.0), df))
    return HomogeneityTest(
        cuts=tuple(float(c) for c in alt.pci),
        minus2loglik_homogeneous=float(null.minus2loglik),
        minus2loglik_piecewise=float(alt.minus2loglik),
        statistic=stat,
        df=int(df),
        p_value=p,
        aic_homogeneous=float(null.minus2loglik + 2 * len(null.params)),
        aic_piecewise=float(alt.minus2loglik + 2 * len(alt.params)),
        alpha=alpha,
        fit_homogeneous=null,
        fit_piecewise=alt,
    )
