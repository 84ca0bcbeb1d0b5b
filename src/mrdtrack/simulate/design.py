"""MRD-guided trial design by simulation: assessment schedule, early intervention, landmark HR.

Three studies, each a resumable sweep (`mrdtrack.simulate.sweep`) over design points, with
replicate ``i`` drawn from the stream ``[seed, i]`` at every point (common random numbers, so
differences between points are not sampling noise of different patients):

``schedule``
    For MRD assessment every 12, 6 or 3 months (window ``min(window_days, interval / 4)``,
    over the protocol's 5 years), the fraction of progressions preceded by detected
    resurgence (a positive after a negative, the IMWG "loss of MRD negativity") and the lead
    time from that detection to clinical progression. The patients (and their true MRD paths
    and progressions) are identical across schedules; only the visits change.
``early_intervention``
    Power of a trial randomising (1:1) patients at detected loss of negativity to early
    intervention or standard care, analysed by a two-sided log-rank test. The control arm's
    time from detection to progression or death is drawn from the calibrated model (a pool of
    detected losses followed for 20 years, Kaplan-Meier estimate S); the intervention arm has
    hazard ratio ``hazard_ratio`` under proportional hazards, ``S_I = S^HR``, both by
    inverse-transform sampling. Uniform accrual over ``accrual_months``, analysis
    ``followup_months`` after the last patient. Also reported: detected losses per patient
    followed in a maintenance study (how many to follow to randomise ``n``).
``landmark_precision``
    The 2-year landmark comparison of loss of negativity vs persistent positivity (Cox, Efron)
    by sample size and extra follow-up: median HR, spread (SD of log HR), mean standard error,
    fraction of trials with a monotone likelihood (infinite or zero HR), power at 5%.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import chi2

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate import _classify as C
from mrdtrack.simulate._kernels import FIELDS, landmark_tests
from mrdtrack.simulate.model import simulate_trials
from mrdtrack.simulate.params import SimulationParams, load_params
from mrdtrack.simulate.summaries import landmark_groups, pfs_arrays
from mrdtrack.simulate.sweep import run_sweep

SCENARIO_SCHEMA = "mrdtrack.simulate.scenario/1"
DAYS_PER_MONTH = 30.4375
STUDIES = ("schedule", "early_intervention", "landmark_precision")


@dataclass(frozen=True)
class Scenario:
    """A design study read from a scenario TOML (``mrdtrack.simulate.scenario/1``)."""

    study: str
    params: SimulationParams
    seed: int = 1
    replicates: int = 200
    chunk_size: int = 50
    options: dict[str, Any] | None = None


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML: ``study``, optional ``params`` (path, relative to the file),
    ``seed``, ``replicates``, ``chunk_size`` and a table named like the study."""
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    schema = data.get("schema", SCENARIO_SCHEMA)
    if schema != SCENARIO_SCHEMA:
        raise MrdtrackError(f"{path.name}: schema must be {SCENARIO_SCHEMA!r}, found {schema!r}")
    study = data.get("study")
    if study not in STUDIES:
        raise MrdtrackError(f"{path.name}: study must be one of {STUDIES}, found {study!r}")
    params = load_params((path.parent / data["params"]) if "params" in data else None)
    return Scenario(
        study=study,
        params=params,
        seed=int(data.get("seed", 1)),
        replicates=int(data.get("replicates", 200)),
        chunk_size=int(data.get("chunk_size", 50)),
        options=dict(data.get(study, {})),
    )


# ---- (a) assessment schedule ----------------------------------------------------------------


