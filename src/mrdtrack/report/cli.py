"""`mrdtrack report [STUDY] [--config analysis.toml] --out DIR`: the study report in one command.

Exit codes (CONVENTIONS.md): 0 report written; 2 usage or option error (bad config, output
folder taken); 3 the study failed validation (the problems are printed, nothing is written);
4 an estimation problem stopped the report. Progress goes to stderr; ``--json`` prints a
machine-readable summary on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from mrdtrack import _cli_common as chk
from mrdtrack._cli_common import EXIT_ESTIMATION, EXIT_INVALID, EXIT_USAGE
from mrdtrack.cohort import Cohort
from mrdtrack.errors import (
    ConvergenceError,
    EstimationError,
    MrdtrackError,
    StudyValidationError,
)
from mrdtrack.report.build import build_report
from mrdtrack.report.export import parse_formats
from mrdtrack.report.sections import SectionResult

# Tracebacks with locals would print patient data: never show them.
app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Write the study report (HTML, PDF, results.json, figures, run record).",
)


def _validation_table(err: StudyValidationError) -> RichTable:
    t = RichTable(title=f"Study validation failed: {len(err.problems)} problem(s)")
    for col in ("file", "row", "column", "rule", "message"):
        t.add_column(col)
    for p in err.problems[:200]:
        t.add_row(
            p.file,
            "" if p.row is None else str(p.row),
            p.column or "",
            p.rule,
            # Text, not markup: a hint's "[tables.mrd.codes.result]" must print as written
            Text(p.message + (f" Hint: {p.hint}" if p.hint else "")),
        )
    return t


def _if_exists(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _command_line() -> list[str]:
    """The command as the user would type it: ``mrdtrack report ARGS``."""
    args = sys.argv[1:]
    if args[:1] == ["report"]:
        args = args[1:]
    return ["mrdtrack", "report", *_redact_salt(args)]


def _redact_salt(args: list[str]) -> list[str]:
    """The pseudonymisation secret never reaches the run record: ``--salt ***``."""
    out, hide = [], False
    for a in args:
        if hide:
            out.append("***")
            hide = False
        elif a == "--salt":
            out.append(a)
            hide = True
        elif a.startswith("--salt="):
            out.append("--salt=***")
        else:
            out.append(a)
    return out


def report(
    study: Annotated[
        Path | None,
        typer.Argument(help="Study folder (CSV/Parquet/Excel or ADaM); omit for the demo study."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "mrdtrack-report"
    ),
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Analysis options (TOML).")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write report.pdf.")] = True,
    formats: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Outputs, comma-separated, among html,pdf,docx,rtf (default html,pdf; "
            "docx/rtf export every table for medical writers).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise",
            help="Replace patient ids by keyed pseudonyms in every output (needs a salt).",
        ),
    ] = False,
    salt: Annotated[
        str | None,
        typer.Option(help="Pseudonymisation secret (with --pseudonymise); default MRDTRACK_SALT."),
    ] = None,
    mrd_dataset: Annotated[
        str | None,
        typer.Option("--mrd-dataset", help="ADaM: name of the MRD BDS dataset (default admrd)."),
    ] = None,
) -> None:
    """Compute every analysis of the study and write the report into OUT."""
    err = Console(stderr=True)
    study_or_cohort = _check_args(study, out, config, pseudonymise, salt, mrd_dataset)

    def progress(res: SectionResult) -> None:
        mark = "[green]done[/green]" if res.status == "ok" else "[yellow]skipped[/yellow]"
        reason = f" ({res.reason})" if res.status != "ok" else ""
        err.print(f"  {res.title}: {mark}{reason}", highlight=False, markup=True)

    try:
        chosen = parse_formats(formats) if formats is not None else None
        if chosen is not None and not pdf:
            chosen = tuple(f for f in chosen if f != "pdf")
        result = build_report(
            study_or_cohort,
            out,
            config=config,
            pdf=pdf,
            argv=_command_line(),
            progress=progress,
            formats=chosen,
        )
    except StudyValidationError as e:
        err.print(_validation_table(e))
        err.print("[red]No report written.[/red]")
        raise typer.Exit(EXIT_INVALID) from None
    except (EstimationError, ConvergenceError) as e:
        err.print(f"[red]Estimation problem:[/red] {escape(str(e))}", highlight=False)
        err.print("[red]No report written.[/red]")
        raise typer.Exit(EXIT_ESTIMATION) from None
    except (MrdtrackError, ValueError) as e:
        err.print(f"[red]Error:[/red] {escape(str(e))}", highlight=False)
        err.print("[red]No report written.[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    err.print(f"Report written to {result.html}", highlight=False)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "out": str(result.out),
                    "html": str(result.html),
                    "pdf": str(result.pdf) if result.pdf.exists() else None,
                    "results": str(result.out / "results.json"),
                    "tables_docx": _if_exists(result.out / "tables.docx"),
                    "tables_rtf": _if_exists(result.out / "tables.rtf"),
                    "skipped": result.skipped,
                },
                indent=2,
            )
        )


def _check_args(
    study: Path | None,
    out: Path,
    config: Path | None,
    pseudonymise: bool,
    salt: str | None,
    mrd_dataset: str | None = None,
) -> Path | Cohort | None:
    """Arguments checked before any analysis (exit 2); with --pseudonymise, the study is read
    here and its identifiers replaced, so that no output of the report holds a real id."""
    chk.check_study(study)
    chk.check_out_dir(out, "--out")
    chk.check_input_file(config, "--config", "analysis options file (TOML)")
    if salt is not None and not pseudonymise:
        chk.usage("--salt is given without --pseudonymise; add --pseudonymise (or drop --salt)")
    if not pseudonymise:
        if mrd_dataset is None:
            return study
        return chk.load_study_or_exit(study, mrd_dataset=mrd_dataset)
    secret = salt or os.environ.get("MRDTRACK_SALT")
    if not secret:
        chk.usage("--pseudonymise needs --salt or MRDTRACK_SALT")
    cohort = chk.load_study_or_exit(study, mrd_dataset=mrd_dataset)
    try:
        return cohort.pseudonymise(secret)
    except ValueError as e:
        chk.usage(str(e))


# The command is the app's callback, so both `app()` and `main.add_typer(app, name="report")`
# give `... report [STUDY] --out DIR`; interspersed args let options follow STUDY.
app.callback(invoke_without_command=True, context_settings={"allow_interspersed_args": True})(
    report
)


def main() -> None:  # pragma: no cover - console entry for `python -m mrdtrack.report.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
