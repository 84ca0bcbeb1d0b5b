"""Per-patient risk-trajectory figure (matplotlib; deterministic SVG/PNG output)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, never a window (as mrdtrack.report.figures)
import matplotlib.pyplot as plt
import polars as pl

from mrdtrack.predict.evaluate import calibration_bins
from mrdtrack.schema import DAYS_PER_MONTH

_STATUS_COLOURS = {"negative": "#1b7837", "positive": "#b2182b", "unknown": "#7f7f7f"}


def plot_risk_trajectory(trajectory: pl.DataFrame, window_days: int, ax=None):
    """Step plot of the predicted risk recomputed at each assessment, coloured by MRD status.

    ``trajectory`` is the frame of `risk_trajectory`. Returns ``(figure, data)`` where ``data``
    is the tidy frame plotted (months, risk, status).
    """
    data = trajectory.with_columns((pl.col("day") / DAYS_PER_MONTH).alias("month"))
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
    else:
        fig = ax.figure
    months = data.get_column("month").to_list()
    risk = data.get_column("risk").to_list()
    if months:
        ax.step(months, risk, where="post", color="#333333", linewidth=1.5)
        for status, colour in _STATUS_COLOURS.items():
            part = data.filter(pl.col("last_status") == status)
            if part.height:
                ax.scatter(
                    part["month"], part["risk"], color=colour, zorder=3, label=f"MRD {status}"
                )
        lost = data.filter(pl.col("lost_negativity"))
        if lost.height:
            ax.axvline(lost["month"][0], color="#b2182b", linestyle=":", linewidth=1)
    ax.set_xlabel("Months since start of maintenance")
    ax.set_ylabel(f"Risk of progression within {window_days / DAYS_PER_MONTH:.0f} months")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if months:
        ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig, data.select("day", "month", "risk", "last_status", "lost_negativity")


def plot_calibration(predictions: pl.DataFrame, window_days: int, groups: int = 5, ax=None):
    """Calibration plot: observed (IPCW) against predicted risk, all landmarks pooled.

    ``predictions`` holds ``landmark, risk, time, event`` for one model (e.g. the held-out
    predictions of `cross_validate`); groups as `calibration_bins`. Returns ``(figure, data)``.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
    else:
        fig = ax.figure
    data = calibration_bins(predictions, window_days, groups)
    ax.plot(
        data["predicted"],
        data["observed"],
        marker="o",
        linewidth=1.2,
        color="#2166ac",
        label=f"{groups} groups of predicted risk",
    )
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="ideal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"Predicted {window_days / DAYS_PER_MONTH:.0f}-month risk")
    ax.set_ylabel("Observed risk (IPCW)")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig, data
