"""Running sections: a section skips itself for a data reason; every other error surfaces."""

from __future__ import annotations

import pytest

from mrdtrack.report.build import run_sections
from mrdtrack.report.config import ReportConfig
from mrdtrack.report.sections import SECTIONS, Context, Section, SectionSkipped


def _ctx(tmp_path):
    from report_synthetic import make_cohort

    return Context(cohort=make_cohort(), config=ReportConfig(), figures_dir=tmp_path)


def test_run_sections_skips_with_reasons_and_propagates_bugs(tmp_path):
    def data_skip(ctx, res):
        raise SectionSkipped("no adverse events")

    def ok(ctx, res):
        res.values["x"] = 1

    def bug(ctx, res):
        raise ZeroDivisionError("a real bug")

    sections = (Section("data", "Data", data_skip), Section("ok", "OK", ok))
    results = run_sections(_ctx(tmp_path), sections)
    assert results["data"].status == "skipped"
    assert results["data"].reason == "no adverse events"
    assert results["ok"].status == "ok" and results["ok"].values == {"x": 1}
    with pytest.raises(ZeroDivisionError):
        run_sections(_ctx(tmp_path), (Section("bug", "Bug", bug),))


def test_an_import_error_inside_a_section_is_not_a_skip(tmp_path):
    """No section is skipped because a module is absent: the error stops the run."""

    def broken(ctx, res):
        raise ModuleNotFoundError("No module named 'mrdtrack.not_there'", name="mrdtrack.not_there")

    with pytest.raises(ModuleNotFoundError, match="not_there"):
        run_sections(_ctx(tmp_path), (Section("broken", "Broken", broken),))


def test_sections_run_last_are_computed_last_and_kept_in_report_order(tmp_path):
    seen = []

    def mark(key):
        def compute(ctx, res):
            seen.append(key)

        return compute

    sections = (
        Section("first", "First", mark("first"), runs_last=True),
        Section("second", "Second", mark("second")),
    )
    results = run_sections(_ctx(tmp_path), sections)
    assert seen == ["second", "first"]
    assert list(results) == ["first", "second"]


def test_every_report_section_has_a_plain_compute_function():
    """The sections import their analysis functions: no requirement strings to resolve."""
    assert all(callable(s.compute) for s in SECTIONS)
    assert not any(hasattr(s, "requires") for s in SECTIONS)
