"""What every ``mrdtrack`` command shares: exit codes, failing cleanly, reading the study.

Exit codes (docs/CONVENTIONS): 0 ok, 2 usage or bad option, 3 study failed validation (the
problem list is printed: file/row/column/rule, never values), 4 estimation problem.
Messages go to stderr; no traceback (it could show patient data).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer

from mrdtrack.errors import MrdtrackError, StudyValidationError

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


def load_study_or_exit(study: Path | None, mapping: Path | None = None, **kwargs: Any) -> Any:
    """Read a study folder (tables or ADaM, detected) or the embedded demo; exit 3 if invalid."""
    from mrdtrack.io import load_study

    try:
        return load_study(study, mapping=mapping, **kwargs)
    except StudyValidationError as err:
        fail(str(err), EXIT_INVALID)
