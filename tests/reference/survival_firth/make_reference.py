"""Reference outputs for mrdtrack.survival.firth from firthmodels (run: python make_reference.py).

Writes the data sets (CSV) and firthmodels' results (JSON, repr of floats = 17 significant
digits) into this folder. firthmodels fits Breslow ties, right-censored data, no strata; it is
run with the tightest gradient tolerance at which its step-halving converges (recorded
per file; profile tol 1e-10) so that the fixtures
reflect the estimator, not a stopping rule.

Data sets
---------
breast.csv
    The breast-cancer data of Heinze & Schemper (2001) as shipped with R ``coxphf`` (100
    patients; T, N, G, CD; TIME, CENS). G has a monotone likelihood.
separation.csv
    firthmodels' own test generator ``make_cox_separation_data(seed=42)`` (no events in the
    ``separator == 0`` group); ``coxphf_published.json`` holds the coxphf results for these
    data as quoted in firthmodels' test suite (coef, se, LR, per-term p, profile CIs).
ordinary.csv
    Simulated right-censored data with tied times and an ordinary (finite) ML estimate.
landmark.csv
    The founding study's situation: a landmark comparison with no events in one group.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
from firthmodels import FirthCoxPH

HERE = Path(__file__).resolve().parent

BREAST = """1 0 1 0 1.546053 1
0 0 1 1 3.519737 1
1 1 1 1 8.059211 1
1 0 1 1 8.651316 1
1 1 1 0 12.138158 1
1 1 1 1 12.368421 1
1 0 1 0 13.059211 1
1 1 1 1 14.769737 1
1 0 1 0 18.848684 1
1 1 1 1 20.032895 1
1 1 1 1 20.723684 1
0 1 1 0 21.644737 1
0 1 1 0 23.355263 0
1 0 1 1 23.684211 1
1 1 1 1 26.611842 1
0 0 0 0 27.960526 0
0 1 1 0 28.355263 0
1 0 1 0 30.427632 0
1 0 1 1 30.526316 0
0 0 0 0 30.921053 0
1 0 1 0 33.092105 0
1 0 1 0 36.907895 0
1 0 1 0 37.269737 0
0 0 1 1 39.901316 0
1 0 1 0 40.164474 1
1 0 1 1 41.250000 1
0 0 0 0 41.611842 0
0 0 1 0 44.934211 1
0 1 1 0 47.467105 0
0 1 1 0 47.467105 1
0 1 1 0 47.960526 0
1 1 1 1 49.046053 1
1 0 1 0 50.000000 0
1 1 1 1 55.263158 1
1 0 0 0 56.776316 0
1 0 0 0 58.026316 0
1 1 1 1 58.355263 1
0 0 1 0 58.717105 0
0 1 1 0 59.671053 1
1 0 1 0 60.230263 1
1 1 1 1 60.592105 1
0 0 1 0 62.368421 0
1 1 1 0 62.565789 1
0 0 1 0 63.486842 0
1 0 1 0 64.177632 0
0 0 0 0 64.901316 0
0 0 0 1 67.302632 0
0 0 1 0 70.098684 0
0 1 1 0 70.328947 1
1 0 0 0 72.000000 0
0 0 1 0 72.000000 0
0 1 0 0 72.000000 0
1 1 1 0 72.000000 0
0 0 1 1 72.000000 0
0 0 1 0 72.000000 0
1 1 1 1 72.000000 0
0 0 1 1 72.000000 0
0 0 0 0 72.000000 0
0 0 0 0 72.000000 0
0 0 1 1 72.000000 0
0 0 1 0 72.000000 0
0 0 0 0 72.000000 0
0 0 1 0 72.000000 0
0 0 1 0 72.000000 0
0 0 0 0 72.000000 0
0 0 1 0 72.000000 0
0 0 1 0 72.000000 0
0 1 0 0 72.000000 0
0 1 1 0 72.000000 0
0 1 1 0 72.000000 0
0 1 1 0 72.000000 0
0 0 0 1 72.000000 0
0 0 1 0 72.000000 0
1 0 0 0 72.000000 0
1 0 1 0 72.000000 0
0 0 0 1 72.000000 0
0 0 0 0 72.000000 0
1 0 1 0 72.000000 0
1 0 1 0 72.000000 0
0 1 1 0 72.000000 0
1 0 1 1 72.000000 0
0 0 0 0 72.000000 0
0 0 0 0 72.000000 0
1 0 1 0 72.000000 0
0 0 1 1 72.000000 0
0 0 1 0 72.000000 0
0 0 0 0 72.000000 0
0 1 1 0 72.000000 0
0 0 1 1 72.000000 0
1 0 1 0 72.000000 0
1 0 1 1 72.000000 0
1 1 1 1 72.000000 0
1 0 0 0 72.000000 0
0 0 0 0 72.000000 0
0 1 0 0 72.000000 0
1 0 1 0 72.000000 0
0 0 1 1 72.000000 0
0 0 0 1 72.000000 0
0 0 1 0 72.000000 0
0 1 0 0 72.000000 0"""

# coxphf results for make_cox_separation_data(seed=42), as quoted in firthmodels'
# tests/test_cox.py (test_matches_coxphf_with_monotone_likelihood); log scale CIs.
COXPHF_SEPARATION = {
    "source": "R coxphf via firthmodels tests/test_cox.py (jzluo/firthmodels)",
    "terms": ["separator", "x1", "x2", "x3"],
    "coef": [3.8815800583, 0.6042066427, -0.4202139201, 1.0415063080],
    "se": [1.4430190269, 0.1599607483, 0.2541800107, 0.3128784410],
    "lr_statistic": 57.6071,
    "term_p": [7.318984974e-09, 1.686334002e-04, 9.295083722e-02, 8.463066114e-04],
    "ci_lower": [1.9343469272, 0.2921186188, -0.9217200647, 0.4348431279],
    "ci_upper": [8.7215676015, 0.9164270978, 0.0699415336, 1.6550461482],
    "tolerance_note": "coxphf stops at epsilon 1e-6 / gconv 1e-4: agreement to ~1e-6 relative",
}


def make_separation(seed: int = 42, n: int = 100) -> pl.DataFrame:
    """firthmodels' make_cox_separation_data, reproduced to regenerate the same numbers."""
    rng = np.random.default_rng(seed)
    separator = rng.choice([0, 1], n, p=[0.35, 0.65])
    x1 = rng.standard_normal(n)
    x2 = rng.uniform(-1, 1, n)
    x3 = rng.choice([0, 1], n, p=[0.6, 0.4])
    X = np.column_stack([separator, x1, x2, x3])
    eta = X @ np.array([0.0, 0.5, -0.3, 0.7])
    surv = rng.exponential(1 / (0.1 * np.exp(eta)))
    cens = rng.exponential(scale=15.0, size=n)
    time = np.minimum(surv, cens)
    event = surv <= cens
    event[separator == 0] = False
    return pl.DataFrame(
        {
            "time": time,
            "event": event.astype(int),
            "separator": separator.astype(float),
            "x1": x1,
            "x2": x2,
            "x3": x3.astype(float),
        }
    )


