"""``mrdtrack simulate …``: calibrate, design, demo (typer sub-application ``app``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(
    name="simulate",
    help="Simulate trials: the calibrated generative model, the demo study, design sweeps.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command()
def demo(
    out: Path = typer.Option(..., "--out", help="Folder to write csv/ (and adam/) into."),
    seed: int = typer.Option(None, "--seed", help="Seed (default: the shipped study's)."),
    params: Path = typer.Option(None, "--params", help="Parameter TOML (default: founding study)."),
    adam: bool = typer.Option(True, help="Also write ADaM .xpt files when the writer exists."),
) -> None:
    """Build the demo study (108 patients; the founding study's counts hold exactly)."""
    from mrdtrack.simulate.demo import DEMO_SEED, write_demo
    from mrdtrack.simulate.params import load_params

    d = write_demo(out, DEMO_SEED if seed is None else seed, load_params(params), adam=adam)
    typer.echo(d.summary())


@app.command()
def calibrate(
    targets: Path = typer.Option(None, "--targets", help="Targets TOML (default: founding study)."),
    params: Path = typer.Option(None, "--params", help="Starting parameters TOML."),
    replicates: int = typer.Option(1000, "--replicates", "-n", help="Replicate trials (>= 1000)."),
    seed: int = typer.Option(1, "--seed"),
    fit: bool = typer.Option(False, "--fit", help="Re-estimate the rates first (simulated moments)."),
    fit_replicates: int = typer.Option(200, "--fit-replicates"),
    write_params: Path = typer.Option(None, "--write-params", help="Save fitted parameters here."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Print the calibration table: every published figure against its simulated distribution."""
    from mrdtrack.simulate.calibrate import (
        calibrate as fit_moments,
    )
    from mrdtrack.simulate.calibrate import (
        calibration_report,
        default_params_for,
        load_targets,
    )
    from mrdtrack.simulate.params import load_params

    t = load_targets(targets)
    p = load_params(params) if params else default_params_for(t)
    if fit:
        res = fit_moments(p, t, n_replicates=fit_replicates)
        typer.echo(res.summary(), err=True)
        p = res.params
        if write_params:
            Path(write_params).write_text(p.to_toml(), encoding="utf-8")
    rep = calibration_report(p, t, n_replicates=replicates, seed=seed)
    if as_json:
        typer.echo(json.dumps(rep.table().to_dicts(), indent=1))
    else:
        typer.echo(rep.summary())
    if not rep.all_inside:
        raise typer.Exit(4)


@app.command()
def design(
    scenario: Path = typer.Option(..., "--scenario", help="Scenario TOML (see docs)."),
    out: Path = typer.Option(..., "--out", help="Results folder (resumable)."),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address tcp://HOST:PORT (default: local)."
    ),
    workers: int = typer.Option(0, "--workers", help="Local worker processes (0 = serial)."),
) -> None:
    """Run a design sweep (schedule lead time, early-intervention power, landmark precision)."""
    from mrdtrack.simulate.design import load_scenario, run_design

    sc = load_scenario(scenario)
    res = run_design(sc, out, scheduler=scheduler, workers=workers, progress=sys.stderr.isatty())
    typer.echo(res.summary())
