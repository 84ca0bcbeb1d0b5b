"""``mrdtrack simulate …``: calibrate, design, demo (typer sub-application ``app``).

Exit codes: 0 ok; 2 usage (every bad argument: one line, no traceback); 4 the goodness-of-fit
check rejects the model.

Commands import the simulator's modules inside the function (an optional heavy dependency in the
sense of the project's import rule): the ``mrdtrack`` command imports every sub-application at
start-up, and numba, scipy.stats and the kernels would add about two seconds to every command.
"""

from __future__ import annotations

import difflib
import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from mrdtrack import _cli_common as chk
from mrdtrack.errors import MrdtrackError

app = typer.Typer(
    name="simulate",
    help="Simulate trials: the calibrated generative model, the demo study, design sweeps.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _load(fn: Any, path: Any, option: str) -> Any:
    """Read a TOML input with ``fn``; a missing, unreadable or invalid file exits 2."""
    if isinstance(path, Path):
        chk.check_input_file(path, option, "TOML file")
    try:
        return fn(path)
    except tomllib.TOMLDecodeError as exc:
        chk.usage(f"{option}: not valid TOML ({exc})")
    except (MrdtrackError, OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        chk.usage(f"{option}: {msg}")


ParamsOpt = Annotated[
    Path | None, typer.Option("--params", help="Parameter TOML (default: the founding study's).")
]


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write csv/ and adam/ into.")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (default: the shipped study's).")
    ] = None,
    params: ParamsOpt = None,
    adam: Annotated[bool, typer.Option(help="Also write ADaM .xpt files.")] = True,
) -> None:
    """Build the demo study (108 simulated patients, selected on the published counts only)."""
    from mrdtrack.simulate.demo import DEMO_SEED, write_demo
    from mrdtrack.simulate.params import load_params

    chk.check_out_dir(out, "--out")
    chk.check_int(seed, "--seed", 0)
    # None: the demo's frozen parameters (DEMO_PARAMS, the BSL calibration 2-bsl)
    p = None if params is None else _load(load_params, params, "--params")
    d = write_demo(out, DEMO_SEED if seed is None else seed, p, adam=adam)
    typer.echo(d.summary())


TargetsOpt = Annotated[
    str | None,
    typer.Option(
        "--targets",
        help="Targets TOML (schema /2), or a shipped name: founding_study, "
        "uams_loss_of_negativity, myeloma_xi (default: founding_study).",
    ),
]


def _targets(targets: str | None):
    """Load targets (a file or a shipped name); any problem exits 2 with one line."""
    from mrdtrack.simulate.targets import SHIPPED, load_study_targets

    if targets is not None and targets not in SHIPPED:
        if not Path(targets).exists():
            near = difflib.get_close_matches(targets, SHIPPED, n=1, cutoff=0.6)
            hint = f" (did you mean the shipped {near[0]!r}?)" if near else ""
            chk.usage(f"--targets: TOML file not found: {Path(targets).name}{hint}")
        chk.check_input_file(Path(targets), "--targets", "TOML file")
    return _load(load_study_targets, targets, "--targets")


def _fail_usage(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; a problem with the user's inputs (`MrdtrackError`) exits 2 with one line."""
    try:
        return fn(*args, **kwargs)
    except MrdtrackError as exc:
        chk.usage(str(exc).splitlines()[0])


@app.command()
def calibrate(
    targets: TargetsOpt = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="Parameter TOML (default: the file the targets name)."),
    ] = None,
    fit: Annotated[
        bool, typer.Option("--fit", help="Infer the free parameters (synthetic likelihood).")
    ] = False,
    free: Annotated[
        str | None,
        typer.Option("--free", help="Comma-separated free parameters (default: the targets')."),
    ] = None,
    tie: Annotated[
        list[str] | None,
        typer.Option(
            "--tie",
            help="Free parameters constrained to one value, a=b[=c…] (repeatable): fit the "
            "best model of a constrained family, e.g. progression unrelated to MRD.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fit.")] = 20210601,
    max_evaluations: Annotated[
        int, typer.Option("--max-evaluations", help="Budget of likelihood evaluations.")
    ] = 2400,
    n_sim: Annotated[
        int, typer.Option("--n-sim", help="Simulated trials per likelihood evaluation.")
    ] = 200,
    chains: Annotated[int, typer.Option("--chains", help="Metropolis chains.")] = 2,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Local Dask worker processes for the fit's simulations (0 = serial; the "
            "result is the same).",
        ),
    ] = 0,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler tcp://HOST:PORT for the fit."),
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Posterior draws kept.")] = 1000,
    replicates: Annotated[
        int, typer.Option("--replicates", "-n", help="Simulated trials of the check.")
    ] = 2000,
    check_seed: Annotated[int, typer.Option("--check-seed", help="Seed of the check.")] = 7,
    write_params: Annotated[
        Path | None,
        typer.Option("--write-params", help="Save the posterior-median parameters (TOML)."),
    ] = None,
    write_posterior: Annotated[
        Path | None,
        typer.Option("--write-posterior", help="Save the posterior draws (CSV, natural scale)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the check table as JSON.")] = False,
) -> None:
    """Calibrate to a study's figures (--fit) and check the model: every published figure
    against its predictive distribution and the global Mahalanobis test (exit 4: rejected)."""
    from mrdtrack.simulate.calibrate import default_params_for
    from mrdtrack.simulate.figures import check_design
    from mrdtrack.simulate.gof import goodness_of_fit
    from mrdtrack.simulate.params import load_params

    for value, option, low in (
        (replicates, "--replicates", 20),
        (seed, "--seed", 0),
        (check_seed, "--check-seed", 0),
        (max_evaluations, "--max-evaluations", 1),
        (n_sim, "--n-sim", 10),
        (chains, "--chains", 1),
        (draws, "--draws", 1),
        (workers, "--workers", 0),
    ):
        chk.check_int(value, option, low)
    chk.check_out_file(write_params, "--write-params")
    chk.check_out_file(write_posterior, "--write-posterior")
    if (write_params or write_posterior or free or tie or workers or scheduler) and not fit:
        chk.usage(
            "--free, --tie, --workers, --scheduler, --write-params, --write-posterior need --fit"
        )
    t = _targets(targets)
    p = _load(load_params, params, "--params") if params else _fail_usage(default_params_for, t)
    _fail_usage(check_design, p, t)
    model: Any = p
    if fit:
        opts = dict(n_sim=n_sim, n_chains=chains, max_evaluations=max_evaluations, n_draws=draws)
        post = _fit(p, t, free, tie, seed, workers, scheduler, opts)
        typer.echo(post.summary())
        if write_params:
            Path(write_params).write_text(post.median_params().to_toml(), encoding="utf-8")
        if write_posterior:
            Path(write_posterior).write_text(post.to_csv(), encoding="utf-8")
        model = post.params_draws(min(draws, 200), seed=seed)
    rep = goodness_of_fit(t, model, n_replicates=replicates, seed=check_seed)
    if as_json:
        typer.echo(json.dumps(rep.table().to_dicts(), indent=1))
    else:
        typer.echo(rep.summary())
    if rep.rejected:
        raise typer.Exit(chk.EXIT_ESTIMATION)


