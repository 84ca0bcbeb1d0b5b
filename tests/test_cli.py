"""The command line: validate (exit codes 0/2/3, JSON), --version, sub-command registration."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrdtrack import __version__
from mrdtrack.cli import app
from mrdtrack.io import example_study_path

sys.path.insert(0, str(Path(__file__).parent))

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


def test_every_sub_command_group_is_registered_and_no_dead_one():
    """The sub-apps are plain imports: each exists, and no name points at a missing module."""
    groups = {g.name for g in app.registered_groups}
    assert groups == {"mrd", "multistate", "simulate", "predict", "report"}
    r = runner.invoke(app, ["fit", "--help"])
    assert r.exit_code == 2  # no `fit` command (there is no mrdtrack.survival.cli)


def test_pretty_exceptions_hide_locals():
    assert app.pretty_exceptions_show_locals is False


# ---- messages, argument checks, parity (issue 18) --------------------------------------------


def _study_copy(tmp_path, kind="csv"):
    dst = tmp_path / kind
    shutil.copytree(example_study_path(kind), dst)
    return dst


def _bad_sex(folder, rows=(1,)):
    lines = (folder / "patients.csv").read_text().splitlines()
    for r in rows:
        lines[r] = lines[r].replace(",M,", ",X,").replace(",F,", ",X,")
    (folder / "patients.csv").write_text("\n".join(lines) + "\n")


def test_validate_groups_problems_by_rule_and_prints_hints_verbatim(tmp_path):
    study = _study_copy(tmp_path)
    _bad_sex(study, rows=(1, 2, 3))
    r = runner.invoke(app, ["validate", str(study), "--max-per-rule", "2"])
    assert r.exit_code == 3
    assert r.output.splitlines() == [
        "3 problem(s) by severity, rule, file and column (1 groups):",
        "error [unknown_code] patients.csv, column 'sex': 3 record(s)",
        "  value is not one of the codes F, M",
        "  hint: recode it under [tables.patients.codes.sex] in the study map",
        "  rows: 1, 2 ... and 1 more (--max-per-rule)",
        "3 error(s); nothing was built. Fix the errors and run again.",
    ]
    r = runner.invoke(app, ["validate", str(study), "--json", "--max-per-rule", "1"])
    data = json.loads(r.output)
    assert data["n_problems"] == 3 and data["n_errors"] == 3
    assert data["by_rule"] == [
        {
            "severity": "error",
            "rule": "unknown_code",
            "file": "patients.csv",
            "column": "sex",
            "n": 3,
            "message": "value is not one of the codes F, M",
            "hint": "recode it under [tables.patients.codes.sex] in the study map",
        }
    ]
    assert [p["row"] for p in data["problems"]] == [1]
    r = runner.invoke(app, ["validate", str(study), "--json", "--max-per-rule", "0"])
    assert [p["row"] for p in json.loads(r.output)["problems"]] == [1, 2, 3]


def test_validate_table_emptied_by_exclusions_exits_3(tmp_path):
    study = _study_copy(tmp_path)
    lines = (study / "mrd.csv").read_text().splitlines()
    header = lines[0].split(",")
    i = header.index("day")
    rows = [r.split(",") for r in lines[1:]]
    for r in rows:
        r[i] = "14/01/2018"  # a date where a study day is expected, and no study map
    (study / "mrd.csv").write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    r = runner.invoke(app, ["validate", str(study), "--json"])
    assert r.exit_code == 3
    data = json.loads(r.output)
    assert data["by_rule"][0]["rule"] == "all_records_excluded"
    assert data["by_rule"][0]["message"] == (
        f"every record of table 'mrd' was excluded (unparsable_value: {len(rows)})"
    )


def test_a_file_for_the_study_folder_is_a_usage_error(tmp_path):
    f = example_study_path("csv") / "patients.csv"
    for argv in (["validate", str(f)], ["mrd", "classify", str(f)], ["predict", str(f)]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 2, argv
        assert "expected a study folder, got the file patients.csv" in r.output


def test_export_salt_without_pseudonymise_is_an_error(tmp_path):
    r = runner.invoke(
        app,
        ["export", str(example_study_path("csv")), "--out", str(tmp_path / "o"), "--salt", "s"],
    )
    assert r.exit_code == 2
    assert "--salt is given without --pseudonymise" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "--n-boot", "-1"], "--n-boot must be at least 0, got -1"),
        (["mrd", "figures", "--max-patients", "0"], "--max-patients must be at least 1, got 0"),
        (
            [
                "simulate",
                "design",
                "--scenario",
                "{scenario}",
                "--out",
                "{tmp}/o",
                "--workers",
                "-2",
            ],
            "--workers must be at least 0, got -2",
        ),
        (["simulate", "calibrate", "-n", "0"], "--replicates must be at least 20, got 0"),
        (["simulate", "calibrate", "-n", "-5"], "--replicates must be at least 20, got -5"),
        (
            ["simulate", "design", "--scenario", "schedule", "--out", "{tmp}/o"],
            "scenario file not found: schedule (the shipped scenarios",
        ),
        (
            ["simulate", "design", "--scenario", "{file}", "--out", "{tmp}/o"],
            "--scenario: not valid TOML",
        ),
        (
            ["simulate", "design", "--scenario", "{toml}", "--out", "{tmp}/o"],
            "--scenario: scen.toml: study must be one of",
        ),
        (
            ["simulate", "demo", "--out", "{tmp}/d", "--params", "{tmp}/none.toml"],
            "--params: TOML file not found: none.toml",
        ),
        (["mrd", "classify", "--out", "{tmp}/nodir/x.csv"], "folder does not exist: nodir"),
        (["mrd", "figures", "--outdir", "{file}"], "--outdir: expected a folder, got the file"),
        (["predict", "--figure", "{file}/x.png"], "is a file, not a folder"),
        (["predict", "--patient", "no-such-id"], "--patient: no such patient in the study"),
        (["predict", "--at", "24x"], "--at: not a time"),
        (["report", "--out", "{file}"], "--out: expected a folder, got the file"),
        (["report", "--salt", "s", "--out", "{tmp}/r"], "--salt is given without --pseudonymise"),
    ],
)
def test_bad_arguments_one_line_exit_2(tmp_path, argv, message):
    from test_cli_grid import SCENARIO

    a_file = tmp_path / "afile.txt"
    a_file.write_text("x")
    toml = tmp_path / "scen.toml"
    toml.write_text('study = "nonsense"\n')
    argv = [a.format(tmp=tmp_path, file=a_file, scenario=SCENARIO, toml=toml) for a in argv]
    r = runner.invoke(app, argv)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_mrd_dataset_option_for_adam(tmp_path):
    study = _study_copy(tmp_path, "adam")
    (study / "admrd.xpt").rename(study / "adlbmrd.xpt")
    r = runner.invoke(app, ["validate", str(study), "--adam"])
    assert r.exit_code == 3 and "--mrd-dataset" in r.output  # the ADaM hint names the option
    r = runner.invoke(app, ["validate", str(study), "--adam", "--mrd-dataset", "adlbmrd"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["validate", str(example_study_path("csv")), "--mrd-dataset", "x"])
    assert r.exit_code == 2 and "applies to ADaM studies only" in r.output
    o = tmp_path / "status.csv"
    r = runner.invoke(app, ["mrd", "status", str(study), "--out", str(o)])
    assert r.exit_code == 3
    argv = ["mrd", "status", str(study), "--mrd-dataset", "adlbmrd", "--out", str(o)]
    r = runner.invoke(app, argv)
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["export", str(study), "--mrd-dataset", "adlbmrd", "--out", str(o.parent / "e")]
    )
    assert r.exit_code == 0, r.output
    for cmd in (["predict"], ["multistate", "fit"], ["report"]):
        r = runner.invoke(app, [*cmd, str(example_study_path("csv")), "--mrd-dataset", "x"])
        assert r.exit_code == 2 and "applies to ADaM studies only" in r.output, cmd


def test_classify_imaging_loss_of_negativity(tmp_path):
    import polars as pl

    study = _study_copy(tmp_path)
    mrd = pl.read_csv(study / "mrd.csv", infer_schema_length=0)
    # a patient negative in marrow twice, then a positive PET-CT scan
    pid = mrd.get_column("patient_id")[0]
    days = [int(d) for d in mrd.filter(pl.col("patient_id") == pid).get_column("day")]
    scan = {c: None for c in mrd.columns} | {
        "patient_id": pid,
        "day": str(max(days) + 30),
        "method": "PET-CT",
        "specimen": "imaging",
        "result": "positive",
    }
    neg = mrd.filter(pl.col("patient_id") == pid).with_columns(
        pl.lit("negative").alias("result"), pl.lit(None, pl.String).alias("clonal_fraction")
    )
    mrd = pl.concat([mrd.filter(pl.col("patient_id") != pid), neg, pl.DataFrame([scan])])
    mrd.write_csv(study / "mrd.csv")
    out = {}
    for flag in ([], ["--imaging"]):
        o = tmp_path / f"c{len(flag)}.csv"
        r = runner.invoke(app, ["mrd", "classify", str(study), "--out", str(o), *flag])
        assert r.exit_code == 0, r.output
        t = pl.read_csv(o, infer_schema_length=0)
        out[bool(flag)] = t.filter(pl.col("patient_id") == pid).get_column("mrd_class")[0]
    assert out[False] != "loss_of_negativity"
    assert out[True] == "loss_of_negativity"
    r = runner.invoke(app, ["mrd", "classify", "--specimens", "marrow"])
    assert r.exit_code == 2 and "--specimens must be one of" in r.output


def test_report_pseudonymise_passes_a_pseudonymised_cohort(tmp_path, monkeypatch):
    import mrdtrack.report.cli as report_cli

    seen = {}

    def fake_build_report(study, out, **kwargs):
        seen["study"], seen["argv"] = study, kwargs["argv"]
        raise ValueError("stop here")  # exit 2, nothing written

    monkeypatch.setattr(report_cli, "build_report", fake_build_report)
    monkeypatch.setattr(
        "sys.argv", ["mrdtrack", "report", "--pseudonymise", "--salt", "s3cret-salt"]
    )
    argv = ["report", "--out", str(tmp_path / "r"), "--pseudonymise", "--salt", "s3cret-salt"]
    r = runner.invoke(app, argv)
    assert r.exit_code == 2
    ids = seen["study"].patients.get_column("patient_id").to_list()
    assert all(i.startswith("P-") for i in ids) and len(ids) == 108
    assert "s3cret-salt" not in " ".join(seen["argv"]) and "***" in seen["argv"]
    r = runner.invoke(
        app, ["report", "--out", str(tmp_path / "r"), "--pseudonymise"], env={"MRDTRACK_SALT": ""}
    )
    assert r.exit_code == 2 and "--pseudonymise needs --salt" in r.output


def test_report_validation_table_keeps_bracketed_hints(tmp_path):
    study = _study_copy(tmp_path)
    _bad_sex(study)
    r = runner.invoke(app, ["report", str(study), "--out", str(tmp_path / "r"), "--no-pdf"])
    assert r.exit_code == 3
    assert "[tables.patients.codes.sex]" in r.output
