"""Reverse Kaplan-Meier median follow-up against R (committed fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from mrdtrack.survival.followup import median_followup
from mrdtrack.survival.km import kaplan_meier

REF = Path(__file__).parents[1] / "reference" / "survival_km"
CASES = pl.read_csv(REF / "followup_cases.csv").fill_null("").to_dicts()
OUT = pl.read_csv(
    REF / "out" / "followup.csv", null_values=["NA"], schema_overrides={"group": pl.String}
)


def _nan(x: pl.Series) -> np.ndarray:
    return x.cast(pl.Float64).fill_null(np.nan).to_numpy()


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_reverse_km_quantiles_match_r(case: dict) -> None:
    d = pl.read_csv(REF / "data" / f"{case['data']}.csv", null_values=["NA"])
    fu = median_followup(d, "time", "event", by=case["by"] or None)
    ref = OUT.filter(pl.col("case") == case["case"])
    tab = fu.table()

    def r(p: float, col: str) -> np.ndarray:
        return _nan(ref.filter(pl.col("p") == p)[col])

    np.testing.assert_allclose(_nan(tab["median"]), r(0.5, "estimate"), atol=1e-8)
    np.testing.assert_allclose(_nan(tab["lower"]), r(0.5, "lower"), atol=1e-8)
    np.testing.assert_allclose(_nan(tab["upper"]), r(0.5, "upper"), atol=1e-8)
    np.testing.assert_allclose(_nan(tab["q1"]), r(0.25, "estimate"), atol=1e-8)
    np.testing.assert_allclose(_nan(tab["q3"]), r(0.75, "estimate"), atol=1e-8)
    if case["by"]:
        assert tab["group"].to_list() == ref.filter(pl.col("p") == 0.5)["group"].to_list()
    assert "reverse Kaplan-Meier" in fu.summary()


def test_followup_is_km_of_flipped_status_and_counts() -> None:
    d = pd.DataFrame({"t": [1.0, 2, 2, 3, 5, 8, 9], "e": [1, 0, 1, 0, 1, 0, 0]})
    fu = median_followup(d, "t", "e")
    km = kaplan_meier(d.assign(c=1 - d["e"]), "t", "c")
    assert fu.reverse_km.table().equals(km.table())
    assert fu.n[0] == 7 and fu.n_censored[0] == 4
    # reverse curve: drops at 2 (n=6), 3, 8, 9 -> S = 5/6, 5/6*3/4 = 0.625, 0.3125 at 8
    assert fu.median[0] == 8.0


def test_followup_bad_event() -> None:
    with pytest.raises(ValueError, match="column 'e': 1 row with an event code"):
        median_followup(pl.DataFrame({"t": [1.0, 2.0], "e": [1, 2]}), "t", "e")
