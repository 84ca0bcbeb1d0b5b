"""``mrdtrack simulate …``: calibrate, design, demo (typer sub-application ``app``).

Exit codes: 0 ok; 2 usage; 4 a published figure outside its simulated 95% interval.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mrdtrack import _cli_common as chk

app = typer.Typer(
    name="simulate",
    help="Simulate trials: the calibrated generative model, the demo study, design sweeps.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _load(fn: Any, path: Any, option: str) -> Any:
    """Read a TOML input with ``fn``; a missing, unreadable or invalid file exits 2."""
    import tomllib

    from mrdtrack.errors import MrdtrackError

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
    """Build the demo study (108 patients; the founding study's counts hold exactly)."""
    from mrdtrack.simulate.demo import DEMO_SEED, write_demo
    from mrdtrack.simulate.params import load_params

    chk.check_out_dir(out, "--out")
    chk.check_int(seed, "--seed", 0)
    # None: the demo's frozen parameters
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
        chk.check_input_file(Path(targets), "--targets", "TOML file")
    return _load(load_study_targets, targets, "--targets")


@app.command()
def calibrate(
    targets: TargetsOpt = None,
    params: ParamsOpt = None,
    replicates: Annotated[
        int, typer.Option("--replicates", "-n", help="Simulated trials of the check.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the check's trials.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """Goodness-of-fit check: every published figure against the model's predictive
    distribution, and the global Mahalanobis test (exit 4 when the model is rejected)."""
    from mrdtrack.simulate.calibrate import default_params_for
    from mrdtrack.simulate.figures import check_design
    from mrdtrack.simulate.gof import goodness_of_fit
    from mrdtrack.simulate.params import load_params

    chk.check_int(replicates, "--replicates", 20)
    chk.check_int(seed, "--seed", 0)
    t = _targets(targets)
    p = (
        _load(load_params, params, "--params")
        if params
        else _load(default_params_for, t, "--targets")
    )
    _load(lambda _: check_design(p, t), t, "--targets")
    rep = goodness_of_fit(t, p, n_replicates=replicates, seed=seed)
    if as_json:
        typer.echo(json.dumps(rep.table().to_dicts(), indent=1))
    else:
        typer.echo(rep.summary())
    if rep.rejected:
        raise typer.Exit(4)


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
) -> None:
    """Run a design sweep (schedule lead time, early-intervention power, landmark precision)."""
    import os

    from mrdtrack.simulate.design import load_scenario, run_design

    chk.check_out_dir(out, "--out")
    chk.check_int(workers, "--workers", 0)
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
    res = run_design(sc, out, scheduler=scheduler, workers=n_workers, progress=sys.stderr.isatty())
    typer.echo(res.summary())
