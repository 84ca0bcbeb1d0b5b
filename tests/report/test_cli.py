"""`mrdtrack report` on the command line: exit codes, validation report, no partial output."""

from __future__ import annotations

import hashlib
import json

import typer
from report_synthetic import make_tables, write_study
from typer.testing import CliRunner

from mrdtrack.report.cli import app

runner = CliRunner()


def test_broken_study_exits_3_with_the_validation_report_and_no_folder(tmp_path):
    tables = make_tables()
    tables["outcomes"] = tables["outcomes"].drop("last_contact_day")
    study = write_study(tmp_path / "broken", tables)
    out = tmp_path / "out"
    r = runner.invoke(app, [str(study), "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "validation failed" in r.output.lower()
    assert "last_contact_day" in r.output
    assert "No report written" in r.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken"]


def test_bad_config_exits_2(tmp_path):
    cfg = tmp_path / "analysis.toml"
    cfg.write_text("[analysis]\nlandmrk = 24\n")
    r = runner.invoke(
        app, [str(write_study(tmp_path / "s")), "--config", str(cfg), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2
    assert "landmrk" in r.output
    assert not (tmp_path / "o").exists()


def test_report_on_a_study_folder_with_config_and_json(tmp_path):
    cfg = tmp_path / "analysis.toml"
    cfg.write_text("[analysis]\nlandmark = 12\n")
    # the folder name becomes the study name in the report: it must be escaped
    study = write_study(tmp_path / "s<script>alert(1)<\\script>'\"")
    out = tmp_path / "out"
    r = runner.invoke(
        app, [str(study), "--config", str(cfg), "--out", str(out), "--no-pdf", "--json"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{") :])
    assert summary["html"].endswith("report.html")
    results = json.loads((out / "results.json").read_text())
    assert results["options"]["landmark"] == 12.0
    assert results["provenance"]["config_file"]["file"] == "analysis.toml"
    files = {i["file"] for i in results["provenance"]["inputs"]}
    assert {"patients.csv", "mrd.csv", "outcomes.csv"} <= files
    digests = {i["file"]: i["sha256"] for i in results["provenance"]["inputs"]}
    for name, digest in digests.items():
        assert digest == hashlib.sha256((study / name).read_bytes()).hexdigest(), name
    run = json.loads((out / "run.json").read_text())
    assert run["command"].startswith("mrdtrack report")
    assert run["started"] <= run["finished"]
    html = (out / "report.html").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)" in html


def test_app_registers_as_a_subcommand(tmp_path):
    main = typer.Typer()

    @main.command()
    def validate() -> None:  # pragma: no cover - a sibling command
        pass

    main.add_typer(app, name="report")
    r = runner.invoke(main, ["report", "--help"])
    assert r.exit_code == 0
    assert "--out" in r.output


def test_unknown_format_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(
        app, [str(write_study(tmp_path / "s")), "--format", "html,xlsx", "--out", str(out)]
    )
    assert r.exit_code == 2, r.output
    assert "xlsx" in r.output
    assert not out.exists()


def test_format_docx_rtf_writes_the_tables_and_says_where(tmp_path):
    import pytest

    pytest.importorskip("docx")
    pytest.importorskip("rtflite")
    out = tmp_path / "o"
    r = runner.invoke(
        app,
        [
            str(write_study(tmp_path / "s")),
            "--format",
            "html,docx,rtf",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout[r.stdout.index("{") :])
    assert summary["pdf"] is None
    assert summary["tables_docx"].endswith("tables.docx")
    assert summary["tables_rtf"].endswith("tables.rtf")
    assert (out / "tables").is_dir()