def _fit(p, t, free, tie, seed, workers, scheduler, opts) -> Any:
    """The BSL fit of ``calibrate --fit``; bad names or settings exit 2, an unreachable
    scheduler too."""
    from mrdtrack.simulate.inference import calibrate as infer

    names = None if free is None else tuple(x.strip() for x in free.split(",") if x.strip())
    groups = [tuple(x.strip() for x in g.split("=")) for g in tie or ()]
    client = None
    if scheduler is not None and not scheduler.startswith("tcp://"):
        chk.usage(f"--scheduler must be tcp://HOST:PORT, got {scheduler!r}")
    if scheduler is not None:
        # optional heavy dependency (the `distributed` extra), imported only when asked for
        from distributed import Client

        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            chk.usage(f"--scheduler: cannot connect to {scheduler} ({type(exc).__name__})")
    progress = (lambda m: typer.echo(m, err=True)) if sys.stderr.isatty() else None
    try:
        return _fail_usage(
            infer,
            p,
            t,
            free=names,
            tie=groups,
            seed=seed,
            workers=workers,
            client=client,
            progress=progress,
            **opts,
        )
    finally:
        if client is not None:
            client.close()


@app.command()
def design(
    scenario: Annotated[Path, typer.Option("--scenario", help="Scenario TOML (see docs).")],
    out: Annotated[Path, typer.Option("--out", help="Results folder (resumable).")],
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler: tcp://HOST:PORT of an existing cluster, or 'local'.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Local worker processes (default: all cores; 0 = serial)."),
    ] = None,
    posterior: Annotated[
        Path | None,
        typer.Option(
            "--posterior",
            help="Posterior draws (CSV of calibrate --write-posterior): also run the design at "
            "each draw and report propagated intervals.",
        ),
    ] = None,
    draws: Annotated[
        int, typer.Option("--draws", help="Posterior draws used (evenly spaced rows).")
    ] = 20,
) -> None:
    """Run a design sweep (schedule lead time, early-intervention power, landmark precision),
    at fixed parameters or also under calibration uncertainty (--posterior)."""
    import os

    from mrdtrack.simulate.design import load_scenario, run_design

    chk.check_out_dir(out, "--out")
    chk.check_int(workers, "--workers", 0)
    chk.check_int(draws, "--draws", 2)
    chk.check_input_file(posterior, "--posterior", "CSV file")
    if scheduler is not None and scheduler != "local" and not scheduler.startswith("tcp://"):
        chk.usage(f"--scheduler must be 'local' or tcp://HOST:PORT, got {scheduler!r}")
    if not scenario.exists():
        from importlib import resources

        shipped = sorted(
            p.name
            for p in resources.files("mrdtrack.data").joinpath("scenarios").iterdir()
            if p.name.endswith(".toml")
        )
        chk.usage(
            f"--scenario: scenario file not found: {scenario.name} (the shipped scenarios, "
            f"in mrdtrack/data/scenarios/: {', '.join(shipped)})"
        )
    sc = _load(load_scenario, scenario, "--scenario")
    chk.check_int(sc.replicates, f"{scenario.name}: replicates", 1)
    chk.check_int(sc.chunk_size, f"{scenario.name}: chunk_size", 1)
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    if posterior is None:
        res = run_design(
            sc, out, scheduler=scheduler, workers=n_workers, progress=sys.stderr.isatty()
        )
        typer.echo(res.summary())
        return
    from mrdtrack.simulate.design import load_posterior, run_design_uncertain

    every = _fail_usage(load_posterior, posterior, sc.params)
    picked = [every[int(i)] for i in np.linspace(0, len(every) - 1, min(draws, len(every)))]
    unc = run_design_uncertain(sc, out, picked, workers=n_workers, scheduler=scheduler)
    typer.echo(unc.summary())
