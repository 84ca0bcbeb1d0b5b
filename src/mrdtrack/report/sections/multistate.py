"""Multi-state model of MRD dynamics, and whether it fits.

A continuous-time Markov model for panel data (R ``msm``) with states MRD−, MRD+ and
progression/death (exact time), fitted by `mrdtrack.multistate.fit_panel_markov` to the data of
`mrdtrack.multistate.mrd_markov_data`.  Checks shown: the Pearson-type goodness-of-fit test
(Aguirre-Hernandez & Farewell 2002; R ``pearson.msm``) with its parametric-bootstrap p-value,
observed against expected prevalence with simulation limits (R ``prevalence.msm``), and a
likelihood-ratio test of intensities changing at one year against constant intensities (R
``lrtest.msm`` with ``pci``); the section says which model it keeps and why.  Expected time to
progression from each MRD state: R ``efpt.msm``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import polars as pl

from mrdtrack.errors import ConvergenceError, EstimationError
from mrdtrack.multistate import (
    first_passage_time,
    fit_panel_markov,
    mrd_markov_data,
    pearson_test,
    time_homogeneity_test,
)
from mrdtrack.multistate.prevalence import prevalence_over_time
from mrdtrack.report import figures
from mrdtrack.report.fmt import estimate_ci, p_value
from mrdtrack.report.sections import disposition
from mrdtrack.report.sections._base import (
    Context,
    Figure,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)

_FLAT = re.compile(r"log q (\d+)->(\d+)")
CUT_YEARS = 1.0  # the first MRD assessment after baseline: where a change is plausible
N_BOOT = 100  # Pearson parametric bootstrap refits
LEVEL = 0.05


def _p(p: float) -> str:
    """``p = 0.012`` or ``p < 0.0001``."""
    txt = p_value(p)
    return f"p {txt[0]} {txt[1:]}" if txt.startswith("<") else f"p = {txt}"


def _fit(ctx: Context, res: SectionResult):
    md = mrd_markov_data(ctx.cohort, threshold=ctx.config.mrd_threshold, death="as_progression")
    evaluable = disposition.evaluable_ids(ctx).implode()
    panel = md.data.filter(pl.col("patient_id").is_in(evaluable))
    if panel["patient_id"].n_unique() < 10:
        raise SectionSkipped("fewer than 10 evaluable patients for the multi-state model")
    qmatrix = np.array(md.qmatrix, dtype=float)
    kw = dict(
        subject="patient_id",
        time="years",
        state="state",
        exact_death_states=md.exact_death_states,
        censored_states=md.censored_states,
        conf_level=ctx.config.conf_level,
    )
    dropped: list[str] = []
    for _ in range(qmatrix.size):
        try:
            return md, panel, fit_panel_markov(panel, qmatrix=qmatrix, **kw), dropped, kw
        except (EstimationError, ConvergenceError) as e:
            # A transition never observed (e.g. no progression from MRD−) has a flat
            # likelihood: drop it, say so, refit; any other failure is reported as such.
            flat = _FLAT.findall(str(e))
            if not flat:
                raise SectionSkipped(f"multi-state model not estimable from these data: {e}") from e
            for a, b in flat:
                qmatrix[int(a) - 1, int(b) - 1] = 0.0
                dropped.append(f"{a}->{b}")
    raise SectionSkipped("multi-state model not estimable from these data")  # pragma: no cover


def compute(ctx: Context, res: SectionResult) -> None:
    md, panel, fit, dropped, kw = _fit(ctx, res)
    seed = ctx.config.seed
    labels = {int(k): str(v) for k, v in md.state_labels.items()}
    labels = {k: v for k, v in labels.items() if k <= fit.n_states}
    absorbing = max(labels)

    def named(frame: pl.DataFrame, col: str, alias: str) -> pl.DataFrame:
        return frame.with_columns(
            pl.col(col).replace_strict(labels, return_dtype=pl.String).alias(alias)
        )

    q = named(named(fit.intensities(), "from", "from_label"), "to", "to_label")
    soj = named(fit.sojourn(), "state", "label")
    p = fit.pmatrix(1.0, ci="delta").table()
    prog = named(
        p.filter((pl.col("to") == absorbing) & (pl.col("from") < absorbing)), "from", "label"
    )
    efpt = first_passage_time(fit, absorbing, ci="normal", n_draws=1000, seed=seed).table()
    efpt = efpt.with_columns(pl.col("from").cast(pl.Int64)).filter(pl.col("from") < absorbing)
    efpt = named(efpt, "from", "label").filter(pl.col("estimate").is_finite())
    if efpt.height == 0:
        res.notes.append(
            f"Expected time to {labels[absorbing]} not shown: no transition into it is "
            "estimable from these data."
        )
    res.values["multistate"] = {
        "states": {str(k): v for k, v in labels.items()},
        "transitions_dropped": dropped,
        "time_unit": "years",
        "subjects": int(fit.n_subjects),
        "observations": int(fit.n_observations),
        "minus2loglik": float(fit.minus2loglik),
        "converged": bool(fit.converged),
        "intensities": q.select("from", "to", "estimate", "lower", "upper").to_dicts(),
        "sojourn": soj.select("state", "estimate", "lower", "upper").to_dicts(),
        "p_absorbing_1y": prog.select("from", "estimate", "lower", "upper").to_dicts(),
        "expected_time_to_progression": efpt.select(
            "from", "estimate", "lower", "upper"
        ).to_dicts(),
    }
    for s in soj.filter(pl.col("state") == 1).to_dicts():
        res.highlights.append(
            (
                f"Mean sojourn in {s['label']} (years)",
                estimate_ci(s["estimate"], s["lower"], s["upper"], 2),
            )
        )
    for r in prog.to_dicts():
        res.highlights.append(
            (
                f"P({labels[absorbing]} within 1 year | {r['label']} now)",
                estimate_ci(r["estimate"], r.get("lower"), r.get("upper"), as_pct=True),
            )
        )
    for r in efpt.to_dicts():
        res.highlights.append(
            (
                f"Expected time to {labels[absorbing]} from {r['label']} (years)",
                estimate_ci(r["estimate"], r["lower"], r["upper"], 1),
            )
        )
    res.tables.append(
        Table.from_frame(
            "ms_sojourn",
            "Mean sojourn time in each transient state (years)",
            soj,
            {
                "label": ("State", "text"),
                "estimate": ("Mean", "f2"),
                "lower": ("Lower", "f2"),
                "upper": ("Upper", "f2"),
            },
        )
    )
    if efpt.height:
        res.tables.append(
            Table.from_frame(
                "ms_first_passage",
                f"Expected time to {labels[absorbing]} (years; first passage time, R efpt.msm; "
                'limits from 1000 parameter draws, as msm ci = "normal")',
                efpt,
                {
                    "label": ("From", "text"),
                    "estimate": ("Expected time", "f2"),
                    "lower": ("Lower", "f2"),
                    "upper": ("Upper", "f2"),
                },
            )
        )
    res.paragraphs.append(
        "Multi-state Markov model for panel data (Kalbfleisch & Lawless 1985; R msm), built "
        "by mrdtrack.multistate.mrd_markov_data: states "
        + ", ".join(labels.values())
        + f" (entered at its exact time, msm deathexact); follow-up after the last MRD visit "
        f"is a censored observation in MRD− or MRD+ (msm censor). {fit.n_subjects} patients "
        f"evaluable for PFS, {fit.n_observations} observations, −2 log-likelihood "
        f"{fit.minus2loglik:.2f}."
    )
    for d in dropped:
        a, b = (int(x) for x in d.split("->"))
        res.notes.append(
            f"Transition {labels[a]} → {labels[b]} fixed at 0 in the multi-state model: its "
            "maximum-likelihood intensity lies on the boundary (0) with a flat likelihood, i.e. "
            "the panel data are explained without direct transitions of this kind (events after "
            "such a state can pass through an unobserved intermediate state)."
        )
    checked = {}
    for name, check in (
        ("Goodness of fit", lambda: _goodness_of_fit(ctx, res, fit, labels, seed)),
        ("Time homogeneity", lambda: _homogeneity(ctx, res, panel, fit, kw, labels)),
    ):
        try:
            checked[name] = check()
        except (EstimationError, ConvergenceError, ValueError, np.linalg.LinAlgError) as e:
            res.notes.append(f"{name} of the multi-state model not assessed: {e}")
    _intensity_table(res, fit, checked.get("Time homogeneity"), labels)
    _adequacy(res)


def preferred_intensities(fit, homogeneity, labels: dict[int, str]) -> tuple[pl.DataFrame, str]:
    """Intensities of the model the likelihood-ratio test prefers, and which model that is.

    Constant intensities when they are adequate (or untested); otherwise the piecewise-constant
    model's intensities in each period (other covariates, if any, at their means), because one
    constant intensity per transition averages over periods with different rates.
    """
    if homogeneity is None or homogeneity.homogeneous_adequate:
        q = fit.intensities().with_columns(pl.lit("whole follow-up").alias("period"))
        model = "homogeneous"
    else:
        pw = homogeneity.fit_piecewise
        periods = [n for n in pw.covariate_names if n.startswith("timeperiod[")]
        base = {
            n: float(m)
            for n, m in zip(pw.covariate_names, pw.covariate_means, strict=True)
            if n not in periods
        }
        edges = [0.0, *homogeneity.cuts]
        frames = []
        for i in range(len(periods) + 1):
            covs = {**base, **{n: float(j == i - 1) for j, n in enumerate(periods)}}
            span = (
                f"before year {edges[1]:g}"
                if i == 0
                else f"from year {edges[i]:g}"
                + (f" to year {edges[i + 1]:g}" if i + 1 < len(edges) else "")
            )
            frames.append(pw.intensities(covs).with_columns(pl.lit(span).alias("period")))
        q = pl.concat(frames)
        model = "piecewise"
    q = q.with_columns(
        pl.col("from").replace_strict(labels, return_dtype=pl.String).alias("from_label"),
        pl.col("to").replace_strict(labels, return_dtype=pl.String).alias("to_label"),
    )
    return q, model


def _intensity_table(res: SectionResult, fit, homogeneity, labels) -> None:
    q, model = preferred_intensities(fit, homogeneity, labels)
    res.values["multistate"]["intensities_model"] = model
    res.values["multistate"]["preferred_intensities"] = q.select(
        "period", "from", "to", "estimate", "lower", "upper"
    ).to_dicts()
    if model == "homogeneous":
        title = "Multi-state model: transition intensities per year (delta-method CI, as msm)"
    else:
        title = (
            "Multi-state model: transition intensities per year in each period, from the "
            "piecewise-constant model preferred by the likelihood-ratio test (delta-method CI, "
            "as msm)"
        )
        res.paragraphs.append(
            "The intensities shown are those of the piecewise-constant model, one per period: "
            f"the likelihood-ratio test rejects constant intensities ({_p(homogeneity.p_value)}),"
            " so a single intensity per transition would average over periods with different "
            "rates. Sojourn times, 1-year probabilities and expected times to "
            f"{labels[max(labels)]} assume constant intensities and are averages over "
            "follow-up."
        )
    res.tables.append(
        Table.from_frame(
            "ms_intensities",
            title,
            q,
            {
                "period": ("Period", "text"),
                "from_label": ("From", "text"),
                "to_label": ("To", "text"),
                "estimate": ("Intensity", "f4"),
                "lower": ("Lower", "f4"),
                "upper": ("Upper", "f4"),
            },
        )
    )


def _goodness_of_fit(ctx, res, fit, labels, seed) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pt = pearson_test(fit, n_imputations=100, boot=True, n_boot=N_BOOT, seed=seed)
    fits = pt.p_value >= LEVEL
    res.values["multistate_pearson"] = {
        "statistic": pt.statistic,
        "df_upper": pt.df_upper,
        "p_upper": pt.p_upper,
        "df_lower": None if np.isnan(pt.df_lower) else pt.df_lower,
        "p_boot": pt.p_boot,
        "n_boot": 0 if pt.boot_statistics is None else len(pt.boot_statistics),
        "p_value": pt.p_value,
        "p_value_method": pt.p_value_method,
        "fits": bool(fits),
    }
    res.highlights.append(
        (
            "Pearson goodness-of-fit test (multi-state model)",
            f"T = {pt.statistic:.1f}; {_p(pt.p_value)}, {pt.p_value_method}",
        )
    )
    dev = pt.table().filter(pl.col("observed") + pl.col("expected") > 0)
    worst = dev.sort(pl.col("deviance_signed").abs(), descending=True).head(3)
    worst_txt = "; ".join(
        f"{r['transition']} (time group {r['time_group']}, interval group "
        f"{r['interval_group']}): observed {r['observed']:.1f}, expected {r['expected']:.1f}"
        for r in worst.to_dicts()
    )
    sentence = (
        f"Pearson-type goodness-of-fit test (Aguirre-Hernandez & Farewell 2002; R pearson.msm): "
        f"T = {pt.statistic:.2f}; the visits after a progression are unknown, so they are "
        f"imputed from the visit schedule ({pt.n_imputations or 0} imputations) and the "
        f"p-value comes from the {pt.p_value_method}: {_p(pt.p_value)} (the chi-squared bound "
        f"on {pt.df_upper:g} df gives {_p(pt.p_upper)}). "
    )
    if fits:
        sentence += (
            "The model is not rejected: observed transition counts agree with those expected."
        )
    else:
        sentence += (
            "The model does not fit these data: observed transitions between visits depart "
            "from those a time-homogeneous Markov model expects; its intensities, sojourn times "
            "and expected times to progression should be read with that in mind. Largest "
            f"departures: {worst_txt}."
        )
    res.paragraphs.append(sentence)
    res.tables.append(
        Table.from_frame(
            "ms_pearson_cells",
            "Pearson test: cells with the largest contributions (signed (O−E)²/E)",
            worst,
            {
                "transition": ("Transition", "text"),
                "time_group": ("Time group", "int"),
                "interval_group": ("Interval group", "int"),
                "observed": ("Observed", "f1"),
                "expected": ("Expected", "f1"),
                "deviance_signed": ("Signed (O−E)²/E", "f2"),
            },
        )
    )
    # msm counts a patient as observed only between first and last visit (and after entering
    # an absorbing state), so once many are censored the observed % of progression is biased
    # upwards: show times while at least half of the patients are still counted
    grid = np.arange(0.0, float(fit._panel.time.max()) + 1e-9, 0.5)
    counted = fit.prevalence(grid).group_by("time").agg(pl.col("observed").sum()).sort("time")
    n0 = float(counted["observed"].max())
    ok = counted.filter(pl.col("observed") >= 0.5 * n0)["time"].to_numpy()
    times = grid[grid <= (ok.max() if len(ok) else 0.0)]
    prev = prevalence_over_time(
        fit, times, ci="normal", n_draws=200, seed=seed, state_labels=labels
    )
    out = prev.outside_limits().filter(pl.col("time") > 0)
    res.values["multistate_prevalence"] = {
        "times": times.tolist(),
        "max_abs_difference_pct": prev.max_abs_difference(),
        "points_outside_limits": out.height,
    }
    with figures.style():
        fig = prev.plot()
    figures.save(fig, ctx.figures_dir, "ms_prevalence")
    res.figures.append(
        Figure(
            "ms_prevalence",
            "Observed (points) and expected (line; shaded: "
            f"{round(100 * ctx.config.conf_level)}% limits from 200 parameter draws, R "
            "prevalence.msm) percentage of patients in each state over time.",
            "Observed against expected prevalence of MRD negative, MRD positive and "
            "progression over time.",
        )
    )
    res.paragraphs.append(
        f"Observed and expected prevalence differ by at most {prev.max_abs_difference():.1f} "
        f"percentage points; {out.height} of {prev.frame.filter(pl.col('time') > 0).height} "
        "observed percentages (after baseline) lie outside the limits of the expected ones. "
        f"Times shown while at least half of the {int(n0)} patients are still observed (as in "
        "msm, a patient counts between first and last visit and after progression, so later "
        "observed percentages over-represent progression)."
    )


def _homogeneity(ctx, res, panel, fit, kw, labels) -> None:
    qm = np.where(fit.qmatrix() > 0, fit.qmatrix(), 0.0)
    np.fill_diagonal(qm, 0.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = time_homogeneity_test(
                panel, cuts=[CUT_YEARS], qmatrix=qm, alpha=LEVEL, errors="warn", **kw
            )
    except (EstimationError, ConvergenceError, ValueError) as e:
        res.values["multistate_homogeneity"] = {"status": f"not estimable: {e}"}
        res.notes.append(f"Time homogeneity not tested: {e}")
        return None
    hr = None
    if not h.homogeneous_adequate:
        hr = h.fit_piecewise.hazard_ratios()
        hr = hr.with_columns(
            pl.col("from").replace_strict(labels, return_dtype=pl.String).alias("from_label"),
            pl.col("to").replace_strict(labels, return_dtype=pl.String).alias("to_label"),
        )
    res.values["multistate_homogeneity"] = {
        "status": "ok",
        "cuts": list(h.cuts),
        "statistic": h.statistic,
        "df": h.df,
        "p_value": h.p_value,
        "aic_homogeneous": h.aic_homogeneous,
        "aic_piecewise": h.aic_piecewise,
        "preferred": h.preferred,
        "homogeneous_adequate": h.homogeneous_adequate,
    }
    res.highlights.append(
        (
            f"Constant vs changing intensities at {CUT_YEARS:g} year (LR test)",
            f"{_p(h.p_value)}; {h.preferred} model preferred",
        )
    )
    res.paragraphs.append(h.reason("years"))
    if hr is not None:
        res.tables.append(
            Table.from_frame(
                "ms_period_ratios",
                f"Piecewise-constant model: intensity ratio after vs before {CUT_YEARS:g} year "
                "(R hazard.msm)",
                hr,
                {
                    "from_label": ("From", "text"),
                    "to_label": ("To", "text"),
                    "hazard_ratio": ("Ratio", "f2"),
                    "lower": ("Lower", "f2"),
                    "upper": ("Upper", "f2"),
                },
            )
        )

    return h


def _adequacy(res: SectionResult) -> None:
    pear = res.values.get("multistate_pearson", {})
    hom = res.values.get("multistate_homogeneity", {})
    if hom.get("status") != "ok" or not pear:
        return
    adequate = bool(pear["fits"] and hom["homogeneous_adequate"])
    res.values["multistate"]["homogeneous_model_adequate"] = adequate
    why = []
    if not pear["fits"]:
        why.append(f"the Pearson test rejects it ({_p(pear['p_value'])})")
    if not hom["homogeneous_adequate"]:
        why.append(f"intensities change at {CUT_YEARS:g} year (LR test {_p(hom['p_value'])})")
    res.paragraphs.append(
        "The homogeneous Markov model is adequate for these data: neither the Pearson test nor "
        "the test of changing intensities rejects it."
        if adequate
        else "The homogeneous Markov model is not adequate for these data: " + "; ".join(why) + "."
    )


SECTION = Section(
    key="multistate",
    title="Multi-state model of MRD dynamics",
    compute=compute,
)
