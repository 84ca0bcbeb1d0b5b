"""The analyses a study report needs, each from the engines, under stable results.json names."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from mrdtrack.report.sections._props import ci_text, clopper_pearson


def test_clopper_pearson_is_the_exact_interval():
    lo, hi = clopper_pearson(19, 108)
    ci = binomtest(19, 108).proportion_ci(method="exact")
    assert (lo, hi) == (ci.low, ci.high)
    # not the Wald interval (symmetric; its upper limit is lower here)
    wald = 1.959964 * (19 / 108 * (1 - 19 / 108) / 108) ** 0.5
    assert hi > 19 / 108 + wald and abs((hi - 19 / 108) - (19 / 108 - lo)) > 0.01
    assert clopper_pearson(0, 0) == (None, None)
    assert ci_text(0.1, 0.25) == "10.0–25.0"


@pytest.fixture(scope="module")
def sections(demo_report):
    return demo_report.results["sections"]


def test_pfs_events_by_type_and_quartiles(sections):
    v = sections["pfs"]["values"]
    e = v["events_by_type"]
    assert e["progression"] + e["death"] == e["events"] == v["events"]
    assert e["events"] + e["censored"] == v["n"] == 100
    assert v["quartiles"]["q50"]["estimate"] is None  # median not reached
    # R survfit quantile: tests/reference/demo/demo_reference.csv (pfs_q25_months)
    assert v["quartiles"]["q25"]["estimate"] == pytest.approx(27.3018480492813, rel=1e-9)
    assert "pfs_ttet01" in sections["pfs"]["tables"]


def test_overall_survival_all_enrolled(sections):
    v = sections["os"]["values"]
    assert v["population"] == "all enrolled" and v["n"] == 108 and v["deaths"] == 1


def test_proportions_carry_exact_cis(sections):
    b = sections["mrd_over_time"]["values"]["by_visit"]["0"]
    lo, hi = clopper_pearson(44, 103)
    assert b["negative_fraction_lower"] == pytest.approx(lo)
    assert b["negative_fraction_upper"] == pytest.approx(hi)
    s = sections["safety"]["values"]["serious_ae_ci"]
    assert s["method"] == "Clopper-Pearson"
    assert s["lower"] == pytest.approx(clopper_pearson(19, 108)[0])
    c = sections["trajectories"]["values"]["class_proportions_ci"]["sustained_negative"]
    assert c["whole"]["lower"] == pytest.approx(clopper_pearson(45, 108)[0])


def test_simon_makuch_uses_the_time_dependent_rows(sections):
    sm = sections["timedep"]["values"]["simon_makuch"]
    td = sections["timedep"]["values"]["time_dependent_cox"]
    assert sm["negative"]["events"] + sm["positive"]["events"] == td["events"]
    assert "figures/td_simon_makuch.svg" in sections["timedep"]["figures"]


def test_landmark_series_12_24_36(sections):
    series = sections["landmark"]["values"]["series"]
    assert list(series) == ["12", "24", "36"]
    assert series["24"]["at_risk"] == sections["landmark"]["values"]["at_risk"] == 72  # R: 72
    lp = series["24"]["lost_vs_persistent"]
    main = sections["landmark"]["values"]["comparisons"]["lost_vs_persistent"]
    assert lp["cox_ml"]["hazard_ratio"] == pytest.approx(main["cox_ml"]["hazard_ratio"])
    for e in series.values():
        assert sum(c["n"] for c in e["by_class"].values()) == e["at_risk"]


def test_multivariable_cox_with_ph_test(sections):
    m = sections["pfs"]["values"]["multivariable_cox"]
    assert m["n"] + m["excluded_incomplete"] == 100
    terms = {t["term"] for t in m["terms"]}
    assert {"age10", "baseline_statuspositive"} <= terms
    ph = m["ph_test"]["terms"]
    assert "GLOBAL" in ph and 0 <= ph["GLOBAL"]["p"] <= 1
