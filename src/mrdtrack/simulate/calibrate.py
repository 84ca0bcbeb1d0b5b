"""Calibration of the simulator to published summary figures, and the calibration report.

Method: the **method of simulated moments** (McFadden 1989; Gourieroux & Monfort 1996) with
common random numbers. For a vector of free parameters theta (on the log scale, or the logit
scale for probabilities) we simulate ``R`` replicate trials (fast engine) from fixed streams
``(seed, i)`` and minimise

    Q(theta) = sum_k ((c_k(theta) - y_k) / s_k)^2

where ``y_k`` are published figures and ``c_k`` the simulated centres of the same statistics:
means for counts and proportions, medians for the landmark log HR and log10 p
(`MEDIAN_MOMENTS`: a single small trial's HR is often 0 or infinite, so its mean does not
exist; the report shows medians). ``s_k`` is the between-trial spread at the starting point
(SD; IQR / 1.349 of the finite values for the median moments), so a figure that a 108-patient
trial measures imprecisely weighs less. A published "HR infinite" against sustained negativity
adds the implied moment "no PFS event among sustained negatives" (`_IMPLIED`). Minimisation:
Levenberg-Marquardt with a forward-difference Jacobian of fixed width 0.1 on the free scale
(or Nelder-Mead), deterministic given the seed.

The **calibration report** then simulates ``>= 1000`` fresh replicate trials (another seed)
and, for every published number with a simulated counterpart, shows the median and the
central 95% interval of the simulated distribution and whether the published value is inside:
numbers inside [2.5%, 97.5%]; ``"infinite"`` HR inside when at least 2.5% of trials have a
reference group without events; ``"not reached"`` median likewise; ``*_p_max`` (a published
"P < bound") inside when the 2.5% quantile is below the bound. Published figures without a
simulated counterpart (design facts) are listed as such.

Targets TOML schema (``mrdtrack.simulate.targets/1``): tables of ``key = value`` exactly as
``shared/reference/founding-study.toml`` (which is accepted as is); optional top-level
``schema``, ``name``, ``params`` (parameter file to start from) and a ``[sources]`` table;
optional ``[calibration] moments = [...]`` to choose the fitted moments.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.model import simulate_trials
from mrdtrack.simulate.params import SimulationParams, load_params
from mrdtrack.simulate.summaries import trial_summaries

TARGETS_SCHEMA = "mrdtrack.simulate.targets/1"

DEFAULT_FREE = (
    "baseline_mrd__negative_logit",
    "baseline_mrd__missing",
    "baseline_mrd__clonal_log10_mean",
    "mrd_dynamics__neg_to_pos_early",
    "mrd_dynamics__neg_to_pos_late",
    "mrd_dynamics__pos_to_neg_early",
    "mrd_dynamics__pos_to_neg_late",
    "progression__negative",
    "progression__persistent_positive",
    "progression__lost_early",
    "progression__lost_late",
    "treatment__early_discontinuation",
    "treatment__discontinuation_per_year",
    "death__rate_at_mean_age",
    "safety__serious_fraction",
)

DEFAULT_MOMENTS = (
    "cohort.evaluable_pfs",
    "cohort.baseline_mrd_assessed",
    "cohort.on_maintenance_at_cutoff",
    "mrd_baseline.negative",
    "mrd_classes_whole_followup.sustained_negative",
    "mrd_classes_whole_followup.positive_to_negative",
    "mrd_classes_whole_followup.negative_to_positive",
    "pfs.five_year",
    "interim_conference_abstract.pfs_36_months",
    "followup.median_months",
    "safety.on_study_deaths",
    "safety.serious_ae_fraction",
    "landmark_2y.lost_vs_persistent_hr",
    "landmark_2y.lost_vs_persistent_p",
)

_PROBABILITY = ("missing", "early_discontinuation", "serious_fraction")
_SIGNED = ("negative_logit", "clonal_log10_mean")


@dataclass(frozen=True)
class Targets:
    """Published figures: ``values`` maps ``"section.key"`` to a number, string or interval."""

    name: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    params: str | None = None
    moments: tuple[str, ...] = DEFAULT_MOMENTS
    path: str = ""


def load_targets(path: str | Path | None = None) -> Targets:
    """Read a targets TOML; ``None`` reads the shipped founding-study targets."""
    if path is None:
        text = (
            resources.files("mrdtrack.data")
            .joinpath("targets/founding_study.toml")
            .read_text(encoding="utf-8")
        )
        src = "founding_study.toml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        src = str(path)
    data = tomllib.loads(text)
    schema = data.pop("schema", TARGETS_SCHEMA)
    if schema != TARGETS_SCHEMA:
        raise MrdtrackError(f"{src}: schema must be {TARGETS_SCHEMA!r}, found {schema!r}")
    name = str(data.pop("name", Path(src).stem))
    params = data.pop("params", None)
    sources = {str(k): str(v) for k, v in data.pop("sources", {}).items()}
    calib = data.pop("calibration", {})
    values: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise MrdtrackError(f"{src}: top-level key {section!r} must be a [table] of figures")
        for key, value in table.items():
            values[f"{section}.{key}"] = value
    moments = tuple(calib.get("moments", [m for m in DEFAULT_MOMENTS if m in values]))
    return Targets(name, values, sources, params, moments, src)


# ---- the method of simulated moments --------------------------------------------------------


def _to_free(name: str, value: float) -> float:
    leaf = name.split("__")[1]
    if leaf in _SIGNED:
        return value
    if leaf in _PROBABILITY:
        return math.log(value / (1 - value))
    return math.log(value)


def _from_free(name: str, x: float) -> float:
    leaf = name.split("__")[1]
    if leaf in _SIGNED:
        return float(x)
    if leaf in _PROBABILITY:
        return float(1 / (1 + math.exp(-x)))
    return float(math.exp(x))


def simulate_summaries(
    params: SimulationParams,
    n_replicates: int,
    seed: int,
    *,
    chunk: int = 250,
    engine: str = "fast",
) -> dict[str, np.ndarray]:
    """`trial_summaries` of replicates ``0 .. n_replicates - 1``, simulated in chunks."""
    parts = [
        trial_summaries(
            simulate_trials(params, min(chunk, n_replicates - s), seed, start=s, engine=engine)
        )
        for s in range(0, n_replicates, chunk)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def simulated_moments(
    params: SimulationParams,
    moments: tuple[str, ...],
    n_replicates: int,
    seed: int,
    *,
    engine: str = "fast",
) -> dict[str, np.ndarray]:
    """Per-replicate values of the moment statistics, on the scale they are fitted on
    (`MEDIAN_MOMENTS` transformed: log HR, log10 p)."""
    s = simulate_summaries(params, n_replicates, seed, engine=engine)
    out = {}
    for m in moments:
        x = s[m]
        if m in MEDIAN_MOMENTS:
            with np.errstate(divide="ignore"):
                x = MEDIAN_MOMENTS[m](x)
        out[m] = x
    return out


#: Moments fitted by their simulated median on a transformed scale (a single small trial's HR is
#: often 0 or infinite: its mean does not exist, its median does, and the report shows medians).
MEDIAN_MOMENTS = {
    "landmark_2y.lost_vs_persistent_hr": np.log,
    "landmark_2y.lost_vs_persistent_p": np.log10,
}


def _centre(m: str, x: np.ndarray) -> float:
    """Simulated mean (median for `MEDIAN_MOMENTS`) of one moment, trials without it left out."""
    x = x[~np.isnan(x)]
    if x.size == 0:
        return np.nan
    return float(np.median(x)) if m in MEDIAN_MOMENTS else float(np.mean(x))


def _spread(m: str, x: np.ndarray) -> float:
    """Between-trial spread: SD, or IQR / 1.349 for `MEDIAN_MOMENTS` (infinite values occur)."""
    x = x[~np.isnan(x)]
    if x.size == 0:
        return 1.0
    if m in MEDIAN_MOMENTS:
        x = x[np.isfinite(x)]  # HR 0 or infinite (monotone likelihood) would blow up the IQR
        if x.size < 4:
            return 1.0
        q1, q3 = np.quantile(x, [0.25, 0.75])
        return max(float(q3 - q1) / 1.349, 1e-3)
    return max(float(np.std(x)), 1e-3)


#: A published "HR infinite" against sustained negativity means no PFS event among sustained
#: negatives after the landmark: fitted as the moment "events in that group = 0".
_IMPLIED = {"landmark_2y.events_sustained": ("landmark_2y.lost_vs_sustained_hr", "infinite", 0.0)}


def _fit_moments(targets: Targets) -> tuple[str, ...]:
    """The moments to fit: ``targets.moments`` with a published value, plus implied ones."""
    out = [m for m in targets.moments if m in targets.values]
    for m, (fig, value, _) in _IMPLIED.items():
        if targets.values.get(fig) == value and m not in out:
            out.append(m)
    return tuple(out)


def _target_number(targets: Targets, m: str) -> float:
    if m in _IMPLIED and m not in targets.values:
        return _IMPLIED[m][2]
    v = float(targets.values[m])
    return float(MEDIAN_MOMENTS[m](v)) if m in MEDIAN_MOMENTS else v


@dataclass(frozen=True)
class CalibrationFit:
    """Result of `calibrate`: fitted parameters, the objective and the moment table."""

    params: SimulationParams
    objective: float
    n_evaluations: int
    free: tuple[str, ...]
    start: tuple[float, ...]
    estimate: tuple[float, ...]
    moments: pl.DataFrame
    method: str = "method of simulated moments (common random numbers)"

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"parameter": self.free, "start": self.start, "estimate": self.estimate}
        )

    def summary(self) -> str:
        lines = [
            f"Calibration: {self.method}; Q = {self.objective:.4g} ({self.n_evaluations} evals)"
        ]
        lines += [f"  {a:45s} {b:10.4g} -> {c:10.4g}" for a, b, c in self.table().iter_rows()]
        return "\n".join(lines)


def calibrate(
    params: SimulationParams,
    targets: Targets,
    *,
    free: tuple[str, ...] = DEFAULT_FREE,
    n_replicates: int = 1000,
    seed: int = 20210601,
    max_evaluations: int = 400,
    method: str = "levenberg-marquardt",
) -> CalibrationFit:
    """Fit ``free`` parameters to the ``targets`` moments by the method of simulated moments."""
    from scipy.optimize import minimize

    moments = _fit_moments(targets)
    if not moments:
        raise MrdtrackError(
            "no calibration moments: the targets file has none of " + str(DEFAULT_MOMENTS)
        )
    y = np.array([_target_number(targets, m) for m in moments])
    start = np.array([_to_free(f, _get(params, f)) for f in free])
    m0 = simulated_moments(params, moments, n_replicates, seed)
    # weight = 1 / between-trial spread at the start: a figure a 108-patient trial measures
    # imprecisely weighs less
    scale = np.array([_spread(m, m0[m]) for m in moments])
    n_eval = 0

    def build(x):
        return params.replace(**{f: _from_free(f, xi) for f, xi in zip(free, x, strict=True)})

    def resid(x):
        m = simulated_moments(build(x), moments, n_replicates, seed)
        mean = np.array([_centre(k, m[k]) for k in moments])
        if not np.all(np.isfinite(mean)):
            return np.full(len(moments), 1e3)
        return (mean - y) / scale

    def q(x):
        nonlocal n_eval
        n_eval += 1
        m = simulated_moments(build(x), moments, n_replicates, seed)
        mean = np.array([_centre(k, m[k]) for k in moments])
        if not np.all(np.isfinite(mean)):
            return 1e6
        return float(np.sum(((mean - y) / scale) ** 2))

    if method == "nelder-mead":
        res = minimize(
            q,
            start,
            method="Nelder-Mead",
            options={"maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-3},
        )
        x_hat, q_hat = res.x, float(res.fun)
    else:
        x_hat, q_hat = _levenberg_marquardt(resid, start, max_evaluations)
        n_eval = _levenberg_marquardt.n_eval
    fitted = build(x_hat)
    m = simulated_moments(fitted, moments, n_replicates, seed)
    tab = pl.DataFrame(
        {
            "moment": moments,
            "published": y,
            "simulated_centre": [_centre(k, m[k]) for k in moments],
            "scale": scale,
        }
    )
    return CalibrationFit(
        params=fitted,
        objective=q_hat,
        n_evaluations=n_eval,
        free=tuple(free),
        start=tuple(_from_free(f, s) for f, s in zip(free, start, strict=True)),
        estimate=tuple(_get(fitted, f) for f in free),
        moments=tab,
    )


def _levenberg_marquardt(resid, x0, max_evaluations, h=0.1):
    """Levenberg-Marquardt on simulated residuals, Jacobian by forward differences of width
    ``h`` on the free scale (wide enough to see through the step function that common random
    numbers make of a count's mean)."""
    x = np.asarray(x0, float).copy()
    r = resid(x)
    q = float(r @ r)
    lam = 1e-2
    n_eval = 1
    while n_eval + x.size + 1 <= max_evaluations:
        jac = np.empty((r.size, x.size))
        for j in range(x.size):
            xj = x.copy()
            xj[j] += h
            jac[:, j] = (resid(xj) - r) / h
        n_eval += x.size
        jtj, jtr = jac.T @ jac, jac.T @ r
        improved = False
        while n_eval < max_evaluations and lam < 1e6:
            step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -jtr)
            step = np.clip(step, -1.0, 1.0)
            r_new = resid(x + step)
            n_eval += 1
            q_new = float(r_new @ r_new)
            if q_new < q:
                x, r, q, lam, improved = x + step, r_new, q_new, lam / 3, True
                break
            lam *= 4
        if not improved or q < 1e-3:
            break
    _levenberg_marquardt.n_eval = n_eval
    return x, q


