"""MRD quantities shared by several sections, computed once per run with the report's options."""

from __future__ import annotations

import dataclasses
import math

import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.mrd import (
    Preset,
    StatusCalls,
    TrajectoryClasses,
    call_status,
    classify_trajectories,
    preset_for,
)
from mrdtrack.mrd import baseline_status as mrd_baseline_status
from mrdtrack.report.config import ReportConfig
from mrdtrack.report.sections._base import Context


def preset(ctx: Context) -> Preset:
    """The study's disease preset (`mrdtrack.mrd.presets.preset_for`; myeloma by default)."""
    return ctx.cached("mrd_preset", lambda: preset_for(ctx.cohort))


def class_labels(ctx: Context) -> dict[str, str]:
    """Class code -> label, in the words of the study's disease preset."""
    return dict(preset(ctx).class_labels)


def status_labels(ctx: Context) -> dict[str, str]:
    """Status code -> label of the study's disease preset (CLL: uMRD / MRD+)."""
    return dict(preset(ctx).status_labels)


def disease_methods_text(ctx: Context) -> str | None:
    """Methods sentence for a non-myeloma preset (None for myeloma: IMWG text unchanged)."""
    p = preset(ctx)
    if p.name == "myeloma":
        return None
    classes = ", ".join(p.label(k) for k in p.classes if k != "not_classifiable")
    opts = ", ".join(f"{k} = {v}" for k, v in sorted(p.options.items())) or "none"
    return (
        f"MRD status and classes follow the {p.title.lower()} preset ({p.guideline}; rules "
        f"and sources in docs/methods/mrd.md): MRD level {ctx.config.mrd_threshold:g}; "
        f"specimens {', '.join(p.specimens)} (in order of priority); study-map options "
        f"{opts}. Classes: {classes}."
    )


def config_for_disease(cfg: ReportConfig, cohort: Cohort) -> ReportConfig:
    """The report options with the disease preset's MRD level, unless the options set another.

    Myeloma keeps the configured threshold; for CLL / AML / ALL a threshold left at the
    default (1e-5, IMWG) is replaced by the preset's (1e-4, 1e-3, 1e-4).
    """
    p = preset_for(cohort)
    default = type(cfg).__dataclass_fields__["mrd_threshold"].default
    if p.name == "myeloma" or cfg.mrd_threshold != default:
        return cfg
    return dataclasses.replace(cfg, mrd_threshold=p.threshold)


def _methods(ctx: Context) -> tuple[str, ...] | None:
    return ctx.config.mrd_methods or None


def calls(ctx: Context) -> StatusCalls:
    """Visit-level MRD calls at the report's threshold (`mrdtrack.mrd.call_status`)."""
    return ctx.cached(
        "mrd_calls",
        lambda: call_status(ctx.cohort, ctx.config.mrd_threshold, methods=_methods(ctx)),
    )


def baseline_status(ctx: Context) -> pl.DataFrame:
    """``patient_id, baseline_status`` (negative / positive / not_evaluable / not_assessed)."""

    def make() -> pl.DataFrame:
        b = mrd_baseline_status(ctx.cohort, ctx.config.mrd_threshold, methods=_methods(ctx))
        return b.rename({"status": "baseline_status"})

    return ctx.cached("mrd_baseline", make)


def classes(ctx: Context, window_end: int | None = None) -> TrajectoryClasses:
    """Trajectory classes over the whole follow-up (None) or up to a study day."""
    c = ctx.config
    return ctx.cached(
        f"mrd_classes_{window_end}",
        lambda: classify_trajectories(
            ctx.cohort,
            window_end,
            c.mrd_threshold,
            confirm_days=c.confirmation_days,
            tolerance_days=c.confirmation_tolerance_days,
            methods=_methods(ctx),
        ),
    )


def landmark_day(ctx: Context) -> int:
    """The landmark as a whole study day, rounded down (24 months = 730.5 days -> day 730).

    Same rule as `mrdtrack.mrd` for "24m": the last whole day that has fully elapsed.
    """
    return math.floor(ctx.config.landmark_days + 1e-9)
