"""``mrdtrack predict``: a patient's risk now, its trajectory, the watch list, and accuracy.

Two models: the landmark supermodel of the MRD status history (default) and, with
``--model joint``, the joint model of the log10 MRD level and progression
(`mrdtrack.predict.joint`), scored by the same cross-validated AUC / Brier code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mrdtrack import _cli_common as chk
from mrdtrack._cli_common import exit_codes, load_study_or_exit
from mrdtrack.cohort import Cohort
from mrdtrack.errors import EstimationError
from mrdtrack.multistate.mrd_model import fit_mrd_markov
from mrdtrack.predict.crossval import cross_validate
from mrdtrack.predict.dynamic import predict_patient, risk_trajectory
from mrdtrack.predict.dynamic import watch_list as make_watch_list
from mrdtrack.predict.joint import (
    JointOptions,
    cross_validate_joint,
    fit_joint,
    joint_risk,
    level_data,
)
from mrdtrack.predict.multistate import compare_with_multistate
from mrdtrack.predict.supermodel import LandmarkSupermodel, fit_landmark_supermodel

MODELS = ("supermodel", "joint")
RANDOM_EFFECTS = ("intercept+time", "intercept")
#: Options of the supermodel path that the joint model does not use (an error with --model joint).
SUPERMODEL_ONLY = (
    "covariates",
    "mrd_features",
    "interactions",
    "figure",
    "watch_list",
    "multistate",
)
ModelOption = Annotated[
    str,
    typer.Option(
        help="supermodel (MRD status history, landmark supermodel) or joint (joint model of "
        "the log10 MRD level and progression)."
    ),
]
RandomEffectsOption = Annotated[
    str,
    typer.Option(help="--model joint: random effects of the level, intercept+time or intercept."),
]
MrdFeaturesOption = Annotated[
    str,
    typer.Option(
        help="Comma-separated MRD history terms (mrd_positive, mrd_unknown, lost_negativity)."
    ),
]
ReportingLagOption = Annotated[
    int,
    typer.Option(
        help="Days from MRD sample to result: a result is used at a landmark only once known."
    ),
]


app = typer.Typer(
    help="Dynamic prediction of progression from MRD history (landmark supermodel).",
    pretty_exceptions_show_locals=False,
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True, context_settings={"allow_interspersed_args": True})
def predict(
    ctx: typer.Context,
    study: Annotated[
        Path | None,
        typer.Argument(help="Study folder (tables or ADaM); default: the embedded demo study."),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Study map (TOML).")
    ] = None,
    mrd_dataset: Annotated[
        str | None,
        typer.Option("--mrd-dataset", help="ADaM: name of the MRD BDS dataset (default admrd)."),
    ] = None,
    model: ModelOption = "supermodel",
    random_effects: RandomEffectsOption = "intercept+time",
    patient: Annotated[str | None, typer.Option(help="Patient identifier to predict for.")] = None,
    at: Annotated[str, typer.Option(help="Prediction time: days or e.g. '36m'.")] = "24m",
    window: Annotated[str, typer.Option(help="Prediction window: days or e.g. '24m'.")] = "24m",
    landmarks: Annotated[
        str, typer.Option(help="Comma-separated landmarks of the supermodel.")
    ] = "0m,6m,12m,18m,24m,30m,36m",
    covariates: Annotated[
        str, typer.Option(help="Comma-separated baseline covariates (patients table).")
    ] = "",
    mrd_features: MrdFeaturesOption = "mrd_positive,mrd_unknown,lost_negativity",
    interactions: Annotated[
        bool,
        typer.Option(help="Landmark interactions of the MRD terms (large studies only)."),
    ] = False,
    n_boot: Annotated[
        int, typer.Option(help="Bootstrap replicates for the risk CIs (patient and watch list).")
    ] = 200,
    eval_boot: Annotated[
        int,
        typer.Option(help="Bootstrap replicates of the whole pipeline for --evaluate CIs."),
    ] = 100,
    reporting_lag: ReportingLagOption = 0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap / cross-validation.")] = 20211,
    figure: Annotated[
        Path | None, typer.Option(help="Write the patient's risk-trajectory figure here.")
    ] = None,
    watch_list: Annotated[
        bool, typer.Option("--watch-list", help="List patients who lost negativity, by risk.")
    ] = False,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Cross-validated AUC / Brier / calibration.")
    ] = False,
    multistate: Annotated[
        bool,
        typer.Option("--multistate", help="Compare with the panel Markov model's predictions."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Predict P(progression or death within WINDOW | progression-free at AT, MRD history).

    Exit codes: 0 ok, 2 bad option (unknown patient, time like "24x", an option the chosen
    model does not use), 3 invalid study, 4 estimation problem (e.g. a monotone likelihood in
    the supermodel).
    """
    _check_args(study, mapping, at, window, landmarks, n_boot, seed, figure)
    _check_counts(eval_boot=eval_boot, reporting_lag=reporting_lag)
    _check_model(ctx, model, random_effects)
    cohort = load_study_or_exit(study, mapping, mrd_dataset=mrd_dataset)
    _check_patient(cohort, patient)
    feats = _split(mrd_features)
    opts = RunOptions(
        model=model,
        fit_args={
            "landmarks": _split(landmarks),
            "window": window,
            "covariates": _split(covariates),
            "mrd_features": feats,
            "interactions": feats if interactions else (),
            "lag": reporting_lag,
        },
        joint=JointOptions(random_effects=random_effects),
        patient=patient,
        at=at,
        n_boot=n_boot,
        eval_boot=eval_boot,
        seed=seed,
        figure=figure,
        watch_list=watch_list,
        evaluate=evaluate,
        multistate=multistate,
        as_json=as_json,
    )
    with exit_codes():
        _run(cohort, opts)


