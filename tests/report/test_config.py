"""Analysis options: documented defaults, TOML reading, presets, errors on unknown keys."""

from __future__ import annotations

import pytest

from mrdtrack.report.config import ReportConfig, config_from_mapping, load_config


def test_defaults_are_the_documented_ones():
    c = load_config(None)
    assert c.landmark == 24.0
    assert c.time_unit == "months"
    assert c.mrd_threshold == 1e-5
    assert c.confirmation_days == 365
    assert c.confirmation_tolerance_days == 0
    assert c.conf_type == "log"
    assert c.ties == "efron"
    assert c.evaluable_min_cycles == 4
    assert c.pfs_times == (12.0, 24.0, 36.0, 48.0, 60.0)
    assert c.landmark_days == pytest.approx(24 * 30.4375)


def test_toml_file_is_read(tmp_path):
    p = tmp_path / "analysis.toml"
    p.write_text(
        "[analysis]\nlandmark = 12\nties = 'breslow'\n[mrd]\nthreshold = 1e-6\n"
        "methods = ['NGF']\n[pfs]\ntimes = [12, 36]\n"
    )
    c = load_config(p)
    assert (c.landmark, c.ties, c.mrd_threshold) == (12.0, "breslow", 1e-6)
    assert c.mrd_methods == ("NGF",)
    assert c.pfs_times == (12.0, 36.0)
    assert c.source == "analysis.toml"


def test_sas_preset_and_explicit_keys_win():
    c = config_from_mapping({"convention": "SAS"})
    assert (c.conf_type, c.ties) == ("log-log", "breslow")
    c = config_from_mapping({"convention": "SAS", "analysis": {"ties": "efron"}})
    assert (c.conf_type, c.ties) == ("log-log", "efron")


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"analysis\.landmrk"):
        config_from_mapping({"analysis": {"landmrk": 24}})


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"analysis": {"conf_type": "logit"}}, "conf_type"),
        ({"analysis": {"landmark": -1}}, "landmark"),
        ({"mrd": {"threshold": 2}}, "threshold"),
        ({"mrd": {"confirmation_tolerance_days": 400}}, "tolerance"),
        ({"pfs": {"times": []}}, "pfs.times"),
        ({"analysis": {"time_unit": "weeks"}}, "time_unit"),
    ],
)
def test_invalid_values_are_rejected(raw, fragment):
    with pytest.raises(ValueError, match=fragment):
        config_from_mapping(raw)


def test_broken_toml_and_missing_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[analysis\nlandmark = 3")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_as_dict_is_plain():
    d = ReportConfig().as_dict()
    assert d["pfs_times"] == [12.0, 24.0, 36.0, 48.0, 60.0]
    assert "source" not in d
