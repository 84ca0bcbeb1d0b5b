"""The command line: validate (exit codes 0/2/3, JSON), --version, sub-command registration."""

from __future__ import annotations

import json
import shutil
import types

import pytest
import typer
from typer.testing import CliRunner

from mrdtrack import __version__
from mrdtrack.cli import app, register_subcommands
from mrdtrack.io import example_study_path

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert r.output.strip() == f"mrdtrack {__version__}"


def test_validate_ok_same_summary_for_csv_and_adam():
    a = runner.invoke(app, ["validate", str(example_study_path("csv"))])
    b = runner.invoke(app, ["validate", str(example_study_path("adam")), "--adam"])
    assert a.exit_code == 0 and b.exit_code == 0
    assert a.output == b.output
    assert "patients" in a.output and "20" in a.output


def test_validate_json():
    r = runner.invoke(app, ["validate", str(example_study_path("mapped")), "--json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["valid"] is True
    assert data["counts"]["patients"] == 20


def test_validate_errors_exit_3(tmp_path):
    src = example_study_path("csv")
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "patients.csv").read_text().splitlines()
    text[1] = text[1].replace(",M,", ",X,").replace(",F,", ",X,")
    (tmp_path / "patients.csv").write_text("\n".join(text) + "\n")
    r = runner.invoke(app, ["validate", str(tmp_path), "--json"])
    assert r.exit_code == 3
    data = json.loads(r.output)
    assert data["valid"] is False
    (p,) = data["problems"]
    assert (p["file"], p["row"], p["column"], p["rule"]) == (
        "patients.csv",
        1,
        "sex",
        "unknown_code",
    )
    r = runner.invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 3
    assert "unknown_code" in r.output
    assert "001" not in r.output  # no identifiers


def test_validate_usage_errors():
    assert runner.invoke(app, ["validate", "/no/such/study"]).exit_code == 2
    assert runner.invoke(app, ["validate", "--bogus"]).exit_code == 2
    r = runner.invoke(app, ["validate", str(example_study_path("csv")), "--mapping", "/no.toml"])
    assert r.exit_code == 2


def test_validate_default_demo_study():
    r = runner.invoke(app, ["validate", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.output)["valid"] is True


def test_export_pseudonymised(tmp_path):
    r = runner.invoke(
        app,
        [
            "export",
            str(example_study_path("csv")),
            "--out",
            str(tmp_path),
            "--pseudonymise",
            "--salt",
            "a-long-secret-salt",
        ],
    )
    assert r.exit_code == 0, r.output
    text = (tmp_path / "patients.csv").read_text()
    assert "P-" in text and "\n001," not in text
    r = runner.invoke(
        app,
        ["export", str(example_study_path("csv")), "--out", str(tmp_path), "--pseudonymise"],
        env={"MRDTRACK_SALT": ""},
    )
    assert r.exit_code == 2


def test_register_skips_only_missing_modules(monkeypatch):
    target = typer.Typer()
    added = register_subcommands(target, (("nothing", "mrdtrack.no_such_package.cli"),))
    assert added == []
    # an ImportError raised inside an existing module is a bug: it propagates
    broken = types.ModuleType("mrdtrack._broken_cli_probe")

    def fake_import(name):
        raise ImportError("inner failure", name="some_dependency")

    monkeypatch.setattr("importlib.import_module", fake_import)
    with pytest.raises(ImportError):
        register_subcommands(target, (("x", broken.__name__),))


def test_pretty_exceptions_hide_locals():
    assert app.pretty_exceptions_show_locals is False
