from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from mrdtrack.joint import joint_data

REF = Path(__file__).resolve().parents[1] / "reference" / "joint"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """``slow`` tests of this folder (full-precision versions of fast checks, minutes) run only
    when asked for: ``-m slow`` or ``MRDTRACK_SLOW=1``."""
    if "slow" in (config.option.markexpr or "") or os.environ.get("MRDTRACK_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or MRDTRACK_SLOW=1")
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


def _ref_table(name: str) -> dict[str, tuple[float, float]]:
    """name -> (estimate, se) from a committed R output (tests/reference/joint/*.csv)."""
    t = pl.read_csv(REF / name, null_values="NA", infer_schema_length=0)
    return {
        r["name"]: (float(r["estimate"]), float(r["se"]) if r["se"] not in (None, "NA") else None)
        for r in t.iter_rows(named=True)
    }


@pytest.fixture(scope="session")
def ref_table():
    """Reader of the committed R outputs: ``ref_table("lme_ml.csv")[name] -> (estimate, se)``."""
    return _ref_table


@pytest.fixture(scope="session")
def pbc2():
    """JM's pbc2 as rebuilt from survival::pbcseq by pbc_reference.R (full precision)."""
    d = pl.read_csv(REF / "pbc2.csv")
    pat = d.unique("id", keep="first", maintain_order=True)
    return joint_data(
        d,
        pat,
        id="id",
        time="year",
        value="y",
        event_time="years",
        event="status2",
        long_covariates=("female",),
        time_interactions=("female",),
        surv_covariates=("female",),
        marker="log serum bilirubin",
    )
