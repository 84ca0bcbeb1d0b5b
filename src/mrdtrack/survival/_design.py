"""The covariate design matrix of the survival regressions, as R ``model.matrix``.

One builder for Cox (:func:`~mrdtrack.survival.cox.cox_ph`, through ``prepare_cox_data``) and
Fine-Gray (:func:`~mrdtrack.survival.competing.fine_gray`), so both expand covariates the same
way (R ``coxph`` builds its model matrix itself; ``cmprsk::crr`` needs one made with
``model.matrix(~ ., data)[, -1]``; both codings are R's default treatment contrasts):

- numeric columns are used as they are;
- boolean columns become one 0/1 term named ``f"{column}TRUE"``;
- text, Categorical and Enum columns become treatment-coded 0/1 dummies named
  ``f"{column}{level}"``, the reference level being the first sorted level (the first category
  of an Enum) unless ``reference={column: level}`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.errors import EstimationError
from mrdtrack.survival._checks import column, numeric, require_columns

__all__ = ["Design", "design_matrix", "is_categorical"]


@dataclass(frozen=True)
class Design:
    """Design columns (float64), their term names, and the terms each covariate expands to."""

    columns: list[np.ndarray]
    names: list[str]
    terms: dict[str, tuple[str, ...]]


def is_categorical(col: pl.Series) -> bool:
    """True for text, Categorical and Enum columns (expanded to dummies)."""
    return col.dtype in (pl.String, pl.Categorical, pl.Utf8) or isinstance(
        col.dtype, pl.Enum | pl.Categorical
    )


def _levels(col: pl.Series) -> list:
    if isinstance(col.dtype, pl.Enum):
        return list(col.dtype.categories)
    return sorted(col.cast(pl.String).unique().to_list())


def design_matrix(
    df: pl.DataFrame, covariates: Sequence[str], reference: Mapping[str, Any] | None = None
) -> Design:
    """Expand ``covariates`` of ``df`` into design columns (see the module docstring).

    Raises
    ------
    ValueError
        A missing column (all of them in one message), missing or non-finite values, or a
        reference level that is not a level of its column.
    TypeError
        ``reference`` names a column that is not a categorical covariate (it would be ignored).
    EstimationError
        A categorical covariate with a single level.
    """
    reference = dict(reference or {})
    require_columns(df, [("covariate", name) for name in covariates])
    unused = sorted(
        k for k in reference if k not in covariates or not is_categorical(df.get_column(k))
    )
    if unused:
        raise TypeError(
            f"reference is only used for categorical covariates; not one: {unused} "
            "(remove these entries)"
        )
    cols: list[np.ndarray] = []
    names: list[str] = []
    terms: dict[str, tuple[str, ...]] = {}
    for name in covariates:
        col = column(df, name, "covariate")
        if is_categorical(col):
            levels = _levels(col)
            ref = reference.get(name, levels[0] if levels else None)
            if ref not in levels:
                raise ValueError(
                    f"reference level for covariate {name!r} is not one of its {len(levels)} levels"
                )
            if len(levels) < 2:
                raise EstimationError(
                    f"covariate {name!r} has a single level: it is constant and cannot be "
                    "estimated; remove it"
                )
            values = col.cast(pl.String).to_numpy()
            expanded = []
            for lev in levels:
                if lev == ref:
                    continue
                cols.append((values == lev).astype(np.float64))
                expanded.append(f"{name}{lev}")
            names.extend(expanded)
            terms[name] = tuple(expanded)
        elif col.dtype == pl.Boolean:
            cols.append(col.cast(pl.Float64).to_numpy())
            names.append(f"{name}TRUE")
            terms[name] = (f"{name}TRUE",)
        else:
            cols.append(numeric(df, name, "covariate"))
            names.append(name)
            terms[name] = (name,)
    return Design(cols, names, terms)