def _get(params: SimulationParams, name: str) -> float:
    section, key = name.split("__")
    return float(getattr(getattr(params, section), key))


# ---- the calibration report -----------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationReport:
    """For every published figure: the simulated distribution over replicate trials."""

    name: str
    n_replicates: int
    seed: int
    rows: pl.DataFrame

    @property
    def all_inside(self) -> bool:
        tested = self.rows.filter(pl.col("inside").is_not_null())
        return bool(tested.get_column("inside").all())

    def table(self) -> pl.DataFrame:
        return self.rows

    def summary(self) -> str:
        lines = [
            f"Calibration report: {self.name}; {self.n_replicates} simulated trials "
            f"(seed {self.seed})",
            f"{'published figure':58s} {'published':>12s} {'sim median':>11s} "
            f"{'95% interval':>23s}  inside",
        ]
        for r in self.rows.iter_rows(named=True):
            inside = {True: "yes", False: "NO", None: "-"}[r["inside"]]
            lo, hi, med = r["lower"], r["upper"], r["median"]
            interval = "" if lo is None else f"[{_fmt(lo)}, {_fmt(hi)}]"
            lines.append(
                f"{r['figure']:58s} {r['published']:>12s} {_fmt(med):>11s} "
                f"{interval:>23s}  {inside}" + (f"  ({r['note']})" if r["note"] else "")
            )
        tested = self.rows.filter(pl.col("inside").is_not_null())
        n_in = int(tested.get_column("inside").sum())
        lines.append(
            f"{n_in} of {tested.height} published figures inside their simulated 95% interval"
        )
        return "\n".join(lines)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if abs(v) >= 1000 or (0 < abs(v) < 0.001):
        return f"{v:.3g}"
    return f"{v:.4g}"


