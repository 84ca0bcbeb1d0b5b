"""What every ``mrdtrack`` command shares: exit codes, failing cleanly, reading the study.

The exit codes of every command are defined here (docs/CONVENTIONS): 0 ok, 2 usage or bad
option, 3 study failed validation (the problem list is printed: file/row/column/rule, never
values), 4 estimation problem. Messages go to stderr; no traceback (it could show patient data).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer

from mrdtrack.cohort import Cohort
from mrdtrack.errors import MrdtrackError, StudyValidationError
from mrdtrack.io import load_study
from mrdtrack.mrd import as_study_day

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_ESTIMATION = 4


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextmanager
def exit_codes() -> Iterator[None]:
    """Turn mrdtrack's errors into the documented exit codes.

    Validation errors exit 3, estimation problems (any other `MrdtrackError`) 4, a bad value
    given by the user (`ValueError`, e.g. an unknown patient or a time like "24x") 2.
    """
    try:
        yield
    except StudyValidationError as err:
        fail(str(err), EXIT_INVALID)
    except MrdtrackError as err:
        fail(f"estimation problem: {err}", EXIT_ESTIMATION)
    except ValueError as err:
        fail(f"error: {err}", EXIT_USAGE)


def load_study_or_exit(study: Path | None, mapping: Path | None = None, **kwargs: Any) -> Cohort:
    """Read a study folder (tables or ADaM, detected) or the embedded demo; exit 3 if invalid."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return load_study(study, mapping=mapping, **kwargs)
    except StudyValidationError as err:
        fail(str(err), EXIT_INVALID)
    except ValueError as err:  # e.g. --mrd-dataset for a study of tables
        fail(f"error: {err}", EXIT_USAGE)


# ---------------------------------------------------------------------------------------------
# argument checks: every command validates its arguments before any work (exit 2, one line)
# ---------------------------------------------------------------------------------------------

SAS_SUFFIXES = (".xpt", ".sas7bdat")


def usage(message: str) -> NoReturn:
    """A bad argument: one line on stderr, exit 2."""
    fail(f"error: {message}", EXIT_USAGE)


def check_study(path: Path | None, option: str = "STUDY") -> None:
    """A study is a folder (tables or ADaM) or one SAS file; a table file is not a study."""
    if path is None:
        return
    if not path.exists():
        usage(f"{option}: study folder does not exist: {path.name}")
    if path.is_file() and path.suffix.lower() not in SAS_SUFFIXES:
        usage(
            f"{option}: expected a study folder, got the file {path.name}; give the folder that "
            "holds it"
        )


def check_input_file(path: Path | None, option: str, what: str = "file") -> None:
    """An input file (study map, TOML) must exist and be a file."""
    if path is None:
        return
    if not path.exists():
        usage(f"{option}: {what} not found: {path.name}")
    if not path.is_file():
        usage(f"{option}: expected a {what}, got a folder: {path.name}")


def check_mapping(path: Path | None) -> None:
    check_input_file(path, "--mapping", "study map (TOML)")


def _writable_parent(path: Path, option: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    probe = parent
    while not probe.exists():
        if probe == probe.parent:
            break
        probe = probe.parent
    if not probe.is_dir():
        usage(f"{option}: cannot create {path.name}: {probe.name} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        usage(f"{option}: folder is not writable: {probe.name or probe}")


def check_out_file(
    path: Path | None, option: str, suffixes: tuple[str, ...] = (), *, create_parent: bool = False
) -> None:
    """An output file: not a folder, its folder exists (or may be created) and is writable."""
    if path is None:
        return
    if suffixes and path.suffix.lower() not in suffixes:
        usage(f"{option} must end in {' or '.join(suffixes)}, got {path.suffix!r}")
    if path.is_dir():
        usage(f"{option}: expected a file, got a folder: {path.name}")
    parent = path.parent if str(path.parent) else Path(".")
    if not create_parent and not parent.exists():
        usage(f"{option}: folder does not exist: {parent.name or parent} (create it first)")
    if parent.exists() and not parent.is_dir():
        usage(f"{option}: {parent.name} is a file, not a folder")
    _writable_parent(path, option)


def check_out_dir(path: Path | None, option: str) -> None:
    """An output folder: a folder or a new path whose nearest existing parent is a folder."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        usage(f"{option}: expected a folder, got the file {path.name}")
    if path.exists():
        if not os.access(path, os.W_OK | os.X_OK):
            usage(f"{option}: folder is not writable: {path.name}")
        return
    _writable_parent(path, option)


def check_int(value: int | None, option: str, minimum: int) -> None:
    """An integer option of at least ``minimum`` (None: not given)."""
    if value is not None and value < minimum:
        usage(f"{option} must be at least {minimum}, got {value}")


def check_fraction(value: float | None, option: str) -> None:
    """A proportion strictly between 0 and 1 (e.g. an MRD threshold 1e-5)."""
    if value is not None and not 0 < value < 1:
        usage(f"{option} must be between 0 and 1 (exclusive), got {value:g}")


def check_choice(value: str | None, option: str, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        usage(f"{option} must be one of {', '.join(choices)}; got {value!r}")


def check_time(value: str | None, option: str) -> None:
    """A time such as 730, 24m, 2y (parsed as the analyses parse it)."""
    if value is None:
        return
    try:
        as_study_day(value, option)
    except (ValueError, TypeError):
        usage(f"{option}: not a time (days, or e.g. 730, 24m, 2y): {value!r}")


def check_times(value: str | None, option: str) -> None:
    """A comma-separated list of times (e.g. landmarks "0m,6m,12m")."""
    if value is None:
        return
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        usage(f"{option}: give at least one time")
    for v in items:
        check_time(v, option)