@dataclass(frozen=True)
class RunOptions:
    """What `mrdtrack predict` was asked to do (checked before the study is read)."""

    model: str
    fit_args: dict[str, Any]  # the supermodel's fit arguments (landmarks, window, lag, ...)
    joint: JointOptions
    patient: str | None
    at: str
    n_boot: int
    eval_boot: int
    seed: int
    figure: Path | None
    watch_list: bool
    evaluate: bool
    multistate: bool
    as_json: bool


def _split(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _run(cohort: Cohort, opts: RunOptions) -> None:
    console = Console()
    out: dict[str, Any] = {}
    if opts.model == "joint":
        _run_joint(cohort, opts, out)
    else:
        model = fit_landmark_supermodel(cohort, **opts.fit_args)
        out["model"] = model.table().to_dicts()
        _echo(opts, model.summary())
        if opts.patient is not None:
            _patient(cohort, model, opts, out, console)
        if opts.watch_list:
            _watch_list(cohort, model, opts, out, console)
        if opts.evaluate:
            _evaluate(cohort, opts, out)
        if opts.multistate:
            _multistate(cohort, model, opts, out)
    if opts.as_json:
        typer.echo(json.dumps(out, indent=2, default=str))


def _echo(opts: RunOptions, *text: str) -> None:
    if not opts.as_json:
        for t in text:
            typer.echo(t)


def _patient(cohort, model: LandmarkSupermodel, opts: RunOptions, out, console) -> None:
    covs = opts.fit_args["covariates"]
    pred = predict_patient(
        cohort,
        model,
        opts.patient,
        opts.at,
        covariates=covs,
        n_boot=opts.n_boot,
        seed=opts.seed,
        fit_args=dict(opts.fit_args),
    )
    out["prediction"] = pred.table().to_dicts()[0]
    out["history"] = pred.history.to_dicts()
    _echo(opts, "", pred.summary())
    if opts.figure is not None:
        # matplotlib is imported only when a figure is asked for (heavy import for every CLI run)
        from mrdtrack.predict.figures import plot_risk_trajectory

        fig, _ = plot_risk_trajectory(
            risk_trajectory(cohort, model, opts.patient, covariates=covs), model.window
        )
        fig.savefig(opts.figure, metadata=_figure_metadata(opts.figure))
        if not opts.as_json:
            console.print(f"figure written to {opts.figure}")


def _watch_list(cohort, model: LandmarkSupermodel, opts: RunOptions, out, console) -> None:
    wl = make_watch_list(
        cohort,
        model,
        opts.at,
        covariates=opts.fit_args["covariates"],
        n_boot=opts.n_boot,
        seed=opts.seed,
        fit_args=dict(opts.fit_args),
    )
    out["watch_list"] = wl.to_dicts()
    if opts.as_json:
        return
    table = Table(title=f"Watch list at {opts.at}: patients who lost MRD negativity, by risk")
    for col in ("patient", "loss sampled (day)", "known (day)", "risk", "95% CI"):
        table.add_column(col)
    for r in wl.iter_rows(named=True):
        ci = (
            "degenerate model: zero-width interval"
            if r["degenerate"]
            else f"{r['lower']:.1%} to {r['upper']:.1%}"
            if r["lower"] == r["lower"]
            else "not computed (--n-boot 0)"
        )
        table.add_row(
            r["patient_id"], str(r["day_of_loss"]), str(r["known_day"]), f"{r['risk']:.1%}", ci
        )
    console.print(table)


def _evaluate(cohort, opts: RunOptions, out) -> None:
    acc = cross_validate(
        cohort,
        landmarks=opts.fit_args["landmarks"],
        window=opts.fit_args["window"],
        covariates=opts.fit_args["covariates"],
        seed=opts.seed,
        lag=opts.fit_args["lag"],
        n_boot=opts.eval_boot,
    )
    out["accuracy"] = acc.table().to_dicts()
    _echo(opts, "", acc.summary())


def _multistate(cohort, model: LandmarkSupermodel, opts: RunOptions, out) -> None:
    # Point predictions need no Hessian: an intensity at the boundary (e.g. no progression
    # from MRD-, as in the founding study) is reported as a warning, not an error.
    ms_fit = fit_mrd_markov(cohort, errors="warn")
    comparison = compare_with_multistate(cohort, model, ms_fit)
    out["multistate_comparison"] = comparison.table().to_dicts()
    _echo(opts, "", comparison.summary())


def _run_joint(cohort: Cohort, opts: RunOptions, out: dict[str, Any]) -> None:
    """``--model joint``: fit on all patients (convergence printed, never hidden), the
    patient's risk with its Monte Carlo interval, and cross-validated accuracy."""
    fit = fit_joint(level_data(cohort), opts.joint)
    out["model"] = fit.table().to_dicts()
    out["converged"] = fit.converged
    out["convergence"] = str(fit.convergence.get("message", ""))
    _echo(opts, fit.summary())
    if not fit.converged:
        _echo(
            opts,
            "The joint model did not converge: its estimates are not a maximum of the "
            "likelihood and have no standard errors"
            + (
                "; try --random-effects intercept."
                if opts.joint.random_effects != "intercept"
                else "."
            ),
        )
    if opts.patient is not None:
        _joint_patient(cohort, fit, opts, out)
    if opts.evaluate:
        cv = cross_validate_joint(
            cohort,
            landmarks=opts.fit_args["landmarks"],
            window=opts.fit_args["window"],
            options=opts.joint,
            seed=opts.seed,
            lag=opts.fit_args["lag"],
            n_boot=opts.eval_boot,
        )
        out["accuracy"] = cv.accuracy.table().to_dicts()
        out["fold_fits_converged"] = cv.n_converged
        _echo(opts, "", cv.summary())


def _joint_patient(cohort: Cohort, fit, opts: RunOptions, out: dict[str, Any]) -> None:
    if not fit.converged:
        raise EstimationError(
            "the joint model did not converge, so it gives no prediction for the patient; "
            "try --random-effects intercept"
        )
    data = level_data(cohort)
    row = [i for i, p in enumerate(data.patient_id) if str(p) == opts.patient]
    n_draws = opts.n_boot
    risk = joint_risk(
        fit,
        data.subset(row),
        opts.at,
        [opts.fit_args["window"]],
        lag=opts.fit_args["lag"],
        n_draws=n_draws,
        seed=opts.seed,
    )
    if risk.height == 0:
        chk.usage("--patient: the patient is not progression-free at --at")
    r = risk.row(0, named=True)
    out["prediction"] = r
    interval = (
        f"95% CI {r['risk_lower']:.1%} to {r['risk_upper']:.1%} (Monte Carlo, {n_draws} draws)"
        if n_draws
        else "no interval (--n-boot 0)"
    )
    _echo(
        opts,
        "",
        f"Risk of progression or death within {r['horizon'] / 30.4375:.0f} months, at month "
        f"{r['landmark'] / 30.4375:.1f}, from the MRD levels known then (joint model): "
        f"{r['risk']:.1%}; {interval}",
    )


def _figure_metadata(path: Path) -> dict:
    """No creation date in figure files, so that reruns are byte-identical."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return {}


def _check_args(study, mapping, at, window, landmarks, n_boot, seed, figure) -> None:
    """Every argument is checked before the study is read and the model fitted (exit 2)."""
    chk.check_study(study)
    chk.check_mapping(mapping)
    chk.check_time(at, "--at")
    chk.check_time(window, "--window")
    chk.check_times(landmarks, "--landmarks")
    chk.check_int(n_boot, "--n-boot", 0)
    chk.check_int(seed, "--seed", 0)
    chk.check_out_file(figure, "--figure", (".svg", ".png", ".pdf", ".jpg", ".jpeg", ".eps"))


def _check_patient(cohort: Cohort, patient: str | None) -> None:
    """An unknown --patient is a usage error found before fitting (the id is not echoed)."""
    if patient is not None and patient not in set(cohort.patients.get_column("patient_id")):
        chk.usage("--patient: no such patient in the study")


def _check_counts(**counts: int) -> None:
    """Counts that must not be negative (--eval-boot, --reporting-lag), checked before work."""
    for name, value in counts.items():
        chk.check_int(value, "--" + name.replace("_", "-"), 0)


def _check_model(ctx: typer.Context, model: str, random_effects: str) -> None:
    """--model and --random-effects valid; options the chosen model does not use are errors
    (all named at once), never silently ignored."""
    chk.check_choice(model, "--model", MODELS)
    chk.check_choice(random_effects, "--random-effects", RANDOM_EFFECTS)

    def given(name: str) -> bool:
        # by name: typer may bring its own copy of click's ParameterSource enum
        src = ctx.get_parameter_source(name)
        return getattr(src, "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")

    if model == "joint":
        unused = [name for name in SUPERMODEL_ONLY if given(name)]
    else:
        unused = ["random_effects"] if given("random_effects") else []
    if unused:
        names = ", ".join("--" + n.replace("_", "-") for n in unused)
        chk.usage(f"{names}: not used by --model {model}")
