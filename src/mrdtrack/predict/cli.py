"""``mrdtrack predict``: a patient's risk now, its trajectory, the watch list, and accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mrdtrack._cli_common import exit_codes, load_study_or_exit

app = typer.Typer(
    help="Dynamic prediction of progression from MRD history (landmark supermodel).",
    pretty_exceptions_show_locals=False,
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True, context_settings={"allow_interspersed_args": True})
def predict(
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
    patient: Annotated[str | None, typer.Option(help="Patient identifier to predict for.")] = None,
    at: Annotated[str, typer.Option(help="Prediction time: days or e.g. '36m'.")] = "24m",
    window: Annotated[str, typer.Option(help="Prediction window: days or e.g. '24m'.")] = "24m",
    landmarks: Annotated[
        str, typer.Option(help="Comma-separated landmarks of the supermodel.")
    ] = "0m,6m,12m,18m,24m,30m,36m",
    covariates: Annotated[
        str, typer.Option(help="Comma-separated baseline covariates (patients table).")
    ] = "",
    mrd_features: Annotated[
        str,
        typer.Option(
            help="Comma-separated MRD history terms (mrd_positive, mrd_unknown, lost_negativity)."
        ),
    ] = "mrd_positive,mrd_unknown,lost_negativity",
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
    reporting_lag: Annotated[
        int,
        typer.Option(
            help="Days from MRD sample to result: a result is used at a landmark only once known."
        ),
    ] = 0,
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

    Exit codes: 0 ok, 2 bad option (unknown patient, time like "24x"), 3 invalid study,
    4 estimation problem (e.g. a monotone likelihood in the supermodel).
    """
    _check_args(study, mapping, at, window, landmarks, n_boot, seed, figure)
    _check_counts(eval_boot=eval_boot, reporting_lag=reporting_lag)
    cohort = load_study_or_exit(study, mapping, mrd_dataset=mrd_dataset)
    _check_patient(cohort, patient)
    feats = _split(mrd_features)
    fit_args = {
        "landmarks": _split(landmarks),
        "window": window,
        "covariates": _split(covariates),
        "mrd_features": feats,
        "interactions": feats if interactions else (),
        "lag": reporting_lag,
    }
    with exit_codes():
        _run(
            cohort,
            fit_args,
            patient,
            at,
            n_boot,
            eval_boot,
            seed,
            figure,
            watch_list,
            evaluate,
            multistate,
            as_json,
        )


def _split(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _run(
    cohort,
    fit_args,
    patient,
    at,
    n_boot,
    eval_boot,
    seed,
    figure,
    watch_list,
    evaluate,
    multistate,
    as_json,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from mrdtrack.predict import (
        cross_validate,
        fit_landmark_supermodel,
        predict_patient,
        risk_trajectory,
    )
    from mrdtrack.predict import watch_list as make_watch_list

    console = Console()
    covs = fit_args["covariates"]
    model = fit_landmark_supermodel(cohort, **fit_args)
    out: dict = {"model": model.table().to_dicts()}
    if not as_json:
        typer.echo(model.summary())
    if patient is not None:
        pred = predict_patient(
            cohort,
            model,
            patient,
            at,
            covariates=covs,
            n_boot=n_boot,
            seed=seed,
            fit_args=fit_args,
        )
        out["prediction"] = pred.table().to_dicts()[0]
        out["history"] = pred.history.to_dicts()
        if not as_json:
            typer.echo("")
            typer.echo(pred.summary())
        if figure is not None:
            from mrdtrack.predict.figures import plot_risk_trajectory

            fig, _ = plot_risk_trajectory(
                risk_trajectory(cohort, model, patient, covariates=covs), model.window
            )
            fig.savefig(figure, metadata=_figure_metadata(figure))
            if not as_json:
                console.print(f"figure written to {figure}")
    if watch_list:
        wl = make_watch_list(
            cohort, model, at, covariates=covs, n_boot=n_boot, seed=seed, fit_args=fit_args
        )
        out["watch_list"] = wl.to_dicts()
        if not as_json:
            table = Table(title=f"Watch list at {at}: patients who lost MRD negativity, by risk")
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
                    r["patient_id"],
                    str(r["day_of_loss"]),
                    str(r["known_day"]),
                    f"{r['risk']:.1%}",
                    ci,
                )
            console.print(table)
    if evaluate:
        acc = cross_validate(
            cohort,
            landmarks=fit_args["landmarks"],
            window=fit_args["window"],
            covariates=covs,
            seed=seed,
            lag=fit_args["lag"],
            n_boot=eval_boot,
        )
        out["accuracy"] = acc.table().to_dicts()
        if not as_json:
            typer.echo("")
            typer.echo(acc.summary())
    if multistate:
        from mrdtrack.multistate.mrd_model import fit_mrd_markov
        from mrdtrack.predict import compare_with_multistate

        # Point predictions need no Hessian: an intensity at the boundary (e.g. no progression
        # from MRD-, as in the founding study) is reported as a warning, not an error.
        ms_fit = fit_mrd_markov(cohort, errors="warn")
        comparison = compare_with_multistate(cohort, model, ms_fit)
        out["multistate_comparison"] = comparison.table().to_dicts()
        if not as_json:
            typer.echo("")
            typer.echo(comparison.summary())
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))


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
    from mrdtrack import _cli_common as chk

    chk.check_study(study)
    chk.check_mapping(mapping)
    chk.check_time(at, "--at")
    chk.check_time(window, "--window")
    chk.check_times(landmarks, "--landmarks")
    chk.check_int(n_boot, "--n-boot", 0)
    chk.check_int(seed, "--seed", 0)
    chk.check_out_file(figure, "--figure", (".svg", ".png", ".pdf", ".jpg", ".jpeg", ".eps"))


def _check_patient(cohort, patient: str | None) -> None:
    """An unknown --patient is a usage error found before fitting (the id is not echoed)."""
    from mrdtrack import _cli_common as chk

    if patient is not None and patient not in set(cohort.patients.get_column("patient_id")):
        chk.usage("--patient: no such patient in the study")


def _check_counts(**counts: int) -> None:
    """Counts that must not be negative (--eval-boot, --reporting-lag), checked before work."""
    from mrdtrack import _cli_common as chk

    for name, value in counts.items():
        chk.check_int(value, "--" + name.replace("_", "-"), 0)
