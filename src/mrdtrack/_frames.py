"""Accept pandas or polars frames at the API boundary; work in polars inside."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl


def to_polars(data: Any) -> pl.DataFrame:
    """Return ``data`` as a polars DataFrame (polars, pandas, or a dict of columns)."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    mod = type(data).__module__
    if mod.startswith("pandas"):
        return pl.from_pandas(data)
    if isinstance(data, dict):
        return pl.DataFrame(data)
    raise TypeError(
        f"expected a polars or pandas DataFrame, got {type(data).__name__}; "
        "convert it with polars.DataFrame(...) first"
    )


def is_pandas(data: Any) -> bool:
    return type(data).__module__.startswith("pandas")


def require_columns(
    df: pl.DataFrame, roles: Mapping[str, str | None] | Iterable[tuple[str, str | None]]
) -> None:
    """Check that every column named in ``roles`` (role -> column name, or (role, name) pairs;
    a None name is an option not used) is in ``df``; one ValueError names every missing column
    with its role and lists the available ones (the one format of the package):
    ``"time column 'tt', event column 'ee' not found; available columns: a, b"``."""
    pairs = roles.items() if isinstance(roles, Mapping) else roles
    missing = [
        f"{role} column {name!r}" if role else f"column {name!r}"
        for role, name in pairs
        if name is not None and name not in df.columns
    ]
    if missing:
        raise ValueError(
            f"{', '.join(missing)} not found; available columns: {', '.join(sorted(df.columns))}"
        )
