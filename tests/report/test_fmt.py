"""Display formats: p values, intervals, percentages, the 'not reached' and infinite cases."""

from __future__ import annotations

import math

import pytest

from mrdtrack.report import fmt


@pytest.mark.parametrize(
    "p, text",
    [(0.00002, "<0.0001"), (0.0051552, "0.0052"), (0.01497, "0.015"), (0.5, "0.500"), (None, "—")],
)
def test_p_values(p, text):
    assert fmt.p_value(p) == text


def test_intervals_and_special_values():
    assert fmt.estimate_ci(40.7, 37.7, 44.1) == "40.7 (37.7–44.1)"
    assert fmt.estimate_ci(None, 55.8, None) == "NR (55.8–NR)"
    assert fmt.estimate_ci(0.64, 0.49, 0.83, as_pct=True) == "64.0% (49.0%–83.0%)"
    assert fmt.num(math.inf) == "∞"
    assert fmt.num(math.nan) == "—"
    assert fmt.n_pct(44, 108) == "44 (40.7%)"


def test_cells_by_format():
    assert fmt.cell(3, "auto") == "3"
    assert fmt.cell(0.4444, "pct") == "44.4%"
    assert fmt.cell(1e-5, "sci") == "1e-05"
    assert fmt.cell(True, "auto") == "yes"
    assert fmt.cell("<b>", "text") == "<b>"  # escaping is the template's job
    assert fmt.cell(None, "f1") == ""
