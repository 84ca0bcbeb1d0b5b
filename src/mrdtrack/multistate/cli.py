"""``mrdtrack multistate ...``: the MRD panel Markov model from a study folder.

Reads a study (tables or CDISC ADaM via `mrdtrack.io.load_study`; the embedded demo study when
none is given), fits MRD-/MRD+/progression(/death) with `fit_mrd_markov`, writes the tidy
estimate table as CSV or Parquet by the suffix of ``--out`` and prints the summary on stderr.
Exit codes: 0 ok, 2 usage, 3 study validation failed, 4 estimation problem.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from mrdtrack import _cli_common as chk
from mrdtrack._cli_common import EXIT_ESTIMATION, EXIT_INVALID, EXIT_USAGE
from mrdtrack.errors import ConvergenceError, EstimationError, StudyValidationError
from mrdtrack.io import load_study
from mrdtrack.multistate.mrd_model import STATE_LABELS, fit_mrd_markov

app = typer.Typer(
    name="multistate",
    help="Multi-state Markov models for panel-observed MRD (the msm model).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback with locals would print patient data
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Multi-state Markov models for panel-observed MRD (the msm model)."""


@app.command()
def fit(
    study: Annotated[
        Path | None,
        typer.Argument(help="Study folder (CSV/Parquet/Excel or ADaM); default: the demo study."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Estimates: .csv or .parquet.")] = Path(
        "mrd_markov.csv"
    ),
    threshold: Annotated[float, typer.Option(help="MRD sensitivity threshold.")] = 1e-5,
    death: Annotated[
        str, typer.Option(help="as_progression (PFS event), separate or censor.")
    ] = "as_progression",
    misclassification: Annotated[
        bool, typer.Option(help="Allow MRD results to be misclassified (hidden Markov).")
    ] = False,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Study map (TOML).")
    ] = None,
    mrd_dataset: Annotated[
        str | None,
        typer.Option("--mrd-dataset", help="ADaM: name of the MRD BDS dataset (default admrd)."),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            "--drop",
            help="Transition FROM-TO fixed at 0 (repeatable), e.g. --drop 1-3 when no MRD- "
            "patient progresses.",
        ),
    ] = None,
) -> None:
    """Fit the MRD panel Markov model and write intensities (and misclassification)."""
    chk.check_study(study)
    chk.check_mapping(mapping)
    chk.check_fraction(threshold, "--threshold")
    chk.check_choice(death, "--death", ("as_progression", "separate", "censor"))
    try:
        dropped = tuple(tuple(int(v) for v in d.split("-")) for d in drop or ())
        if any(len(d) != 2 for d in dropped):
            raise ValueError
    except ValueError:
        typer.echo("--drop takes FROM-TO state numbers, e.g. --drop 1-3", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if out.suffix.lower() not in (".csv", ".parquet"):
        typer.echo(f"--out must end in .csv or .parquet, got {out.suffix!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    chk.check_out_file(out, "--out")
    extra = {} if mrd_dataset is None else {"mrd_dataset": mrd_dataset}
    try:
        cohort = load_study(study, mapping=mapping, **extra)
    except StudyValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = fit_mrd_markov(
                cohort,
                threshold=threshold,
                death=death,
                misclassification=misclassification,
                drop=dropped,
                errors="warn",
            )
    except (ConvergenceError, EstimationError) as err:
        typer.echo(f"estimation problem: {err}", err=True)
        raise typer.Exit(EXIT_ESTIMATION) from None
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    table = res.table()
    if out.suffix.lower() == ".csv":
        table.write_csv(out)
    else:
        table.write_parquet(out)
    third = {"as_progression": "progression or death", "censor": "progression"}.get(
        death, STATE_LABELS[3]
    )
    labels = {**STATE_LABELS, 3: third}
    k = res.qmatrix().shape[0]
    typer.echo(
        "States: "
        + ", ".join(f"{i} = {labels[i]}" for i in range(1, k + 1))
        + "; intensities per year (time = study day / 365.25)",
        err=True,
    )
    typer.echo(res.summary(), err=True)
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    typer.echo(f"wrote {table.height} rows to {out}", err=True)
    if not res.converged or res.covariance is None:
        raise typer.Exit(EXIT_ESTIMATION)
