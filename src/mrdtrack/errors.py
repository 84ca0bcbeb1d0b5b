"""The one exception family of mrdtrack.

Messages name a file, row and column and give a hint; they never contain patient
identifiers, calendar dates or raw cell values (see docs/data-format.md, "Privacy").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MrdtrackError(Exception):
    """Base class of every error mrdtrack raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: where it is, which rule, what to do.

    ``row`` is the 1-based data row of the source file (header not counted), or None
    when the problem concerns the whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    rule: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error": nothing is built; "warning": the record is excluded

    def format(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        text = f"{where}: [{self.rule}] {self.message}"
        if self.hint:
            text += f" Hint: {self.hint}"
        return text


class StudyValidationError(MrdtrackError, ValueError):
    """A study failed validation; ``problems`` lists every finding at once."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        n = len(self.problems)
        lines = [f"study validation failed with {n} problem{'s' if n != 1 else ''}:"]
        lines += ["  - " + p.format() for p in self.problems[:50]]
        if n > 50:
            lines.append(
                f"  ... and {n - 50} more (all in .problems; `mrdtrack validate` groups them by "
                "rule)"
            )
        super().__init__("\n".join(lines))


class ConvergenceError(MrdtrackError, RuntimeError):
    """An iterative estimator did not converge; the message carries diagnostics."""


class EstimationError(MrdtrackError, ValueError):
    """A model cannot be estimated from these data (e.g. no events, singular design)."""


class GuaranteeTimeBiasError(MrdtrackError, ValueError):
    """A survival comparison was asked for with a grouping that uses post-origin information."""
