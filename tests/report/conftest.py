"""Report test fixtures: one synthetic-study report and one demo-study report per session."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from report_synthetic import REFERENCE, XSS, make_cohort, make_tables

from mrdtrack.report.build import build_report


@pytest.fixture(scope="session")
def synthetic_tables():
    return make_tables()


@pytest.fixture(scope="session")
def synthetic_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "report"
    return build_report(REFERENCE / "study", out, argv=["mrdtrack", "report"])


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    return build_report(None, out, argv=["mrdtrack", "report", "--out", str(out)])


@pytest.fixture(scope="session")
def hostile_report(tmp_path_factory):
    tables = make_tables()
    ae = tables["adverse_events"]
    tables["adverse_events"] = ae.with_columns(
        pl.when(pl.col("term") == "Fatigue")
        .then(pl.lit("Fatigue " + XSS))
        .otherwise(pl.col("term"))
        .alias("term"),
        pl.when(pl.col("decod") == "Fatigue")
        .then(pl.lit("Fatigue " + XSS))
        .otherwise(pl.col("decod"))
        .alias("decod"),
    )
    tables["patients"] = tables["patients"].with_columns(
        pl.when(pl.col("site") == "Site A")
        .then(pl.lit('Site "A" ' + XSS))
        .otherwise(pl.col("site"))
        .alias("site")
    )
    out = tmp_path_factory.mktemp("hostile") / "report"
    return build_report(make_cohort(tables, name="study " + XSS), out)
