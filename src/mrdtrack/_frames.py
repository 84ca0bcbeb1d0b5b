"""Accept pandas or polars frames at the API boundary; work in polars inside."""

from __future__ import annotations

from typing import Any

import numpy as np
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


def column_array(df: pl.DataFrame, name: str, dtype: Any = np.float64) -> np.ndarray:
    """A column as a numpy array of ``dtype``; a clear error if the column is missing."""
    if name not in df.columns:
        raise ValueError(f"column {name!r} not found; available columns: {sorted(df.columns)}")
    return df.get_column(name).to_numpy().astype(dtype, copy=False)
