"""`mrdtrack mrd ...` commands on the constructed reference study (read with read_study)."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mrdtrack.mrd.cli import app

REF = Path(__file__).parents[1] / "reference" / "mrd"
runner = CliRunner()


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("study")
    for table in ("patients", "outcomes", "mrd"):
        shutil.copy(REF / f"study_{table}.csv", folder / f"{table}.csv")
    return folder


def test_classify_csv_and_parquet(study, tmp_path):
    out = tmp_path / "classes.csv"
    res = runner.invoke(app, ["classify", str(study), "--landmark", "24m", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pl.read_csv(out, schema_overrides={"patient_id": pl.String, "evidence_days": pl.String})
    assert t.height == 40 and set(t["window_end"].to_list()) == {730}
    assert {"mrd_class", "known_day", "evidence_days", "reason"} <= set(t.columns)
    pq = tmp_path / "classes.parquet"
    res = runner.invoke(app, ["classify", str(study), "--out", str(pq)])
    assert res.exit_code == 0, res.output
    whole = pl.read_parquet(pq)
    assert whole.schema["evidence_days"] == pl.List(pl.Int64)
    assert whole["window_end"].null_count() == 40


def test_other_commands(study, tmp_path):
    for args in (
        [
            "status",
            str(study),
            "--out",
            str(tmp_path / "s.csv"),
            "--concordance",
            str(tmp_path / "conc.csv"),
        ],
        [
            "transitions",
            str(study),
            "--out",
            str(tmp_path / "t.csv"),
            "--prevalence",
            str(tmp_path / "p.csv"),
        ],
        [
            "landmark",
            str(study),
            "--at",
            "12m",
            "--out",
            str(tmp_path / "l.csv"),
            "--excluded",
            str(tmp_path / "e.csv"),
        ],
        ["timedep", str(study), "--lag", "30", "--out", str(tmp_path / "td.csv")],
        ["figures", str(study), "--outdir", str(tmp_path / "figs"), "--format", "png"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args[0], res.output)
    for name in ("s", "conc", "t", "p", "l", "e", "td"):
        assert (tmp_path / f"{name}.csv").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "alluvial.csv",
        "alluvial.png",
        "prevalence.csv",
        "prevalence.png",
        "swimmer.csv",
        "swimmer.png",
    ]


def test_exit_codes(study, tmp_path):
    res = runner.invoke(app, ["classify", str(study), "--out", str(tmp_path / "x.txt")])
    assert res.exit_code == 2
    # a study folder that does not exist is a usage error (exit 2, as `mrdtrack validate`)
    res = runner.invoke(
        app, ["classify", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.csv")]
    )
    assert res.exit_code == 2 and "does not exist" in res.output
    (tmp_path / "broken").mkdir()
    res = runner.invoke(
        app, ["classify", str(tmp_path / "broken"), "--out", str(tmp_path / "x.csv")]
    )
    assert res.exit_code == 3
    res = runner.invoke(
        app, ["classify", str(study), "--threshold", "3", "--out", str(tmp_path / "x.csv")]
    )
    assert res.exit_code == 2 and "threshold" in res.output


def test_adam_example_study(tmp_path):
    adam = Path(__file__).parents[2] / "examples" / "adam_study"
    out = tmp_path / "c.csv"
    res = runner.invoke(app, ["classify", str(adam), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pl.read_csv(out).height > 0
