"""The embedded demo study: 108 simulated patients whose counts equal the founding study's.

Construction (deterministic given ``seed`` and the parameter file, by default `DEMO_PARAMS`;
byte-identical files):

1. **Pool.** Simulate ``pool_size`` independent patients from the calibrated generative model
   (one stream, ``[seed, 0]``). Drop patients whose MRD class would depend on a rule detail
   the IMWG text leaves open (more than one change of state, a class that changes between a
   0- and a 60-day tolerance on "one year apart", evaluable follow-up samples without a baseline
   sample); so any reasonable implementation of the IMWG rules counts the same classes.
2. **Exact counts by conditioning.** Start from the first 108 patients of the pool and swap a
   selected patient for a pool patient (stream ``[seed, 1]``) whenever the swap does not increase
   the L1 distance between the study's counts and the published ones (evaluable 100, baseline
   MRD 44/59 of 103, classes 45/8/10, 62 on maintenance, 1 death, 19 patients with a serious AE,
   48 with grade >= 3 lymphocyte and 48 with neutrophil count decreased). This is a stochastic
   search over subsets of model draws, i.e. a draw from the model conditioned on the counts
   (approximately: the search, not an exact conditional sampler, picks the subset).
3. **Continuous figures.** Swaps between patients with identical count labels (the counts stay
   exact) then move median follow-up, 5-year PFS and the 2-year landmark comparisons towards the
   published values (no PFS event after the landmark among sustained negatives; loss vs
   persistent positivity HR near 5.88).

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
from mrdtrack.simulate.summaries import km_at, km_median, landmark_groups, pfs_arrays
from mrdtrack.simulate.trials import Trials, trial_tables

DEMO_SEED = 20210601
DEMO_STUDY_ID = "MRDTRACK-DEMO"
#: The demo study was built from version 1 of the founding-study parameters, frozen in this file,
#: so recalibrating ``founding_study.toml`` never changes the shipped demo files.
DEMO_PARAMS = "founding_study_v1.toml"
LANDMARK_DAY = 730.0

#: The counts the demo study reproduces exactly (published figures; AE counts = rounded %).
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
CONTINUOUS_TARGETS = {
    "median_followup_months": 40.7,
    "pfs_5y": 0.64,
    "landmark_lost_vs_persistent_hr": 5.88,
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
    """The demo study: its tables, the pool indices chosen and the figures it reproduces."""

    trials: Trials
    frames: dict[str, pl.DataFrame]
    seed: int
    pool_size: int
    iterations: int
    counts: dict[str, int]
    continuous: dict[str, float]

    def table(self) -> pl.DataFrame:
        """Every figure of the demo study beside the published value (counts exact)."""
        rows = [
            {"figure": k, "demo": float(v), "published": float(COUNT_TARGETS[k])}
            for k, v in self.counts.items()
        ]
        rows += [
            {"figure": k, "demo": float(v), "published": CONTINUOUS_TARGETS.get(k)}
            for k, v in self.continuous.items()
        ]
        return pl.DataFrame(
            rows, schema={"figure": pl.String, "demo": pl.Float64, "published": pl.Float64}
        )

    def summary(self) -> str:
        lines = [f"demo study: seed {self.seed}, pool {self.pool_size}, {self.iterations} swaps"]
        lines += [
            f"  {k:42s} {v:>8d}  (published {COUNT_TARGETS[k]})" for k, v in self.counts.items()
        ]
        lines += [f"  {k:42s} {v:>8.4g}" for k, v in self.continuous.items()]
        return "\n".join(lines)


def continuous_figures(tr: Trials) -> dict[str, float]:
    """Median follow-up, 5-year PFS and the 2-year landmark comparisons of one trial (row 0)."""
    time, event = pfs_arrays(tr)
    ev = tr.cycles_completed >= 4
    lt, g_per, g_sus = landmark_groups(tr, time, ev, LANDMARK_DAY)
    per = landmark_tests(lt, event, g_per)[0]
    sus = landmark_tests(lt, event, g_sus)[0]
    return {
        "median_followup_months": float(km_median(time, 1 - event, ev)[0] / 30.4375),
        "pfs_5y": float(km_at(time, event, ev, 5 * 365.25)[0]),
        "landmark_lost_vs_persistent_hr": float(per[7]),
        "landmark_lost_vs_persistent_p": float(chi2.sf(per[4], 1)),
        "landmark_lost_vs_sustained_p": float(chi2.sf(sus[4], 1)),
        "landmark_n_lost": float(per[1]),
        "landmark_n_persistent": float(per[0]),
        "landmark_n_sustained": float(sus[0]),
        "landmark_events_sustained": float(sus[2]),
        "landmark_events_lost": float(sus[3]),
    }


def _soft_loss(c: dict[str, float]) -> float:
    hr = c["landmark_lost_vs_persistent_hr"]
    loss = abs(c["median_followup_months"] - 40.7) / 1.0
    loss += abs(c["pfs_5y"] - 0.64) / 0.02
    loss += abs(np.log(hr / 5.88)) / 0.1 if np.isfinite(hr) and hr > 0 else 50.0
    loss += 20.0 * c["landmark_events_sustained"]
    loss += max(0.0, np.log10(c["landmark_lost_vs_sustained_p"] / 1e-4)) * 5.0
    loss += abs(np.log10(max(c["landmark_lost_vs_persistent_p"], 1e-12) / 0.015)) * 20.0
    return float(loss)


def demo_params() -> SimulationParams:
    """The parameters the shipped demo study was built from (`DEMO_PARAMS`)."""
    res = resources.files("mrdtrack.data").joinpath(f"simulation/{DEMO_PARAMS}")
    return loads_params(res.read_text(encoding="utf-8"), source=DEMO_PARAMS)


def build_demo(
    seed: int = DEMO_SEED,
    params: SimulationParams | None = None,
    *,
    pool_size: int = 3000,
    max_swaps: int = 200_000,
    tune_swaps: int = 8000,
) -> DemoStudy:
    """Build the demo study (see the module docstring for the construction)."""
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
    while dist > 0 and it < max_swaps:
        it += 1
        a, b = rng.integers(n), rng.integers(rest.size)
        new = counts - lab[sel[a]] + lab[rest[b]]
        nd = np.abs(new - target).sum()
        if nd <= dist:
            sel[a], rest[b] = rest[b], sel[a]
            counts, dist = new, nd
    if dist > 0:
        raise ValueError(f"no pool subset reached the published counts after {it} swaps")
    # tune continuous figures with label-preserving swaps
    code = lab @ (1 << np.arange(lab.shape[1]))
    cur = _soft_loss(continuous_figures(_take_patients(pool, np.sort(sel))))
    for _ in range(tune_swaps):
        it += 1
        a = rng.integers(n)
        same = np.flatnonzero(code[rest] == code[sel[a]])
        if same.size == 0:
            continue
        b = same[rng.integers(same.size)]
        trial = sel.copy()
        trial[a] = rest[b]
        loss = _soft_loss(continuous_figures(_take_patients(pool, np.sort(trial))))
        if loss <= cur:
            sel[a], rest[b] = rest[b], sel[a]
            cur = loss
    chosen = _take_patients(pool, np.sort(sel))
    frames = trial_tables(chosen, 0)
    out_counts = {k: int(v) for k, v in zip(keys, lab[sel].sum(0), strict=True)}
    return DemoStudy(
        chosen, frames, int(seed), pool_size, it, out_counts, continuous_figures(chosen)
    )


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
    lines = [
        "# How this demo study was made (mrdtrack.simulate.demo; all patients are simulated).",
        f"seed = {demo.seed}",
        f"pool_size = {demo.pool_size}",
        f"swaps = {demo.iterations}",
        f'params = "{demo.trials.params.name}"',
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