def calibration_report(
    params: SimulationParams,
    targets: Targets,
    *,
    n_replicates: int = 1000,
    seed: int = 1,
    summaries: dict[str, np.ndarray] | None = None,
) -> CalibrationReport:
    """Simulate ``n_replicates`` trials and place each published figure in its distribution.

    Parameters
    ----------
    params : SimulationParams
        The (calibrated) model.
    targets : Targets
        Published figures (`load_targets`).
    n_replicates : int
        Simulated trials (at least 1,000 for the published report).
    seed : int
        Seed of the report's trials (use another seed than the fit's).
    summaries : dict, optional
        Precomputed `trial_summaries` (then nothing is simulated).

    Returns
    -------
    CalibrationReport
        ``.table()``: figure, published, median, lower (2.5%), upper (97.5%) — inverted-CDF
        quantiles (R ``quantile(type = 1)``) — inside, note; ``.all_inside``; ``.summary()``.
    """
    if summaries is None:
        summaries = simulate_summaries(params, n_replicates, seed)
    rows = []
    for fig, value in targets.values.items():
        row = {
            "figure": fig,
            "published": str(value),
            "median": None,
            "lower": None,
            "upper": None,
            "inside": None,
            "note": "",
        }
        if isinstance(value, list):
            row["note"] = "published interval (not tested)"
        elif value == "infinite" and f"{fig}_infinite" in summaries:
            x = summaries[f"{fig}_infinite"]
            frac = float(x.mean())
            # a yes/no outcome has no 95% interval: "inside" means the published outcome is not
            # rarer than 2.5% of simulated trials
            row.update(median=frac)
            row["inside"] = frac >= 0.025
            row["note"] = (
                "fraction of trials with no events in the reference group; inside when >= 0.025"
            )
        elif value == "not reached" and fig == "pfs.median":
            x = 1.0 - summaries["pfs.median_reached"]
            row.update(median=float(x.mean()))
            row["inside"] = float(x.mean()) >= 0.025
            row["note"] = "fraction of trials with median PFS not reached; inside when >= 0.025"
        elif isinstance(value, bool) or not isinstance(value, int | float) or fig not in summaries:
            row["note"] = "design fact (input, not simulated)"
        else:
            x = summaries[fig]
            x = x[~np.isnan(x)]
            if x.size == 0:
                row["note"] = "no simulated value"
            else:
                # infinite HRs (monotone likelihood) are ordered above every finite value
                xc = np.clip(x, -1e300, 1e300)
                lo, med, hi = (
                    float(np.inf if v >= 1e300 else v)
                    for v in np.quantile(xc, [0.025, 0.5, 0.975], method="inverted_cdf")
                )
                row.update(median=float(med), lower=float(lo), upper=float(hi))
                if fig.endswith("_p_max"):
                    row["inside"] = bool(lo <= value)
                    row["note"] = "published upper bound"
                else:
                    row["inside"] = bool(lo <= value <= hi)
                if fig.endswith("_hr"):
                    row["note"] = (
                        f"{np.isinf(x).mean():.0%} of trials infinite, {(x == 0).mean():.0%} zero"
                    )
        rows.append(row)
    schema = {
        "figure": pl.String,
        "published": pl.String,
        "median": pl.Float64,
        "lower": pl.Float64,
        "upper": pl.Float64,
        "inside": pl.Boolean,
        "note": pl.String,
    }
    return CalibrationReport(
        targets.name, int(n_replicates), int(seed), pl.DataFrame(rows, schema=schema)
    )


def default_params_for(targets: Targets) -> SimulationParams:
    """The parameter file a targets file names: beside it, in a sibling ``simulation/`` folder,
    or shipped in ``mrdtrack/data/simulation``; the founding study's when it names none."""
    if not targets.params:
        return load_params()
    if targets.path:
        here = Path(targets.path).resolve()
        for cand in (
            here.parent / targets.params,
            here.parent.parent / "simulation" / targets.params,
        ):
            if cand.is_file() and cand.resolve() != here:
                return load_params(cand)
    try:
        return load_params_resource(targets.params)
    except FileNotFoundError:
        raise MrdtrackError(
            f"{targets.path}: parameter file {targets.params!r} not found beside the targets, "
            "in ../simulation/ or among the shipped ones; pass --params"
        ) from None


def load_params_resource(name: str) -> SimulationParams:
    """A shipped parameter file by name (``mrdtrack/data/simulation/NAME``)."""
    from mrdtrack.simulate.params import loads_params

    res = resources.files("mrdtrack.data").joinpath(f"simulation/{name}")
    if not res.is_file():
        raise FileNotFoundError(name)
    return loads_params(res.read_text(encoding="utf-8"), source=name)