def make_ordinary(seed: int = 7, n: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 8, n)
    arm = rng.integers(0, 2, n).astype(float)
    lab = rng.gamma(2.0, 1.0, n)
    eta = 0.03 * (age - 60) - 0.5 * arm + 0.2 * lab
    t = rng.exponential(12 * np.exp(-eta))
    c = rng.uniform(5, 40, n)
    time = np.ceil(np.minimum(t, c))  # whole months: many tied times
    event = (t <= c).astype(int)
    return pl.DataFrame({"time": time, "event": event, "age": age, "arm": arm, "lab": lab})


def make_landmark(seed: int = 11, n: int = 120) -> pl.DataFrame:
    """Post-landmark PFS by sustained MRD negativity; no progression in the MRD-negative group."""
    rng = np.random.default_rng(seed)
    mrd_pos = (rng.random(n) < 0.4).astype(float)
    age = rng.normal(65, 7, n)
    t = rng.exponential(np.where(mrd_pos == 1, 20.0, 60.0))
    c = rng.uniform(6, 48, n)
    time = np.round(np.minimum(t, c), 1)
    event = ((t <= c) & (mrd_pos == 1)).astype(int)
    return pl.DataFrame({"time": time, "event": event, "mrd_positive": mrd_pos, "age": age})


def _fit_tight(X: np.ndarray, y: tuple) -> tuple[FirthCoxPH, float]:
    """Tightest gradient tolerance at which firthmodels' step-halving still converges."""
    for gtol in (1e-8, 1e-7, 1e-6, 1e-5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = FirthCoxPH(backend="numpy", gtol=gtol, xtol=gtol * 1e-2, max_iter=200).fit(X, y)
            m.lrt()
        if m.converged_ and np.all(np.isfinite(m.lrt_pvalues_)):
            return m, gtol
    raise RuntimeError("firthmodels did not converge")


def firthmodels_reference(df: pl.DataFrame, covs: list[str]) -> dict:
    from firthmodels.cox import _CoxPrecomputed, _Workspace, compute_cox_quantities

    X = df.select(covs).to_numpy().astype(float)
    y = (df["event"].to_numpy().astype(bool), df["time"].to_numpy().astype(float))
    m, gtol = _fit_tight(X, y)
    pre = _CoxPrecomputed.from_data(X, y[1], y[0], backend="numpy")
    ws = _Workspace(pre.n_samples, pre.n_features)
    ll0 = compute_cox_quantities(np.zeros(X.shape[1]), pre, ws).loglik
    ci = m.conf_int(method="pl", tol=1e-10, max_iter=200)
    return {
        "source": f"firthmodels FirthCoxPH (Breslow), gtol={gtol:g}, xtol={gtol * 1e-2:g}, "
        "pl tol=1e-10",
        "gtol": gtol,
        "terms": covs,
        "converged": bool(m.converged_),
        "coef": m.coef_.tolist(),
        "se": m.bse_.tolist(),
        "loglik": float(m.loglik_),
        "loglik_null": float(ll0),
        "lr_statistic": float(2.0 * (m.loglik_ - ll0)),
        "term_p": m.lrt_pvalues_.tolist(),
        "ci_lower": ci[:, 0].tolist(),
        "ci_upper": ci[:, 1].tolist(),
    }


def main() -> None:
    rows = [list(map(float, line.split())) for line in BREAST.splitlines()]
    breast = pl.DataFrame(rows, schema=["T", "N", "G", "CD", "TIME", "CENS"], orient="row")
    breast = breast.with_columns(pl.col("CENS").cast(pl.Int64))
    breast.write_csv(HERE / "breast.csv", float_precision=6)
    sets = {
        "breast": (breast.rename({"TIME": "time", "CENS": "event"}), ["T", "N", "G", "CD"]),
        "separation": (make_separation(), ["separator", "x1", "x2", "x3"]),
        "ordinary": (make_ordinary(), ["age", "arm", "lab"]),
        "landmark": (make_landmark(), ["mrd_positive", "age"]),
    }
    for name, (df, covs) in sets.items():
        if name != "breast":
            df.write_csv(HERE / f"{name}.csv")
        ref = firthmodels_reference(df, covs)
        (HERE / f"firthmodels_{name}.json").write_text(json.dumps(ref, indent=1) + "\n")
        print(name, ref["coef"], ref["ci_lower"], ref["ci_upper"])
    (HERE / "coxphf_published.json").write_text(json.dumps(COXPHF_SEPARATION, indent=1) + "\n")


if __name__ == "__main__":
    main()
