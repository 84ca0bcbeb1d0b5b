"""A generated grid of bad invocations over every command of `mrdtrack` (part of the fuzz suite).

The commands are enumerated from the typer app, so a new command or option is covered without
editing this file. Each invocation changes one argument of an otherwise valid command line to a
bad value chosen by the argument's type and role (counts, proportions, choices, times, input
files, output files and folders, the study folder). Every one must end with exit code 2 (bad
argument), 3 (study invalid) or 4 (estimation problem): never 0, never an uncaught exception
(exit 1), never a traceback in the output.
"""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from mrdtrack.cli import app
from mrdtrack.io import example_study_path

runner = CliRunner()
TOML_INPUTS = {"params", "targets", "scenario", "config", "mapping"}
SCENARIO = Path(__file__).resolve().parents[1] / "src/mrdtrack/data/scenarios/schedule.toml"


def leaves(cmd=None, path=(), of=app):
    """(command path, click command) of every runnable command and sub-command."""
    cmd = cmd or typer.main.get_command(of)
    subs = getattr(cmd, "commands", None)
    if subs:
        out = []
        for name, sub in subs.items():
            out += leaves(sub, (*path, name), of)
        return out
    return [(path, cmd)]


COMMANDS = leaves()


def _role(param) -> str:
    """How a Path parameter is used: study, toml (input file), outdir, outfile, or unknown."""
    if param.param_type_name == "argument":
        return "study"
    if param.name in TOML_INPUTS:
        return "toml"
    helptext = (param.help or "").lower()
    if "folder" in helptext:
        return "outdir"
    if param.name in ("out", "figure", "write_params") or "write" in helptext or "here" in helptext:
        return "outfile"
    return "unknown"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Every invocation: (label, argv) pairs."""
    cases = make_grid(COMMANDS, tmp_path_factory.mktemp("grid"))
    assert len(cases) > 10 * len(COMMANDS), "the grid lost its parameters"
    return cases


def make_grid(commands, tmp: Path) -> list[tuple[str, list[str]]]:
    """Bad invocations of ``commands``: one bad value per parameter, by type and role."""
    a_file = tmp / "afile.txt"
    a_file.write_text("x\n")
    a_dir = tmp / "adir"
    a_dir.mkdir()
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("this is = [not toml\n")
    table_file = tmp / "patients.csv"
    shutil.copy(example_study_path("csv") / "patients.csv", table_file)
    invalid = tmp / "invalid_study"
    shutil.copytree(example_study_path("csv"), invalid)
    lines = (invalid / "patients.csv").read_text().splitlines()
    lines[1] = lines[1].replace(",F,", ",X,").replace(",M,", ",X,")
    (invalid / "patients.csv").write_text("\n".join(lines) + "\n")
    under_file = a_file / "sub" / "x.csv"  # its folder cannot exist: a file is in the way

    def base(path, cmd) -> list[str]:
        argv = list(path)
        for p in cmd.params:
            if not p.required:
                continue
            if p.param_type_name == "argument":
                argv.append(str(example_study_path("csv")))
            elif p.name == "scenario":
                argv += [p.opts[0], str(SCENARIO)]
            elif _role(p) == "outdir":
                argv += [p.opts[0], str(tmp / "out_dir")]
            else:
                argv += [p.opts[0], str(tmp / "out.csv")]
        return argv

    cases = []
    for path, cmd in commands:
        argv0 = base(path, cmd)
        label0 = " ".join(path)
        cases.append((f"{label0} --no-such-option", [*argv0, "--no-such-option"]))
        for p in cmd.params:
            kind = str(p.bare_type())  # the type's name: "int", "float", "str", "Path", ...
            if kind == "bool" or getattr(p, "is_flag", False) or p.is_eager:
                continue
            bad: list[str] = []
            if kind == "int":
                bad = ["-5", "abc"]
            elif kind == "float":
                bad = ["-1", "2", "nan", "abc"]
            elif kind == "str":
                bad = ["bogus-value"]
            elif kind == "Path":
                role = _role(p)
                bad = [str(under_file)]
                if role == "study":
                    bad += [str(tmp / "no_such_study"), str(table_file), str(invalid)]
                elif role == "toml":
                    bad += [str(tmp / "missing.toml"), str(a_dir), str(bad_toml)]
                elif role == "outdir":
                    bad += [str(a_file)]
                elif role == "outfile":
                    bad += [str(a_dir), str(tmp / "no_such_dir" / "x.csv")]
            for value in bad:
                argv = list(argv0)
                if p.param_type_name == "argument":
                    # replace the study argument (or add it when optional)
                    if p.required:
                        argv[len(path)] = value
                    else:
                        argv.insert(len(path), value)
                    label = f"{label0} STUDY={Path(value).name}"
                else:
                    argv += [p.opts[0], value]
                    label = f"{label0} {p.opts[0]} {Path(value).name if kind == 'Path' else value}"
                cases.append((label, argv))
    return cases


def run_grid(the_app, cases) -> tuple[collections.Counter, list[str]]:
    """Exit-code histogram and the failures (exit not in 2-4, or a traceback)."""
    codes: collections.Counter[int] = collections.Counter()
    failures = []
    for label, argv in cases:
        r = runner.invoke(the_app, argv)
        codes[r.exit_code] += 1
        if r.exit_code not in (2, 3, 4) or "Traceback" in r.output:
            failures.append(f"{label}: exit {r.exit_code}: {r.output[-300:]!r} {r.exception!r}")
    return codes, failures


def test_grid_covers_every_command(grid):
    names = {" ".join(p) for p, _ in COMMANDS}
    # the commands registered today; a new one joins the grid by itself
    assert {"validate", "export", "mrd classify", "simulate design", "predict", "report"} <= names
    covered = {label.split(" --")[0].split(" STUDY=")[0] for label, _ in grid}
    assert covered == names


def test_bad_invocations_exit_2_3_or_4(grid, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # default outputs (mrd_classes.csv, ...) would land here
    monkeypatch.delenv("MRDTRACK_SALT", raising=False)
    codes, failures = run_grid(app, grid)
    with capsys.disabled():
        print(f"\nCLI grid: {len(grid)} invocations; exit codes {dict(sorted(codes.items()))}")
    assert not failures, "\n".join(failures)
    assert set(codes) <= {2, 3, 4}
    assert not any(tmp_path.iterdir()), "a bad invocation wrote output"


def test_grid_catches_an_unchecked_command(tmp_path, monkeypatch):
    """The grid is a check that can fail: a command that trusts its arguments is caught."""
    toy = typer.Typer()

    @toy.command()
    def count(n: int = 1, out: Path = Path("x.csv")) -> None:
        """A command without argument checks."""
        if n < 0:
            raise RuntimeError("negative")  # an uncaught exception: exit 1

    @toy.command()
    def other() -> None:
        """Makes ``toy`` a group."""

    monkeypatch.chdir(tmp_path)
    cases = make_grid(leaves(of=toy), tmp_path)
    codes, failures = run_grid(toy, cases)
    assert codes[1] >= 1 and codes[0] >= 1  # n = -5 crashes; out = a folder "works"
    assert any("count --n -5: exit 1" in f for f in failures)
    assert any("count --out adir: exit 0" in f for f in failures)
