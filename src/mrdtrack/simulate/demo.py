"""The embedded demo study: 108 simulated patients selected on the founding study's counts only.

Model. The patients are draws from the *fitted* founding-study model: the posterior medians of
the Bayesian-synthetic-likelihood calibration (version ``"2-bsl"``, `DEMO_PARAMS`, a frozen
copy of ``founding_study_calibrated.toml``). We use it rather than ``founding_study.toml``
(version 2, a point fit by simulated moments) because it is the calibration that one command
reproduces from the targets file, that the goodness-of-fit check accepts
(`mrdtrack.simulate.gof`; docs/methods/simulate.md, section 2.4), and that keeps the
parameters the figures do not inform at their prior medians instead of at boundary values
(version 2 has progression among MRD-negative patients at 5e-7/year and no MRD changes after
two years, which would make "no event among sustained negatives" hold by fiat). The copy is
frozen so that a recalibration never silently changes the shipped files.

Construction (deterministic given ``seed`` and the parameters; byte-identical files):

1. **Pool.** Simulate ``pool_size`` independent patients (reference engine, one stream
   ``[seed, 0]``). Drop patients whose MRD class would depend on a rule detail the IMWG text
   leaves open (more than one change of state, a class that changes between a 0- and a 60-day
   tolerance on "one year apart", evaluable follow-up samples without a baseline sample); so
   any reasonable implementation of the IMWG rules counts the same classes.
2. **Counts by conditioning, and nothing else.** Start from the first 108 eligible patients
   and swap a selected patient for a pool patient (stream ``[seed, 1]``) whenever the swap
   does not increase the L1 distance between the study's counts and the published ones
   (`COUNT_TARGETS`: evaluable 100, baseline MRD 44/59 of 103, classes 45/8/10, 62 on
   maintenance, 1 death, 19 patients with a serious AE, 48 with grade >= 3 lymphocyte and 48
   with neutrophil count decreased), until all hold exactly. This is a stochastic search over
   subsets of model draws, i.e. (approximately) a draw from the model conditioned on the
   counts. No continuous figure is looked at: median follow-up, PFS, the landmark hazard
   ratios and p-values are whatever the model gives (`model_figures`; `DemoStudy.table()` sets
   them beside the published values, marked ``"model"``).

The seed `DEMO_SEED` = 20210601 is the one the earlier demo used, kept before any outcome of
the new construction was seen (the count search succeeds with it). `pfs_band_check` is the
check that the demo's PFS is a plausible draw from its model: it must lie inside the model's
own pointwise 95% band at every month.

`mrdtrack simulate demo --out DIR --seed S` rebuilds the files; the shipped study is
``mrdtrack/data/demo`` (``csv/`` and ``adam/``), built with `DEMO_SEED`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import chi2

from mrdtrack.io import read_study, write_adam
from mrdtrack.simulate import _classify as C
from mrdtrack.simulate._kernels import landmark_tests
from mrdtrack.simulate.model import simulate_trials
from mrdtrack.simulate.params import SimulationParams, loads_params
from mrdtrack.simulate.summaries import (
    DAYS_PER_MONTH,
    km_at,
    km_median,
    landmark_groups,
    pfs_arrays,
)
from mrdtrack.simulate.trials import Trials, trial_tables

DEMO_SEED = 20210601
DEMO_STUDY_ID = "MRDTRACK-DEMO"
#: The fitted model the demo is drawn from (frozen copy of the shipped BSL calibration).
DEMO_PARAMS = "founding_study_v2_bsl.toml"
LANDMARK_DAY = 730.0

#: The counts the demo study is selected on (published figures; AE counts = rounded %).
COUNT_TARGETS = {
    "evaluable_pfs": 100,
    "baseline_missing": 5,
    "baseline_negative": 44,
    "baseline_positive": 59,
    "sustained_negative": 45,
    "conversion": 8,
    "loss_of_negativity": 10,
    "on_maintenance_at_cutoff": 62,
    "deaths": 1,
    "serious_ae": 19,
    "grade3plus_lymphocyte_count_decreased": 48,
    "grade3plus_neutrophil_count_decreased": 48,
}

#: Published figures the demo is NOT selected on (its values come from the model):
#: name -> (published text, value). Diamond et al., Lancet Haematol 2021 (36-month PFS: interim
#: abstract); "P < .0001" is entered as its bound.
MODEL_FIGURES_PUBLISHED = {
    "median_followup_months": ("40.7", 40.7),
    "pfs_36_months": ("77% (69-87%)", 0.77),
    "pfs_5y": ("64%", 0.64),
    "landmark_lost_vs_persistent_hr": ("5.88", 5.88),
    "landmark_lost_vs_persistent_p": ("0.015", 0.015),
    "landmark_lost_vs_sustained_hr": ("infinite", float("inf")),
    "landmark_lost_vs_sustained_p": ("< 0.0001", 1e-4),
    "landmark_events_sustained": ("0", 0.0),
}


def _take_patients(tr: Trials, idx: np.ndarray) -> Trials:
    """One replicate made of pool patients ``idx`` (row 0 of the pool)."""
    kw = {}
    for f in dataclasses.fields(tr):
        v = getattr(tr, f.name)
        if f.name == "replicates":
            kw[f.name] = v[:1]
        elif isinstance(v, np.ndarray) and v.ndim >= 2:
            kw[f.name] = v[:1, idx]
        else:
            kw[f.name] = v
    kw["params"] = tr.params.replace(trial__n_patients=int(idx.size))
    return Trials(**kw)


def _labels(tr: Trials) -> dict[str, np.ndarray]:
    """Per-patient count indicators of the pool (row 0), as int arrays."""
    neg, pos = C.call_status(tr.visit_result, tr.visit_sensitivity)
    cls = C.classify(tr.visit_day, tr.visit_result, tr.visit_sensitivity)[0]
    names = [t.term for t in tr.params.safety.terms]
    g3 = tr.ae_grade[0] >= 3
    dead = tr.death_day[0] >= 0
    base_eval = (neg | pos)[0, :, 0]
    return {
        "evaluable_pfs": tr.cycles_completed[0] >= 4,
        "baseline_missing": ~base_eval,
        "baseline_negative": neg[0, :, 0],
        "baseline_positive": pos[0, :, 0],
        "sustained_negative": cls == C.SUSTAINED_NEGATIVE,
        "conversion": cls == C.CONVERSION,
        "loss_of_negativity": cls == C.LOSS_OF_NEGATIVITY,
        "on_maintenance_at_cutoff": tr.treatment_end_day[0] < 0,
        "deaths": dead,
        "serious_ae": tr.sae[0] | dead,
        "grade3plus_lymphocyte_count_decreased": g3[:, names.index("Lymphocyte count decreased")],
        "grade3plus_neutrophil_count_decreased": g3[:, names.index("Neutrophil count decreased")],
    }


def _eligible(tr: Trials) -> np.ndarray:
    """Pool patients whose class is the same under every reasonable reading of the IMWG rules."""
    d, r, s = tr.visit_day, tr.visit_result, tr.visit_sensitivity
    same = np.ones(d.shape[1], dtype=bool)
    for until in (np.inf, LANDMARK_DAY):
        a = C.classify(d, r, s, until=until, tolerance_days=0.0)[0]
        same &= a == C.classify(d, r, s, until=until, tolerance_days=60.0)[0]
        same &= a == C.classify(d, r, s, until=until, tolerance_days=-0.25)[0]
    neg, pos = C.call_status(r, s)
    ev = (neg | pos)[0]
    orphan = ~ev[:, 0] & ev[:, 1:].any(1)
    return same & ~C.ambiguous_patterns(d, r, s)[0] & ~orphan


@dataclass(frozen=True)
class DemoStudy:
    """The demo study: its tables, the pool indices chosen, the counts it was selected on and
    the figures its model gave."""

    trials: Trials
    frames: dict[str, pl.DataFrame]
    seed: int
    pool_size: int
    iterations: int
    counts: dict[str, int]
    figures: dict[str, float]

    def table(self) -> pl.DataFrame:
        """Published vs demo, one row per figure: ``basis`` is ``"by selection"`` (a count the
        demo was selected to equal) or ``"model"`` (not selected on: what the model gave)."""
        rows = [
            {
                "figure": k,
                "published": str(COUNT_TARGETS[k]),
                "published_value": float(COUNT_TARGETS[k]),
                "demo": float(v),
                "basis": "by selection",
            }
            for k, v in self.counts.items()
        ]
        rows += [
            {
                "figure": k,
                "published": text,
                "published_value": value,
                "demo": float(self.figures[k]),
                "basis": "model",
            }
            for k, (text, value) in MODEL_FIGURES_PUBLISHED.items()
        ]
        schema = {
            "figure": pl.String,
            "published": pl.String,
            "published_value": pl.Float64,
            "demo": pl.Float64,
            "basis": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def summary(self) -> str:
        lines = [
            f"demo study (simulated; selected on counts only): seed {self.seed}, "
            f"pool {self.pool_size}, {self.iterations} swaps, params "
            f"{self.trials.params.name} version {self.trials.params.version}"
        ]
        for r in self.table().iter_rows(named=True):
            lines.append(
                f"  {r['figure']:42s} {r['demo']:>9.4g}  (published {r['published']}; {r['basis']})"
            )
        return "\n".join(lines)


def model_figures(tr: Trials) -> dict[str, float]:
    """Median follow-up, PFS at 36 and 60 months and the 2-year landmark comparisons of one
    trial (row 0), with the conventions of `mrdtrack.simulate.summaries` (R ``survival``)."""
    time, event = pfs_arrays(tr)
    ev = tr.cycles_completed >= 4
    lt, g_per, g_sus = landmark_groups(tr, time, ev, LANDMARK_DAY)
    per = landmark_tests(lt, event, g_per)[0]
    sus = landmark_tests(lt, event, g_sus)[0]
    return {
        "median_followup_months": float(km_median(time, 1 - event, ev)[0] / DAYS_PER_MONTH),
        "pfs_36_months": float(km_at(time, event, ev, 36 * DAYS_PER_MONTH)[0]),
        "pfs_5y": float(km_at(time, event, ev, 5 * 365.25)[0]),
        "landmark_lost_vs_persistent_hr": float(per[7]),
        "landmark_lost_vs_persistent_p": float(chi2.sf(per[4], 1)),
        "landmark_lost_vs_sustained_hr": float(sus[7]),
        "landmark_lost_vs_sustained_p": float(chi2.sf(sus[4], 1)),
        "landmark_n_lost": float(per[1]),
        "landmark_n_persistent": float(per[0]),
        "landmark_n_sustained": float(sus[0]),
        "landmark_events_lost": float(per[3]),
        "landmark_events_persistent": float(per[2]),
        "landmark_events_sustained": float(sus[2]),
    }


def demo_params() -> SimulationParams:
    """The parameters the shipped demo study was built from (`DEMO_PARAMS`)."""
    return loads_params(_demo_params_text(), source=DEMO_PARAMS)


def _demo_params_text() -> str:
    res = resources.files("mrdtrack.data").joinpath(f"simulation/{DEMO_PARAMS}")
    return res.read_text(encoding="utf-8")


def build_demo(
    seed: int = DEMO_SEED,
    params: SimulationParams | None = None,
    *,
    pool_size: int = 3000,
    max_iter: int = 200_000,
) -> DemoStudy:
    """Build the demo study (see the module docstring for the construction).

    ``max_iter`` bounds the count search (swaps proposed); a ValueError says when the pool
    cannot reach the published counts.
    """
    p = demo_params() if params is None else params
    n = p.trial.n_patients
    pool = simulate_trials(p.replace(trial__n_patients=pool_size), 1, seed)
    labels = _labels(pool)
    keys = list(COUNT_TARGETS)
    lab = np.stack([labels[k] for k in keys], axis=1).astype(np.int64)
    target = np.array([COUNT_TARGETS[k] for k in keys])
    elig = np.flatnonzero(_eligible(pool))
    if elig.size < 2 * n:
        raise ValueError(f"pool of {pool_size} has only {elig.size} eligible patients; enlarge it")
    sel = elig[:n].copy()
    rest = elig[n:].copy()
    counts = lab[sel].sum(0)
    dist = np.abs(counts - target).sum()
    rng = np.random.default_rng([seed, 1])
    it = 0
    while dist > 0 and it < max_iter:
        it += 1
        a, b = rng.integers(n), rng.integers(rest.size)
        new = counts - lab[sel[a]] + lab[rest[b]]
        nd = np.abs(new - target).sum()
        if nd <= dist:
            sel[a], rest[b] = rest[b], sel[a]
            counts, dist = new, nd
    if dist > 0:
        raise ValueError(f"no pool subset reached the published counts after {it} swaps")
    chosen = _take_patients(pool, np.sort(sel))
    frames = trial_tables(chosen, 0)
    out_counts = {k: int(v) for k, v in zip(keys, lab[sel].sum(0), strict=True)}
    return DemoStudy(chosen, frames, int(seed), pool_size, it, out_counts, model_figures(chosen))


@dataclass(frozen=True)
class PfsBandCheck:
    """Whether a PFS Kaplan-Meier curve lies inside its model's simulated pointwise band.

    ``grid_months`` (1, 2, ... months), ``observed`` (the curve), ``lower``/``upper`` (the band)
    are arrays over the grid; ``own_acceptance`` is the fraction of the simulated trials whose
    curve lies inside the band at every grid point (in-sample): the rate at which the check
    accepts a trial drawn from the model itself (below ``conf_level``: pointwise bands, many
    grid points).
    """

    grid_months: np.ndarray
    observed: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float
    n_replicates: int
    seed: int
    own_acceptance: float

    @property
    def inside(self) -> np.ndarray:
        return (self.observed >= self.lower - 1e-12) & (self.observed <= self.upper + 1e-12)

    @property
    def passed(self) -> bool:
        return bool(self.inside.all())

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "month": self.grid_months,
                "observed": self.observed,
                "lower": self.lower,
                "upper": self.upper,
                "inside": self.inside,
            }
        )

    def summary(self) -> str:
        out = self.grid_months[~self.inside]
        verdict = "inside" if self.passed else f"OUTSIDE at months {out.tolist()}"
        return (
            f"PFS band check ({self.conf_level:.0%} pointwise band, {self.n_replicates} simulated "
            f"trials, seed {self.seed}, months 1-{int(self.grid_months[-1])}): {verdict}; "
            f"trials from the model itself pass {self.own_acceptance:.1%} of the time"
        )


def _km_grid(time: np.ndarray, event: np.ndarray, include: np.ndarray, grid_days) -> np.ndarray:
    """Kaplan-Meier PFS of each row of ``(R, n)`` arrays at each grid day, ``(R, G)``."""
    return np.column_stack([km_at(time, event, include, float(t)) for t in grid_days])


def pfs_band_check(
    demo: DemoStudy | tuple[np.ndarray, np.ndarray],
    params: SimulationParams | None = None,
    *,
    n_replicates: int = 1000,
    seed: int = 2021,
    conf_level: float = 0.95,
) -> PfsBandCheck:
    """Check that a demo's PFS curve is a plausible draw from its model (no implausible cliff).

    Simulates ``n_replicates`` trials of the same size from ``params`` (default: the demo's own
    parameters; fast engine, same distribution as the reference engine), computes each trial's
    PFS Kaplan-Meier (evaluable patients, event = progression or death; R ``survfit``
    conventions, `mrdtrack.simulate.summaries.km_at`) at every month from 1 to the demo's last
    PFS time, and takes the pointwise ``(1 - conf_level)/2`` and ``(1 + conf_level)/2``
    quantiles (numpy "linear", R ``quantile`` type 7). The check passes when the demo's curve
    lies inside the band at every grid point. The reference is the unconditional model: the
    demo's selection on counts is not reproduced in the simulated trials.

    ``demo`` is a `DemoStudy` or ``(time_days, event)`` arrays of its PFS-evaluable patients.
    """
    if isinstance(demo, DemoStudy):
        t, e = pfs_arrays(demo.trials)
        keep = demo.trials.cycles_completed[0] >= 4
        time, event = t[0][keep], e[0][keep]
        p = demo.trials.params if params is None else params
    else:
        time, event = (np.asarray(a, dtype=float).ravel() for a in demo)
        p = demo_params() if params is None else params
    if time.size == 0 or time.size != event.size:
        raise ValueError("demo PFS: time and event must be non-empty and of equal length")
    n_months = int(np.floor(time.max() / DAYS_PER_MONTH))
    grid = np.arange(1, n_months + 1)
    days = grid * DAYS_PER_MONTH
    obs = _km_grid(
        time[None, :], event[None, :].astype(np.int64), np.ones((1, time.size), bool), days
    )[0]
    sim = simulate_trials(p, n_replicates, seed, engine="fast")
    st, se = pfs_arrays(sim)
    curves = _km_grid(st, se, sim.cycles_completed >= 4, days)
    a = (1.0 - conf_level) / 2.0
    lower, upper = np.quantile(curves, [a, 1.0 - a], axis=0)
    own = ((curves >= lower - 1e-12) & (curves <= upper + 1e-12)).all(1).mean()
    return PfsBandCheck(grid, obs, lower, upper, conf_level, n_replicates, seed, float(own))


def write_demo(
    out: str | Path,
    seed: int = DEMO_SEED,
    params: SimulationParams | None = None,
    *,
    adam: bool = True,
) -> DemoStudy:
    """Build the demo study and write ``out/csv/*.csv`` (and ``out/adam/*.xpt`` if possible)."""
    demo = build_demo(seed, params)
    out = Path(out)
    csv_dir = out / "csv"
    csv_dir.mkdir(parents=True, exist_ok=True)
    for name, df in demo.frames.items():
        df.write_csv(csv_dir / f"{name}.csv", line_terminator="\n")
    # the study map read by `read_study`: names the study like its ADaM twin
    (csv_dir / "study.toml").write_text(f'[study]\nname = "{DEMO_STUDY_ID}"\n', encoding="utf-8")
    files = sorted(csv_dir.glob("*.csv"))
    prm = demo_params() if params is None else params
    lines = [
        "# How this demo study was made (mrdtrack.simulate.demo; all patients are simulated and",
        "# selected on published counts only: hazard ratios, p-values, PFS come from the model).",
        f"seed = {demo.seed}",
        f"pool_size = {demo.pool_size}",
        f"swaps = {demo.iterations}",
        'selection = "counts only"',
        f'params = "{prm.name}"',
        f'params_version = "{prm.version}"',
        f'params_file = "{DEMO_PARAMS if params is None else "(given)"}"',
        f'params_sha256 = "{hashlib.sha256(prm.to_toml().encode()).hexdigest()}"',
        "",
        "[sha256]",
    ]
    lines += [f'"csv/{f.name}" = "{hashlib.sha256(f.read_bytes()).hexdigest()}"' for f in files]
    lines += ["", "[counts]"] + [f"{k} = {v}" for k, v in demo.counts.items()]
    (out / "provenance.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if adam:
        write_demo_adam(demo, out / "adam", csv_dir)
    return demo


def write_demo_adam(demo: DemoStudy, out: Path, csv_dir: Path) -> None:
    """Write the ADaM ``.xpt`` version with `mrdtrack.io.write_adam`, from the CSV folder read
    back by `mrdtrack.io.read_study` (so the files pass the real reader first).

    Calendar dates are synthetic: day 0 of each patient is the first enrolment date of the
    founding study (1 September 2015) plus the simulated enrolment day.
    """
    cohort = read_study(csv_dir)
    order = np.argsort(demo.trials.enrol_day[0], kind="stable")
    first = _dt.date(2015, 9, 1)
    ids = demo.frames["patients"].get_column("patient_id").to_list()
    origins = {
        pid: first + _dt.timedelta(days=int(d))
        for pid, d in zip(ids, demo.trials.enrol_day[0][order], strict=True)
    }
    out.mkdir(parents=True, exist_ok=True)
    # a fixed header stamp, so that a rebuild is byte-identical
    write_adam(
        cohort,
        out,
        origin_dates=origins,
        study_id=DEMO_STUDY_ID,
        timestamp=_dt.datetime(2021, 6, 1),
    )
