"""``mrdtrack mrd ...``: MRD status, trajectory classes, transitions, landmark and
(start, stop] data, figures.

Each command reads a study folder (tables or CDISC ADaM, `mrdtrack.io.load_study`; the embedded
demo study when none is given), writes its table as CSV or Parquet by the suffix of ``--out``
and prints a summary on stderr. Exit codes (`mrdtrack._cli_common`): 0 ok, 2 usage, 3 study
validation failed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from mrdtrack import _cli_common as chk
from mrdtrack._cli_common import EXIT_INVALID, EXIT_USAGE, fail
from mrdtrack.cohort import Cohort
from mrdtrack.errors import MrdtrackError, StudyValidationError
from mrdtrack.io import load_study
from mrdtrack.mrd import (
    call_status,
    classify_trajectories,
    landmark_data,
    preset_for,
    time_dependent_data,
)
from mrdtrack.mrd import transitions as mrd_transitions
from mrdtrack.mrd.figures import alluvial_plot, prevalence_plot, save_figure, swimmer_plot
from mrdtrack.schema import SPECIMEN_CODES

app = typer.Typer(
    name="mrd",
    help="MRD dynamics: status calls, trajectory classes (IMWG, iwCLL, ELN, European ALL "
    "presets), transitions, landmark data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback with locals would print patient data
    add_completion=False,
)

StudyArg = Annotated[
    Path | None,
    typer.Argument(help="Study folder (CSV/Parquet/Excel or ADaM); default: the demo study."),
]
MapOpt = Annotated[Path | None, typer.Option("--mapping", "-m", help="Study map (TOML).")]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        help="MRD threshold (default: the disease preset's; myeloma IMWG 1e-5, CLL 1e-4, "
        "AML flow 1e-3, ALL 1e-4).",
    ),
]
DiseaseOpt = Annotated[
    str | None,
    typer.Option(
        "--disease",
        help="Disease preset: myeloma, cll, aml or all (default: the study's, from [study] "
        "disease of the study map, else myeloma).",
    ),
]
MrdDatasetOpt = Annotated[
    str | None,
    typer.Option("--mrd-dataset", help="ADaM: name of the MRD BDS dataset (default admrd)."),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Output table: .csv or .parquet.")]


def _load(
    study: Path | None,
    mapping: Path | None,
    mrd_dataset: str | None = None,
    disease: str | None = None,
) -> Cohort:
    """Read the study (tables folder or ADaM, detected by `mrdtrack.io.load_study`).

    The Cohort carries its disease preset (``[study] disease`` of the study map, validated
    with the tables; myeloma by default); ``--disease`` overrides it (`Cohort.with_disease`:
    the study's options are kept for the same disease, else the preset's defaults apply).
    """
    extra = {} if mrd_dataset is None else {"mrd_dataset": mrd_dataset}
    try:
        cohort = load_study(study, mapping=mapping, **extra)
    except StudyValidationError as err:
        fail(str(err), EXIT_INVALID)
    except ValueError as err:
        fail(f"error: {err}", EXIT_USAGE)
    if disease is None:
        return cohort
    try:
        return cohort.with_disease(disease)
    except StudyValidationError as err:
        fail(f"error: --disease: {err}", EXIT_USAGE)


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns (evidence days) as ';'-joined text, for CSV."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    return frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(";").alias(c) for c in lists
    )


def _check_out(*paths: Path | None, names: tuple[str, ...] = ("--out",)) -> None:
    for out, name in zip(paths, (*names, *["--out"] * len(paths)), strict=False):
        if out is not None and out.is_dir():
            fail(f"error: {name}: expected a file, got a folder: {out.name}", EXIT_USAGE)
        if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
            fail(f"output files must end in .csv or .parquet, got {out.suffix!r}", EXIT_USAGE)
        chk.check_out_file(out, name)


def _check_common(study: Path | None, mapping: Path | None, threshold: float | None) -> None:
    """Arguments every mrd command shares, checked before the study is read (exit 2)."""
    chk.check_study(study)
    chk.check_mapping(mapping)
    chk.check_fraction(threshold, "--threshold")


_POSITIVE_BELOW = ("positive", "negative")


def write_table(frame: pl.DataFrame, out: Path) -> None:
    """Write ``frame`` as CSV (list columns joined with ';') or Parquet, by suffix."""
    suffix = out.suffix.lower()
    if suffix == ".csv":
        _flatten(frame).write_csv(out)
    elif suffix == ".parquet":
        frame.write_parquet(out)
    else:
        fail(f"--out must end in .csv or .parquet, got {out.suffix!r}", EXIT_USAGE)


def _run(fn: Any) -> Any:
    try:
        return fn()
    except StudyValidationError as err:
        fail(str(err), EXIT_INVALID)
    except (MrdtrackError, ValueError) as err:
        fail(f"error: {err}", EXIT_USAGE)


@app.command()
def classify(
    study: StudyArg = None,
    out: OutOpt = Path("mrd_classes.csv"),
    landmark: Annotated[
        str | None,
        typer.Option(help="Use assessments up to this day only, e.g. 24m or 730 (default: all)."),
    ] = None,
    threshold: ThresholdOpt = None,
    confirm_days: Annotated[int, typer.Option(help="Sustained: negatives this far apart.")] = 365,
    tolerance_days: Annotated[int, typer.Option(help="Allowed shortfall of that gap.")] = 0,
    positive_below_threshold: Annotated[
        str | None,
        typer.Option(
            help="Call of a positive with clonal fraction below the threshold: positive or "
            "negative (default: the preset's; myeloma positive)."
        ),
    ] = None,
    conversion_then_sustained: Annotated[
        str,
        typer.Option(help="Class of pos->neg->neg (confirmed): sustained_negative or conversion."),
    ] = "sustained_negative",
    mapping: MapOpt = None,
    mrd_dataset: MrdDatasetOpt = None,
    specimens: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated specimens whose assays enter the calls "
            "(bone_marrow, peripheral_blood, imaging); default: bone marrow."
        ),
    ] = None,
    imaging: Annotated[
        bool,
        typer.Option(
            "--imaging",
            help="IMWG imaging-plus: marrow and imaging (PET-CT) must both be negative; a "
            "positive scan after negativity is loss of negativity.",
        ),
    ] = False,
    disease: DiseaseOpt = None,
) -> None:
    """Per-patient MRD trajectory class with its evidence (rules of the disease preset)."""
    _check_common(study, mapping, threshold)
    chk.check_time(landmark, "--landmark")
    chk.check_int(confirm_days, "--confirm-days", 1)
    chk.check_int(tolerance_days, "--tolerance-days", 0)
    chk.check_choice(positive_below_threshold, "--positive-below-threshold", _POSITIVE_BELOW)
    chk.check_choice(
        conversion_then_sustained,
        "--conversion-then-sustained",
        ("sustained_negative", "conversion"),
    )
    extra: dict[str, Any] = {}
    if specimens is not None:
        chosen = tuple(v.strip() for v in specimens.split(",") if v.strip())
        if not chosen:
            fail("error: --specimens: give at least one specimen", EXIT_USAGE)
        for v in chosen:
            chk.check_choice(v, "--specimens", SPECIMEN_CODES)
        extra["specimens"] = chosen
    if imaging:
        base = extra.get("specimens", ("bone_marrow",))
        extra["specimens"] = tuple(dict.fromkeys((*base, "imaging")))
        extra["combine"] = "all_assays"
    _check_out(out)
    cohort = _load(study, mapping, mrd_dataset, disease)
    res = _run(
        lambda: classify_trajectories(
            cohort,
            window_end=landmark,
            threshold=threshold,
            confirm_days=confirm_days,
            tolerance_days=tolerance_days,
            sustained_after_conversion=conversion_then_sustained,  # type: ignore[arg-type]
            positive_below_threshold=positive_below_threshold,  # type: ignore[arg-type]
            **extra,
        )
    )
    write_table(res.table(), out)
    typer.echo(res.summary(), err=True)
    typer.echo(f"wrote {res.table().height} rows to {out}", err=True)


@app.command()
def status(
    study: StudyArg = None,
    out: OutOpt = Path("mrd_status.csv"),
    level: Annotated[str, typer.Option(help="visit or assay")] = "visit",
    threshold: ThresholdOpt = None,
    concordance: Annotated[
        Path | None, typer.Option(help="Also write the assay concordance table here.")
    ] = None,
    positive_below_threshold: Annotated[
        str | None,
        typer.Option(
            help="Call of a positive with clonal fraction below the threshold: positive or "
            "negative (default: the preset's; myeloma positive)."
        ),
    ] = None,
    mapping: MapOpt = None,
    mrd_dataset: MrdDatasetOpt = None,
    disease: DiseaseOpt = None,
) -> None:
    """MRD status call per visit (or per assay) with the reason of each call."""
    _check_common(study, mapping, threshold)
    chk.check_choice(level, "--level", ("visit", "assay"))
    chk.check_choice(positive_below_threshold, "--positive-below-threshold", _POSITIVE_BELOW)
    _check_out(out, concordance, names=("--out", "--concordance"))
    cohort = _load(study, mapping, mrd_dataset, disease)
    calls = _run(
        lambda: call_status(
            cohort,
            threshold,
            positive_below_threshold=positive_below_threshold,  # type: ignore[arg-type]
        )
    )
    write_table(_run(lambda: calls.table(level)), out)
    if concordance is not None:
        write_table(calls.concordance(), concordance)
    typer.echo(calls.summary(), err=True)


@app.command()
def transitions(
    study: StudyArg = None,
    out: OutOpt = Path("mrd_transitions.csv"),
    prevalence: Annotated[
        Path | None, typer.Option(help="Also write state prevalence by visit here.")
    ] = None,
    states: Annotated[
        Path | None, typer.Option(help="Also write the patient x visit state table here.")
    ] = None,
    visit_window: Annotated[int, typer.Option(help="Visit window half-width, days.")] = 90,
    threshold: ThresholdOpt = None,
    mapping: MapOpt = None,
    mrd_dataset: MrdDatasetOpt = None,
    disease: DiseaseOpt = None,
) -> None:
    """Yearly visit-to-visit MRD transition counts with row percentages."""
    _check_common(study, mapping, threshold)
    chk.check_int(visit_window, "--visit-window", 1)
    _check_out(out, prevalence, states, names=("--out", "--prevalence", "--states"))
    cohort = _load(study, mapping, mrd_dataset, disease)
    res = _run(lambda: mrd_transitions(cohort, threshold, visit_window_days=visit_window))
    write_table(res.table(), out)
    if prevalence is not None:
        write_table(res.prevalence, prevalence)
    if states is not None:
        write_table(res.states, states)
    typer.echo(res.summary(), err=True)


@app.command()
def landmark(
    study: StudyArg = None,
    out: OutOpt = Path("mrd_landmark.csv"),
    at: Annotated[str, typer.Option(help="Landmark: 24m, 2y, 730…")] = "24m",
    excluded: Annotated[
        Path | None, typer.Option(help="Also write the excluded patients and reasons here.")
    ] = None,
    unit: Annotated[str, typer.Option(help="Time unit: days, months, years.")] = "days",
    threshold: ThresholdOpt = None,
    mapping: MapOpt = None,
    mrd_dataset: MrdDatasetOpt = None,
    disease: DiseaseOpt = None,
) -> None:
    """Landmark PFS data: patients at risk at the landmark, class from data up to it."""
    _check_common(study, mapping, threshold)
    chk.check_time(at, "--at")
    chk.check_choice(unit, "--unit", ("days", "months", "years"))
    _check_out(out, excluded, names=("--out", "--excluded"))
    cohort = _load(study, mapping, mrd_dataset, disease)
    res = _run(lambda: landmark_data(cohort, at=at, threshold=threshold, unit=unit))
    write_table(res.table(), out)
    if excluded is not None:
        write_table(res.excluded, excluded)
    typer.echo(res.summary(), err=True)


@app.command()
def timedep(
    study: StudyArg = None,
    out: OutOpt = Path("mrd_timedep.csv"),
    lag: Annotated[int, typer.Option(help="Days from sample to effect.")] = 0,
    unit: Annotated[str, typer.Option(help="Time unit: days, months, years.")] = "days",
    threshold: ThresholdOpt = None,
    mapping: MapOpt = None,
    mrd_dataset: MrdDatasetOpt = None,
    disease: DiseaseOpt = None,
) -> None:
    """(start, stop] PFS rows with current MRD status (as R survival::tmerge)."""
    _check_common(study, mapping, threshold)
    chk.check_int(lag, "--lag", 0)
    chk.check_choice(unit, "--unit", ("days", "months", "years"))
    _check_out(out)
    cohort = _load(study, mapping, mrd_dataset, disease)
    res = _run(lambda: time_dependent_data(cohort, lag=lag, threshold=threshold, unit=unit))
    write_table(res.table(), out)
    typer.echo(res.summary(), err=True)


@app.command()
def figures(
    study: StudyArg = None,
    outdir: Annotated[Path, typer.Option(help="Folder for the figures and their numbers.")] = Path(
        "mrd_figures"
    ),
    fmt: Annotated[str, typer.Option("--format", help="svg, png or pdf")] = "svg",
    max_patients: Annotated[int, typer.Option(help="Lanes in the swimmer plot.")] = 60,
    lane_labels: Annotated[
        str, typer.Option(help="Swimmer lane labels: number, id or none.")
    ] = "number",
    threshold: ThresholdOpt = None,
    mapping: MapOpt = None,
    mrd_dataset: MrdDatasetOpt = None,
    disease: DiseaseOpt = None,
) -> None:
    """Swimmer plot, alluvial diagram and prevalence plot, each with a CSV of its numbers."""
    if fmt not in ("svg", "png", "pdf"):
        fail("--format must be svg, png or pdf", EXIT_USAGE)
    _check_common(study, mapping, threshold)
    chk.check_int(max_patients, "--max-patients", 1)
    chk.check_choice(lane_labels, "--lane-labels", ("number", "id", "none"))
    chk.check_out_dir(outdir, "--outdir")
    cohort = _load(study, mapping, mrd_dataset, disease)
    if threshold is None:
        threshold = _run(lambda: preset_for(cohort).threshold)
    outdir.mkdir(parents=True, exist_ok=True)
    made = {
        "swimmer": _run(
            lambda: swimmer_plot(
                cohort, threshold, max_patients=max_patients, lane_labels=lane_labels
            )
        ),
        "alluvial": _run(lambda: alluvial_plot(cohort, threshold)),
        "prevalence": _run(lambda: prevalence_plot(cohort, threshold)),
    }
    for name, (fig, frame) in made.items():
        save_figure(fig, outdir / f"{name}.{fmt}")
        write_table(frame, outdir / f"{name}.csv")
    typer.echo(f"wrote {len(made)} figures and their numbers to {outdir}", err=True)


def main() -> None:  # pragma: no cover - entry point for `python -m mrdtrack.mrd.cli`
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
