"""Section requirements: a module that is not installed skips a section; real errors surface."""

from __future__ import annotations

import sys
import textwrap

import pytest

from mrdtrack.report.build import run_sections
from mrdtrack.report.config import ReportConfig
from mrdtrack.report.sections._base import (
    Context,
    MissingModule,
    Section,
    SectionSkipped,
    resolve,
)


@pytest.fixture
def fake_modules(tmp_path, monkeypatch):
    """Importable modules: one importing an absent mrdtrack module, one broken for real."""
    (tmp_path / "mrdtrack_fake_waiting.py").write_text("import mrdtrack.not_landed_yet\n")
    (tmp_path / "mrdtrack_fake_broken.py").write_text(
        textwrap.dedent(
            """
            import a_third_party_package_that_is_absent
            """
        )
    )
    (tmp_path / "mrdtrack_fake_raises.py").write_text("raise RuntimeError('bug at import')\n")
    (tmp_path / "mrdtrack_fake_ok.py").write_text("def f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in list(sys.modules):
        if name.startswith("mrdtrack_fake_"):
            del sys.modules[name]


def test_absent_module_is_missing():
    with pytest.raises(MissingModule, match=r"mrdtrack\.not_landed_yet"):
        resolve("mrdtrack.not_landed_yet:anything")


def test_landed_module_importing_an_absent_mrdtrack_module_is_missing(fake_modules):
    with pytest.raises(MissingModule, match="not_landed_yet"):
        resolve("mrdtrack_fake_waiting:f")


def test_real_import_errors_surface(fake_modules):
    with pytest.raises(ModuleNotFoundError, match="a_third_party_package_that_is_absent"):
        resolve("mrdtrack_fake_broken:f")
    with pytest.raises(RuntimeError, match="bug at import"):
        resolve("mrdtrack_fake_raises:f")


def test_missing_attribute_is_missing_and_present_one_resolves(fake_modules):
    assert resolve("mrdtrack_fake_ok:f")() == 1
    with pytest.raises(MissingModule, match="does not provide g"):
        resolve("mrdtrack_fake_ok:g")


def test_lazy_export_resolves_to_the_function_after_its_module_is_imported():
    import mrdtrack.survival.km  # noqa: F401

    fn = resolve("mrdtrack.survival:kaplan_meier")
    assert callable(fn) and fn.__name__ == "kaplan_meier"


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

    sections = (
        Section("waiting", "Waiting", ("mrdtrack.not_landed_yet:f",), ok),
        Section("data", "Data", (), data_skip),
        Section("ok", "OK", (), ok),
    )
    results = run_sections(_ctx(tmp_path), sections)
    assert results["waiting"].status == "skipped"
    assert "not available" in results["waiting"].reason
    assert results["data"].reason == "no adverse events"
    assert results["ok"].values == {"x": 1}
    with pytest.raises(ZeroDivisionError):
        run_sections(_ctx(tmp_path), (Section("bug", "Bug", (), bug),))


def test_strict_mode_turns_a_missing_module_into_an_error(tmp_path):
    from mrdtrack.errors import MrdtrackError

    sections = (Section("waiting", "Waiting", ("mrdtrack.not_landed_yet:f",), lambda c, r: None),)
    with pytest.raises(MrdtrackError, match="cannot run"):
        run_sections(_ctx(tmp_path), sections, strict=True)