def schedule_params(params: SimulationParams, interval_months: float) -> SimulationParams:
    """Parameters with MRD assessed every ``interval_months`` over the 5-year protocol."""
    interval = interval_months * DAYS_PER_MONTH
    n_visits = math.floor(params.treatment.max_days / interval + 1e-9)
    window = int(min(params.assessment.window_days, interval // 4))
    return params.replace(
        assessment__interval_days=float(interval),
        assessment__n_followup_visits=n_visits,
        assessment__window_days=window,
        assessment__window_before_days=int(min(params.assessment.window_before_days, window)),
    )


def schedule_chunk(point: dict, seed: int, start: int, stop: int) -> pl.DataFrame:
    """Per replicate: progressions, those preceded by detected resurgence, their lead times."""
    p = schedule_params(point["params"], point["interval_months"])
    tr = simulate_trials(p, stop - start, seed, start=start, engine="fast")
    neg, pos = C.call_status(tr.visit_result, tr.visit_sensitivity)
    neg_before = np.logical_or.accumulate(neg, axis=-1)
    neg_before = np.concatenate([np.zeros_like(neg[..., :1]), neg_before[..., :-1]], -1)
    resurgence = pos & neg_before
    first = np.argmax(resurgence, axis=-1)
    detected = resurgence.any(-1)
    det_day = np.take_along_axis(tr.visit_day, first[..., None], -1)[..., 0]
    prog = tr.progression_day >= 0
    preceded = prog & detected & (det_day < tr.progression_day)
    lead = np.where(preceded, tr.progression_day - det_day, np.nan)
    return pl.DataFrame(
        {
            "replicate": tr.replicates,
            "interval_months": np.full(tr.n_replicates, float(point["interval_months"])),
            "progressions": prog.sum(1),
            "preceded": preceded.sum(1),
            "assessments": (tr.visit_result > 0).sum((1, 2)),
            "lead_days": [row[~np.isnan(row)].tolist() for row in lead],
        }
    )


def _schedule_table(res: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for (interval,), g in res.group_by(["interval_months"], maintain_order=True):
        lead = np.concatenate([np.asarray(x, float) for x in g["lead_days"]] + [np.empty(0)])
        n_prog, n_pre = int(g["progressions"].sum()), int(g["preceded"].sum())
        q = np.quantile(lead, [0.25, 0.5, 0.75]) / DAYS_PER_MONTH if lead.size else [np.nan] * 3
        rows.append(
            {
                "interval_months": float(interval),
                "trials": g.height,
                "progressions": n_prog,
                "fraction_preceded_by_detected_resurgence": n_pre / n_prog if n_prog else np.nan,
                "lead_time_median_months": float(q[1]),
                "lead_time_q1_months": float(q[0]),
                "lead_time_q3_months": float(q[2]),
                "assessments_per_patient": float(g["assessments"].sum()) / (g.height * 108.0),
            }
        )
    return pl.DataFrame(rows).sort("interval_months", descending=True)


# ---- (b) early intervention at loss of negativity ------------------------------------------


def residual_pool(
    params: SimulationParams, seed: int, n_trials: int = 300
) -> tuple[np.ndarray, np.ndarray, float]:
    """Kaplan-Meier of time (days) from detected loss of negativity to progression or death in
    the model, with 20 years of follow-up and no loss to follow-up; also detected losses per
    patient of a maintenance study with the original design."""
    long = params.replace(
        trial__cutoff_calendar_day=params.trial.enrolment_days + 7305.0,
        trial__max_followup_days=7305.0,
        followup__loss_per_year=0.0,
    )
    tr = simulate_trials(long, n_trials, seed, start=10_000_000, engine="fast")
    neg, pos = C.call_status(tr.visit_result, tr.visit_sensitivity)
    nb = np.logical_or.accumulate(neg, axis=-1)
    nb = np.concatenate([np.zeros_like(neg[..., :1]), nb[..., :-1]], -1)
    res = pos & nb
    det = res.any(-1)
    det_day = np.take_along_axis(tr.visit_day, np.argmax(res, -1)[..., None], -1)[..., 0]
    time, event = pfs_arrays(tr)
    t = (time - det_day)[det]
    e = event[det]
    order = np.lexsort((1 - e, t))
    t, e = t[order], e[order]
    at_risk = t.size - np.arange(t.size)
    surv = np.cumprod(np.where(e == 1, 1 - 1 / at_risk, 1.0))
    base = simulate_trials(params, n_trials, seed, start=10_000_000, engine="fast")
    nb0 = (
        C.classify(base.visit_day, base.visit_result, base.visit_sensitivity)
        == C.LOSS_OF_NEGATIVITY
    )
    return t, surv, float(nb0.mean())


def _inverse_km(times: np.ndarray, surv: np.ndarray, u: np.ndarray) -> np.ndarray:
    """First pool time with S(t) <= u (inf beyond the pool's last time)."""
    idx = np.searchsorted(-surv, -u, side="left")
    return np.where(idx < times.size, times[np.minimum(idx, times.size - 1)], np.inf)


def early_intervention_chunk(point: dict, seed: int, start: int, stop: int) -> pl.DataFrame:
    """Per replicate: log-rank test of a randomised trial of ``n`` patients at loss of MRD-."""
    n = int(point["n_randomised"])
    hr = float(point["hazard_ratio"])
    times, surv = np.asarray(point["pool_times"]), np.asarray(point["pool_surv"])
    a_days = point["accrual_months"] * DAYS_PER_MONTH
    f_days = point["followup_months"] * DAYS_PER_MONTH
    reps = np.arange(start, stop)
    tt = np.empty((reps.size, n))
    ee = np.empty((reps.size, n), dtype=np.int64)
    gg = np.empty((reps.size, n), dtype=np.int64)
    for r, i in enumerate(reps):
        g = np.random.default_rng([int(seed), int(i)])
        u = g.random((3, n))
        arm = (np.argsort(u[0]) < n // 2).astype(np.int64)  # 1:1 by a random permutation
        t_ctrl = _inverse_km(times, surv, u[1])
        t_int = _inverse_km(times, surv, u[1] ** (1.0 / hr))
        t_true = np.where(arm == 1, t_int, t_ctrl)
        censor = a_days + f_days - u[2] * a_days
        tt[r] = np.minimum(t_true, censor)
        ee[r] = (t_true <= censor).astype(np.int64)
        gg[r] = arm
    out = landmark_tests(tt, ee, gg)
    chisq = out[:, FIELDS.index("logrank_chisq")]
    est = out[:, FIELDS.index("hazard_ratio")]
    p = chi2.sf(chisq, 1)
    return pl.DataFrame(
        {
            "replicate": reps,
            "n_randomised": np.full(reps.size, n),
            "events": ee.sum(1),
            "hazard_ratio": est,
            "p_value": p,
            "reject": (p < point["alpha"]) & (est < 1),
        }
    )


def _early_table(res: pl.DataFrame) -> pl.DataFrame:
    return (
        res.group_by("n_randomised", maintain_order=True)
        .agg(
            pl.len().alias("trials"),
            pl.col("reject").mean().alias("power"),
            pl.col("events").mean().alias("mean_events"),
            pl.col("hazard_ratio")
            .filter(pl.col("hazard_ratio").is_finite())
            .median()
            .alias("median_hr"),
        )
        .sort("n_randomised")
    )


# ---- (c) precision of the landmark hazard ratio --------------------------------------------


def landmark_chunk(point: dict, seed: int, start: int, stop: int) -> pl.DataFrame:
    """Per replicate: landmark HR (loss vs persistent positivity), its SE, log-rank p."""
    base: SimulationParams = point["params"]
    extra = point["extra_followup_months"] * DAYS_PER_MONTH
    p = base.replace(
        trial__n_patients=int(point["n_patients"]),
        trial__cutoff_calendar_day=base.trial.cutoff_calendar_day + extra,
        trial__max_followup_days=base.trial.max_followup_days + extra,
    )
    tr = simulate_trials(p, stop - start, seed, start=start, engine="fast")
    time, event = pfs_arrays(tr)
    ev = tr.cycles_completed >= 4
    lt, g_per, _ = landmark_groups(tr, time, ev, 730.0)
    out = landmark_tests(lt, event, g_per)
    return pl.DataFrame(
        {
            "replicate": tr.replicates,
            "n_patients": np.full(tr.n_replicates, int(point["n_patients"])),
            "extra_followup_months": np.full(
                tr.n_replicates, float(point["extra_followup_months"])
            ),
            "n_lost": out[:, 1],
            "hazard_ratio": out[:, FIELDS.index("hazard_ratio")],
            "se_log_hr": out[:, FIELDS.index("se_log_hr")],
            "p_value": chi2.sf(out[:, FIELDS.index("logrank_chisq")], 1),
        }
    )


def _landmark_table(res: pl.DataFrame) -> pl.DataFrame:
    # |log HR| > 10: a monotone likelihood that Newton-Raphson stopped on (R warns "may be
    # infinite"); such trials are counted, not averaged
    finite = pl.col("hazard_ratio").is_finite() & (pl.col("hazard_ratio").log().abs() < 10)
    return (
        res.group_by(["n_patients", "extra_followup_months"], maintain_order=True)
        .agg(
            pl.len().alias("trials"),
            pl.col("n_lost").mean().alias("mean_n_lost"),
            pl.col("hazard_ratio").filter(finite).median().alias("median_hr"),
            pl.col("hazard_ratio").filter(finite).log().std().alias("sd_log_hr"),
            pl.col("se_log_hr")
            .filter(finite & pl.col("se_log_hr").is_finite())
            .mean()
            .alias("mean_se_log_hr"),
            (~finite & pl.col("hazard_ratio").is_not_nan()).mean().alias("fraction_monotone"),
            pl.col("hazard_ratio").is_nan().mean().alias("fraction_not_estimable"),
            (pl.col("p_value") < 0.05).mean().alias("power_5pct"),
        )
        .sort(["n_patients", "extra_followup_months"])
    )


# ---- running a design study -----------------------------------------------------------------

#: design-point columns of each study's table (the rest are results)
KEYS = {
    "schedule": ("interval_months",),
    "early_intervention": ("n_randomised",),
    "landmark_precision": ("n_patients", "extra_followup_months"),
}
_TABLES = {
    "schedule": lambda r: _schedule_table(r),
    "early_intervention": lambda r: _early_table(r),
    "landmark_precision": lambda r: _landmark_table(r),
}


@dataclass(frozen=True)
class DesignResult:
    """A design study's per-point table, its per-replicate results and where they are."""

    study: str
    table_: pl.DataFrame
    replicates: pl.DataFrame
    folder: Path
    computed_chunks: int
    reused_chunks: int
    notes: str = ""

    def table(self) -> pl.DataFrame:
        return self.table_

    def summary(self) -> str:
        with pl.Config(tbl_rows=50, tbl_cols=20, tbl_width_chars=160):
            text = f"design study: {self.study} ({self.folder})\n{self.table_}"
        if self.notes:
            text += "\n" + self.notes
        return text + (
            f"\nchunks computed {self.computed_chunks}, reused from disk {self.reused_chunks}"
        )


def design_points(sc: Scenario) -> tuple[Any, list[dict], str]:
    """The sweep function, its design points and a note, for a scenario."""
    o = sc.options or {}
    if sc.study == "schedule":
        pts = [
            {"params": sc.params, "interval_months": float(m)}
            for m in o.get("intervals_months", [12, 6, 3])
        ]
        return schedule_chunk, pts, ""
    if sc.study == "early_intervention":
        times, surv, per_patient = residual_pool(sc.params, sc.seed, int(o.get("pool_trials", 300)))
        common = {
            "hazard_ratio": float(o.get("hazard_ratio", 0.5)),
            "accrual_months": float(o.get("accrual_months", 24)),
            "followup_months": float(o.get("followup_months", 24)),
            "alpha": float(o.get("alpha", 0.05)),
            "pool_times": times,
            "pool_surv": surv,
        }
        pts = [{**common, "n_randomised": int(n)} for n in o.get("n_randomised", [40, 80, 120])]
        note = (
            f"detected losses of negativity per patient followed (founding design): "
            f"{per_patient:.3f}; control-arm pool: {times.size} detected losses"
        )
        return early_intervention_chunk, pts, note
    pts = [
        {"params": sc.params, "n_patients": int(n), "extra_followup_months": float(f)}
        for n in o.get("n_patients", [108, 216, 432])
        for f in o.get("extra_followup_months", [0, 12, 24])
    ]
    return landmark_chunk, pts, ""


def run_design(
    sc: Scenario,
    out: str | Path,
    *,
    workers: int = 0,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = False,
    on_chunk: Any = None,
) -> DesignResult:
    """Run (or resume) a design study; write ``table.csv`` and ``figure.svg`` into ``out``."""
    fn, pts, note = design_points(sc)
    run = run_sweep(
        fn,
        pts,
        n_replicates=sc.replicates,
        out=out,
        seed=sc.seed,
        chunk_size=sc.chunk_size,
        workers=workers,
        scheduler=scheduler,
        client=client,
        progress=progress,
        on_chunk=on_chunk,
    )
    res = run.results
    table = _TABLES[sc.study](res)
    folder = Path(out)
    table.write_csv(folder / "table.csv")
    _figure(sc.study, table, folder / "figure.svg")
    return DesignResult(sc.study, table, res, folder, run.computed, run.reused, note)


def _figure(study: str, table: pl.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "mrdtrack"
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if study == "schedule":
        x = table["interval_months"].to_numpy()
        ax.errorbar(
            x,
            table["lead_time_median_months"],
            yerr=[
                table["lead_time_median_months"] - table["lead_time_q1_months"],
                table["lead_time_q3_months"] - table["lead_time_median_months"],
            ],
            marker="o",
            capsize=3,
        )
        ax.set_xlabel("MRD assessment interval (months)")
        ax.set_ylabel("lead time to progression (months)\nmedian, IQR")
    elif study == "early_intervention":
        ax.plot(table["n_randomised"], table["power"], marker="o")
        ax.axhline(0.8, ls=":", color="grey")
        ax.set_xlabel("patients randomised at loss of MRD negativity")
        ax.set_ylabel("power (log-rank)")
        ax.set_ylim(0, 1)
    else:
        for (f,), g in table.group_by(["extra_followup_months"], maintain_order=True):
            ax.plot(g["n_patients"], g["sd_log_hr"], marker="o", label=f"+{f:g} months")
        ax.set_xlabel("patients enrolled")
        ax.set_ylabel("SD of landmark log HR")
        ax.legend(title="extra follow-up")
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


# ---- design under calibration uncertainty ---------------------------------------------------


def load_posterior(path: str | Path, base: SimulationParams) -> list[SimulationParams]:
    """Parameter sets from a posterior CSV (``mrdtrack simulate calibrate --fit
    --write-posterior``): one row per draw, columns ``section__key`` (natural scale)."""
    path = Path(path)
    try:
        df = pl.read_csv(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise MrdtrackError(f"{path.name}: not a posterior CSV ({exc})") from None
    arm_cols = [c for c in df.columns if ":" in c]
    if arm_cols:
        raise MrdtrackError(
            f"{path.name}: arm-specific parameters {arm_cols} cannot drive a single-arm design"
        )
    if df.height == 0:
        raise MrdtrackError(f"{path.name}: no draws")
    out = []
    for row in df.iter_rows(named=True):
        try:
            changes = {
                k: (round(v) if isinstance(_get(base, k), int) else float(v))
                for k, v in row.items()
            }
            out.append(base.replace(**changes))
        except (AttributeError, TypeError, ValueError):
            raise MrdtrackError(
                f"{path.name}: columns must be parameter names section__key"
            ) from None
    return out


def _get(p: SimulationParams, key: str):
    section, _, leaf = key.partition("__")
    return getattr(getattr(p, section), leaf)


@dataclass(frozen=True)
class UncertainDesign:
    """A design study at fixed parameters and propagated over the calibrated distribution.

    ``table()``: per design point and result, the fixed-parameter value with its Monte Carlo
    95% interval (bootstrap of replicates) and the propagated value (all draws pooled: each
    replicate simulated with its own parameter draw, e.g. power averaged over the posterior)
    with the 2.5% / 97.5% quantiles of the per-draw values (which include the Monte Carlo noise
    of ``replicates_per_draw`` replicates)."""

    study: str
    fixed: DesignResult
    per_draw: list[pl.DataFrame]
    table_: pl.DataFrame
    n_draws: int
    replicates_per_draw: int

    def table(self) -> pl.DataFrame:
        return self.table_

    def summary(self) -> str:
        with pl.Config(tbl_rows=80, tbl_cols=20, tbl_width_chars=200):
            return (
                f"design study {self.study}: fixed parameters ({self.fixed.replicates.height} "
                f"replicate rows) and {self.n_draws} posterior draws x "
                f"{self.replicates_per_draw} replicates\n{self.table_}"
            )


def _bootstrap(study: str, res: pl.DataFrame, n_boot: int, seed: int) -> list[pl.DataFrame]:
    """Tables of ``n_boot`` resamples of the replicates (the same replicates at every point)."""
    ids = np.unique(res["replicate"].to_numpy())
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        pick = pl.DataFrame({"replicate": rng.choice(ids, ids.size)})
        out.append(_TABLES[study](pick.join(res, on="replicate", how="inner")))
    return out


def _long(table: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    vals = [c for c in table.columns if c not in (*keys, "trials") and table[c].dtype.is_numeric()]
    return table.select(*keys, *[pl.col(c).cast(pl.Float64) for c in vals]).unpivot(
        index=list(keys), variable_name="result", value_name="value"
    )


def run_design_uncertain(
    sc: Scenario,
    out: str | Path,
    draws: list[SimulationParams],
    *,
    n_boot: int = 200,
    workers: int = 0,
    scheduler: str | None = None,
    progress: bool = False,
) -> UncertainDesign:
    """Run a design study at ``sc.params`` and at each of ``draws`` (resumable sub-folders
    ``OUT/fixed`` and ``OUT/draws/NNN``; ``sc.replicates // len(draws)`` replicates per draw,
    at least ``sc.chunk_size``); write ``OUT/table.csv``."""
    out = Path(out)
    if not draws:
        raise MrdtrackError("no posterior draws")
    keys = KEYS[sc.study]
    fixed = run_design(sc, out / "fixed", workers=workers, scheduler=scheduler, progress=progress)
    boot = pl.concat([_long(b, keys) for b in _bootstrap(sc.study, fixed.replicates, n_boot, 1)])
    r_draw = max(sc.chunk_size, sc.replicates // len(draws))
    per, pooled = [], []
    for k, p in enumerate(draws):
        sc_k = dataclasses.replace(sc, params=p, replicates=r_draw)
        res = run_design(sc_k, out / "draws" / f"{k:03d}", workers=workers, scheduler=scheduler)
        per.append(res.table())
        pooled.append(res.replicates.with_columns(pl.col("replicate") + k * r_draw))
    pooled_tab = _TABLES[sc.study](pl.concat(pooled))
    across = pl.concat([_long(t, keys) for t in per])
    q = [pl.col("value").quantile(a, "nearest").alias(n) for a, n in ((0.025, "l"), (0.975, "u"))]
    tab = (
        _long(fixed.table(), keys)
        .rename({"value": "fixed"})
        .join(
            boot.group_by(*keys, "result").agg(*q).rename({"l": "fixed_lower", "u": "fixed_upper"}),
            on=[*keys, "result"],
            how="left",
        )
        .join(
            _long(pooled_tab, keys).rename({"value": "propagated"}),
            on=[*keys, "result"],
            how="left",
        )
        .join(
            across.group_by(*keys, "result")
            .agg(*q)
            .rename({"l": "propagated_lower", "u": "propagated_upper"}),
            on=[*keys, "result"],
            how="left",
        )
    )
    tab.write_csv(out / "table.csv")
    return UncertainDesign(sc.study, fixed, per, tab, len(draws), r_draw)
