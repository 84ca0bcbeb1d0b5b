"""Observed and expected state prevalence over time, with simulation limits (msm
``prevalence.msm`` with ``ci = "normal"``, and ``plot.prevalence.msm``).

The point values are `PanelMarkovFit.prevalence` (its docstring states msm's conventions:
observed states carried forward from the last visit, expected = number at risk times
``p0 P(t - t0)``).  The limits of the expected percentages are the ``(1 - cl) / 2`` and
``1 - (1 - cl) / 2`` quantiles (R ``quantile`` type 7) of the expected percentages over
``n_draws`` parameter vectors drawn from the estimates' asymptotic normal distribution, as msm
(its draws come from R's generator, ours from numpy's: limits agree within Monte Carlo error).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.linalg

from .derived import parameter_draws


@dataclass(frozen=True)
class PrevalenceResult:
    """Observed vs expected prevalence; ``lower_pct``/``upper_pct`` when limits were asked."""

    frame: pl.DataFrame
    ci_method: str
    state_labels: dict[int, str]

    def table(self) -> pl.DataFrame:
        return self.frame

    def summary(self) -> str:
        lines = [f"Observed vs expected prevalence (%) [CI: {self.ci_method}]"]
        for r in self.frame.iter_rows(named=True):
            ci = ""
            if "lower_pct" in r:
                ci = f" ({r['lower_pct']:.1f}, {r['upper_pct']:.1f})"
            lab = self.state_labels.get(r["state"], str(r["state"]))
            lines.append(
                f"  t={r['time']:g} {lab}: observed {r['observed_pct']:.1f}, "
                f"expected {r['expected_pct']:.1f}{ci}"
            )
        return "\n".join(lines)

    def max_abs_difference(self) -> float:
        """Largest |observed % - expected %| over times and states (points at risk only)."""
        d = (self.frame["observed_pct"] - self.frame["expected_pct"]).abs()
        return float(d.drop_nans().max() or 0.0)

    def outside_limits(self) -> pl.DataFrame:
        """Rows whose observed % lies outside the expected % limits."""
        if "lower_pct" not in self.frame.columns:
            raise ValueError("no limits: call prevalence_over_time(..., ci='normal')")
        f = self.frame
        return f.filter(
            (pl.col("observed_pct") < pl.col("lower_pct"))
            | (pl.col("observed_pct") > pl.col("upper_pct"))
        )

    def plot(self, unit: str = "years"):
        """Observed (points) and expected (line, shaded limits) % per state against time, one
        panel per state (msm ``plot.prevalence.msm``)."""
        import matplotlib.pyplot as plt  # optional heavy dependency: only for the plot

        states = sorted(self.frame["state"].unique().to_list())
        fig, axes = plt.subplots(
            1, len(states), figsize=(2.1 * len(states) + 0.6, 2.8), sharex=True, squeeze=False
        )
        for ax, s in zip(axes[0], states, strict=True):
            d = self.frame.filter(pl.col("state") == s)
            t = d["time"].to_numpy()
            if "lower_pct" in d.columns:
                ax.fill_between(
                    t,
                    d["lower_pct"].to_numpy(),
                    d["upper_pct"].to_numpy(),
                    color="0.85",
                    label="expected, limits",
                )
            ax.plot(t, d["expected_pct"].to_numpy(), color="0.2", label="expected")
            ax.plot(t, d["observed_pct"].to_numpy(), "o", color="C3", ms=4, label="observed")
            ax.set_title(self.state_labels.get(s, f"state {s}"), fontsize=10)
            ax.set_xlabel(unit)
            ax.set_ylim(0, 100)
        axes[0][0].set_ylabel("prevalence (%)")
        axes[0][-1].legend(fontsize=8, frameon=False)
        fig.tight_layout()
        return fig


def prevalence_over_time(
    fit,
    times: Sequence[float],
    *,
    ci: str = "normal",
    n_draws: int | None = None,
    seed: int | None = None,
    state_labels: Mapping[int, str] | None = None,
) -> PrevalenceResult:
    """Observed and expected prevalence at ``times`` with limits for the expected percentages
    (R ``prevalence.msm(x, times, ci = "normal", B = n_draws)``, ``n_draws`` default 500);
    ``ci="none"`` for none (then ``n_draws`` / ``seed`` are a TypeError)."""
    if ci not in ("normal", "none"):
        raise ValueError("ci must be 'normal' or 'none'")
    unused = [n for n, v in (("n_draws", n_draws), ("seed", seed)) if v is not None]
    if ci == "none" and unused:
        raise TypeError(f"ci='none' does not use {unused}")
    base = fit.prevalence(times)
    labels = dict(state_labels or {})
    if ci == "none":
        return PrevalenceResult(base, "none", labels)
    n_draws = 500 if n_draws is None else n_draws
    draws = parameter_draws(fit, n_draws, seed)
    if len(fit.covariate_names) == 0:
        sims = _expected_pct_draws(fit, np.asarray(times, dtype=float), draws)
    else:  # expected counts sum over covariate categories: the full computation per draw
        sims = np.array(
            [fit_at(fit, p).prevalence(times).get_column("expected_pct").to_numpy() for p in draws]
        )
    a = (1 - fit.conf_level) / 2
    out = base.with_columns(
        pl.Series("lower_pct", np.quantile(sims, a, axis=0)),
        pl.Series("upper_pct", np.quantile(sims, 1 - a, axis=0)),
    )
    return PrevalenceResult(out, f"normal draws ({n_draws})", labels)


def _expected_pct_draws(fit, times: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Expected percentages per draw without covariates: the number at risk cancels, so they
    are ``100 p0 P(t - t0) [E]`` with ``p0`` the observed distribution at the first time (the
    initial probabilities for a misclassification model), as in `PanelMarkovFit.prevalence`."""
    k = fit.n_states
    t0 = float(fit._panel.time.min())
    if fit.hidden:
        p0 = fit.initprobs
    else:
        obs0 = fit.prevalence([t0]).get_column("observed").to_numpy()
        p0 = obs0 / obs0.sum()
    out = np.full((len(draws), len(times) * k), np.nan)
    for i, p in enumerate(draws):
        f = fit_at(fit, p)
        qm = f.qmatrix()
        e = f.ematrix() if fit.hidden else None
        rows = []
        for t in times:
            if t < t0:
                rows.append(np.full(k, np.nan))
                continue
            r = p0 @ scipy.linalg.expm(qm * (t - t0))
            r = r @ e if e is not None else r
            rows.append(100 * r / r.sum())
        out[i] = np.concatenate(rows)
    return out


def fit_at(fit, params: np.ndarray):
    """The same fitted model object at other parameter values (for simulation-based limits)."""
    return dataclasses.replace(fit, params=np.asarray(params, dtype=float))
