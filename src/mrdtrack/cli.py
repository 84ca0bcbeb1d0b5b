"""The ``mrdtrack`` command: ``validate`` and ``export`` here; ``mrd``, ``multistate``,
``simulate``, ``predict``, ``report`` from their packages.

Exit codes (`mrdtrack._cli_common`): 0 ok, 2 usage, 3 validation failed (with the error table),
4 estimation problem. Output never shows patient identifiers, dates or cell values; problems
cite file/row/column.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from mrdtrack import __version__
from mrdtrack._cli_common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    check_int,
    check_mapping,
    check_out_dir,
    check_study,
)
from mrdtrack.cohort import Cohort
from mrdtrack.errors import Problem, StudyValidationError
from mrdtrack.io import demo_study_path, load_study, write_adam
from mrdtrack.mrd.cli import app as mrd_app
from mrdtrack.multistate.cli import app as multistate_app
from mrdtrack.predict.cli import app as predict_app
from mrdtrack.report.cli import app as report_app
from mrdtrack.simulate.cli import app as simulate_app

app = typer.Typer(
    name="mrdtrack",
    help="Minimal residual disease over time: validate a study, analyse, simulate, report.",
    # a traceback with local variables would print patient data
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mrdtrack {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """mrdtrack: MRD dynamics and progression risk, numbers checked against R."""


# ---------------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------------


def _summary_tables(cohort: Cohort) -> list[Table]:
    c = cohort.counts()
    t = Table(title=f"Study {cohort.name}", show_header=True)
    t.add_column("quantity")
    t.add_column("n", justify="right")
    rows = [
        ("patients", c["patients"]),
        ("MRD assessments", c["mrd_assessments"]),
        ("patients with an MRD assessment", c["patients_with_mrd"]),
        ("PFS events (progression or death)", c["pfs_events"]),
        ("  progressions", c["progressions"]),
        ("deaths", c["deaths"]),
        ("on treatment at data cutoff", c["on_treatment_at_cutoff"]),
        ("adverse events", c["adverse_events"]),
        ("patients with an adverse event", c["patients_with_ae"]),
        ("serious adverse events", c["serious_adverse_events"]),
        ("records excluded", c["exclusions"]),
    ]
    for k, v in rows:
        t.add_row(k, str(v))
    acc = Table(title="Records read = kept + excluded")
    for col in ("table", "read", "kept", "excluded"):
        acc.add_column(col, justify="left" if col == "table" else "right")
    for r in cohort.accounting().iter_rows(named=True):
        acc.add_row(r["table"], str(r["read"]), str(r["kept"]), str(r["excluded"]))
    out = [t, acc]
    if c["exclusions"]:
        ex = Table(title="Exclusions by reason")
        for col in ("table", "column", "rule", "n"):
            ex.add_column(col, justify="right" if col == "n" else "left")
        for r in cohort.exclusion_counts().iter_rows(named=True):
            ex.add_row(r["table"], r["column"] or "", r["rule"], str(r["n"]))
        out.append(ex)
    notes = cohort.metadata.get("notes")
    if notes is not None and notes.height:
        nt = Table(title="Notes: values interpreted, nothing excluded")
        for col in ("file", "column", "rule", "n"):
            nt.add_column(col, justify="right" if col == "n" else "left")
        for r in _note_counts(notes):
            nt.add_row(r["file"], r["column"] or "", r["rule"], str(r["n"]))
        out.append(nt)
    return out


def _note_counts(notes: pl.DataFrame) -> list[dict[str, Any]]:
    return (
        notes.group_by("file", "column", "rule")
        .agg(pl.len().alias("n"))
        .sort("file", "column", "rule", nulls_last=True)
        .to_dicts()
    )


MaxPerRuleOpt = Annotated[
    int,
    typer.Option(
        "--max-per-rule",
        help="Problems listed per rule (all are counted); 0 lists every problem.",
    ),
]
MrdDatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--mrd-dataset", help="ADaM: name of the MRD BDS dataset (default admrd), e.g. adlb."
    ),
]


def _study_kwargs(mrd_dataset: str | None) -> dict[str, Any]:
    return {} if mrd_dataset is None else {"mrd_dataset": mrd_dataset}


@app.command()
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(help="Study folder (CSV/Parquet/Excel or ADaM); default: the demo study."),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Study map (TOML).")
    ] = None,
    adam: Annotated[
        bool | None,
        typer.Option("--adam/--tables", help="Read CDISC ADaM datasets (default: detect)."),
    ] = None,
    mrd_dataset: MrdDatasetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for pipelines.")] = False,
    exclusions: Annotated[
        bool, typer.Option("--exclusions", help="List excluded records (file/row/rule).")
    ] = False,
    max_per_rule: MaxPerRuleOpt = 20,
) -> None:
    """Read and validate a study; print what was read, kept and excluded.

    Problems are grouped by rule (severity, rule, file, column) with their count, message and
    hint; the first --max-per-rule of each are listed by file, row and column.
    """
    check_study(path, "PATH")
    check_mapping(mapping)
    check_int(max_per_rule, "--max-per-rule", 0)
    if mrd_dataset is not None and adam is False:
        typer.echo("error: --mrd-dataset applies to ADaM studies, not --tables", err=True)
        raise typer.Exit(EXIT_USAGE)
    console = Console(soft_wrap=False, width=max(100, Console().width))
    where = path if path is not None else demo_study_path()
    try:
        cohort = load_study(where, mapping=mapping, adam=adam, **_study_kwargs(mrd_dataset))
    except StudyValidationError as exc:
        errors = sum(p.severity == "error" for p in exc.problems)
        if as_json:
            _json_problems(exc.problems, errors, max_per_rule)
        else:
            print_problems(exc.problems, max_per_rule)
            typer.echo(
                f"{errors} error(s); nothing was built. Fix the errors and run again.", err=False
            )
        raise typer.Exit(EXIT_INVALID) from None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    warnings = cohort.metadata.get("warnings", ())
    if as_json:
        payload = {
            "valid": True,
            "study": cohort.name,
            "counts": cohort.counts(),
            "accounting": cohort.accounting().to_dicts(),
            "notes": _note_counts(cohort.metadata["notes"]) if "notes" in cohort.metadata else [],
            "exclusions_by_reason": cohort.exclusion_counts().to_dicts(),
            # row-level detail (file, row, column, rule, reason) with --exclusions
            "exclusions": _limit(cohort.exclusions, max_per_rule).to_dicts()
            if exclusions
            else None,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    for t in _summary_tables(cohort):
        console.print(t)
    if exclusions and cohort.exclusions.height:
        typer.echo("Excluded records")
        print_problems(warnings, max_per_rule)
    console.print("[bold green]valid[/]: records read = kept + excluded in every table.")


def _limit(frame: pl.DataFrame, max_per_rule: int) -> pl.DataFrame:
    """The first ``max_per_rule`` rows of each rule of an exclusions frame (0: all)."""
    if not max_per_rule:
        return frame
    return frame.filter(pl.int_range(pl.len()).over("rule") < max_per_rule)


def _groups(problems: Sequence[Problem]) -> dict[tuple[str, str, str, str], list[Problem]]:
    """Problems grouped by (severity, rule, file, column), errors first, largest first."""
    groups: dict[tuple[str, str, str, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.severity, p.rule, p.file, p.column or ""), []).append(p)
    order = {"error": 0, "warning": 1, "note": 2}
    return dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 3), -len(kv[1]), kv[0])))


def print_problems(problems: Sequence[Problem], max_per_rule: int = 20) -> None:
    """Print problems grouped by rule: count, message and hint once (verbatim, no markup),
    then the first ``max_per_rule`` locations (0: all). Streams plain lines: fast at 10^6."""
    groups = _groups(problems)
    typer.echo(
        f"{len(problems)} problem(s) by severity, rule, file and column ({len(groups)} groups):"
    )
    for (severity, rule, file, column), items in groups.items():
        first = items[0]
        col = f", column {column!r}" if column else ""
        lines = [f"{severity} [{rule}] {file}{col}: {len(items)} record(s)", f"  {first.message}"]
        if first.hint:
            lines.append(f"  hint: {first.hint}")
        shown = items if not max_per_rule else items[:max_per_rule]
        rows = [p.row for p in shown if p.row is not None]
        if rows:
            more = len(items) - len(shown)
            tail = f" ... and {more} more (--max-per-rule)" if more else ""
            lines.append("  rows: " + ", ".join(str(r) for r in rows) + tail)
        typer.echo("\n".join(lines))


def _json_problems(problems: Sequence[Problem], n_errors: int, max_per_rule: int) -> None:
    """Stream the failed-validation JSON: counts by rule, then the listed problems."""
    groups = _groups(problems)
    head = {
        "valid": False,
        "n_errors": n_errors,
        "n_problems": len(problems),
        "max_per_rule": max_per_rule,
        "by_rule": [
            {
                "severity": k[0],
                "rule": k[1],
                "file": k[2],
                "column": k[3] or None,
                "n": len(v),
                "message": v[0].message,
                "hint": v[0].hint,
            }
            for k, v in groups.items()
        ],
    }
    text = json.dumps(head, indent=2)
    out = sys.stdout
    out.write(text[:-2] + ',\n  "problems": [')
    listed = [
        p
        for items in groups.values()
        for p in (items if not max_per_rule else items[:max_per_rule])
    ]
    # rows are serialised by polars in chunks (10^6 problems in seconds, bounded memory)
    first = True
    for i in range(0, len(listed), 100_000):
        chunk = listed[i : i + 100_000]
        text = _problem_frame(chunk).write_json()  # '[{...},{...}]'
        out.write(("\n    " if first else ",\n    ") + text[1:-1])
        first = False
    out.write("\n  ]\n}\n")
    out.flush()


def _problem_frame(problems: Sequence[Problem]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "severity": [p.severity for p in problems],
            "file": [p.file for p in problems],
            "row": pl.Series([p.row for p in problems], dtype=pl.Int64),
            "column": pl.Series([p.column for p in problems], dtype=pl.String),
            "rule": [p.rule for p in problems],
            "message": [p.message for p in problems],
            "hint": [p.hint for p in problems],
        }
    )


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Study folder (CSV/Parquet/Excel or ADaM).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="Study map.")] = None,
    mrd_dataset: MrdDatasetOpt = None,
    adam_out: Annotated[
        bool, typer.Option("--adam", help="Write ADaM .xpt instead of CSV tables.")
    ] = False,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise", help="Replace patient ids by keyed pseudonyms (needs a salt)."
        ),
    ] = False,
    salt: Annotated[
        str | None,
        typer.Option(
            help="Pseudonymisation secret (with --pseudonymise only); default: environment "
            "MRDTRACK_SALT."
        ),
    ] = None,
    max_per_rule: MaxPerRuleOpt = 20,
) -> None:
    """Write the validated study (study days, our column names) as CSV tables or ADaM.

    ``--salt`` without ``--pseudonymise`` is an error (exit 2): the real identifiers would be
    written while the user believes them replaced.
    """
    if not path.exists():
        typer.echo(f"error: study path does not exist: {path.name}", err=True)
        raise typer.Exit(EXIT_USAGE)
    check_study(path, "PATH")
    check_mapping(mapping)
    check_out_dir(out, "--out")
    check_int(max_per_rule, "--max-per-rule", 0)
    if salt is not None and not pseudonymise:
        typer.echo(
            "error: --salt is given without --pseudonymise: the real identifiers would be "
            "written; add --pseudonymise (or drop --salt)",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    secret = None
    if pseudonymise:
        secret = salt or os.environ.get("MRDTRACK_SALT")
        if not secret:
            typer.echo("error: --pseudonymise needs --salt or MRDTRACK_SALT", err=True)
            raise typer.Exit(EXIT_USAGE)
    try:
        cohort = load_study(path, mapping=mapping, **_study_kwargs(mrd_dataset))
    except StudyValidationError as exc:
        print_problems(exc.problems, max_per_rule)
        raise typer.Exit(EXIT_INVALID) from None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if secret:
        try:
            cohort = cohort.pseudonymise(secret)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    out.mkdir(parents=True, exist_ok=True)
    if adam_out:
        write_adam(cohort, out)
    else:
        for t in ("patients", "mrd", "outcomes", "adverse_events", "exclusions"):
            getattr(cohort, t).write_csv(out / f"{t}.csv")
    typer.echo(f"wrote {cohort.n_patients} patients to {out}")


app.add_typer(mrd_app, name="mrd")
app.add_typer(multistate_app, name="multistate")
app.add_typer(simulate_app, name="simulate")
app.add_typer(predict_app, name="predict")
app.add_typer(report_app, name="report")


def main(argv: list[str] | None = None) -> Any:
    """Console entry point (``mrdtrack``)."""
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="mrdtrack")


if __name__ == "__main__":  # pragma: no cover - `python -m mrdtrack.cli`
    main()
