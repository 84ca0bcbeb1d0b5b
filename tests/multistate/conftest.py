"""Shared fixtures: the msm reference data and outputs (tests/reference/multistate)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"


@pytest.fixture(scope="session")
def cav() -> pl.DataFrame:
    return pl.read_csv(REF / "cav.csv")


@pytest.fixture(scope="session")
def cav_cens() -> pl.DataFrame:
    return pl.read_csv(REF / "cav_cens.csv")


@pytest.fixture(scope="session")
def sim() -> pl.DataFrame:
    return pl.read_csv(REF / "sim_mrd_hmm.csv")
