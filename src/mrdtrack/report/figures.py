"""Report figures with matplotlib (Agg), byte-identical across identical runs.

Determinism: a fixed ``svg.hashsalt`` (element ids), no creation date or software stamp in the
SVG/PNG metadata, fixed fonts and sizes. Each figure is written as SVG (report, PDF) and PNG.
Kaplan-Meier figures follow clinical conventions: step curves with censor marks ("+"), optional
CI bands, the number at risk **at** each tick (R ``summary(fit, times=)``) under the axis, a
legend with n / events / median, and an annotation with HR and p.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.text import Text

PALETTE = ("#1f4e79", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#566573")
STATUS_COLOURS = {
    "negative": "#2e8b57",
    "positive": "#c0392b",
    "not_evaluable": "#aab7b8",
    "progression": "#1c2833",
    "death": "#6c3483",
    "censored": "#5d6d7e",
}

_RC = {
    "svg.hashsalt": "mrdtrack-report",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "path.simplify": False,
}


def figure(width: float = 7.0, height: float = 4.2, **kwargs: Any) -> Any:
    """A new figure with the report's style (used inside `style()`)."""
    return plt.figure(figsize=(width, height), **kwargs)


def style() -> Any:
    """Context manager applying the report's deterministic rcParams."""
    return matplotlib.rc_context(_RC)


def text_sizes(fig: Any) -> dict[str, float]:
    """Smallest font size (pt, at the figure's own size) of any visible text, and the width."""
    sizes = [
        float(t.get_fontsize())
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return {"min_font_pt": min(sizes) if sizes else 0.0, "width_in": float(fig.get_figwidth())}


FONTS_FILE = "text-sizes.json"


def save(fig: Any, folder: Path, name: str) -> None:
    """Write ``name.svg`` and ``name.png`` without dates or software stamps, then close.

    The smallest text size of the figure is recorded in ``text-sizes.json`` beside it (the
    layout check compares it, scaled to the printed width, with 6 pt)."""
    folder.mkdir(parents=True, exist_ok=True)
    reg = folder / FONTS_FILE
    sizes = json.loads(reg.read_text()) if reg.exists() else {}
    sizes[name] = text_sizes(fig)
    reg.write_text(json.dumps(sizes, indent=1, sort_keys=True))
    with style():
        fig.savefig(folder / f"{name}.svg", format="svg", metadata={"Date": None, "Creator": None})
        fig.savefig(folder / f"{name}.png", format="png", metadata={"Software": None})
    plt.close(fig)


def km_plot(
    curves: pl.DataFrame,
    risk: pl.DataFrame,
    *,
    groups: Sequence[str],
    labels: Sequence[str],
    ticks: Sequence[float],
    xlabel: str,
    ylabel: str = "Progression-free survival",
    annotation: str | None = None,
    ci: bool = True,
) -> Any:
    """Kaplan-Meier curves with censor marks and a number-at-risk table under the axis.

    ``curves``: ``group, time, surv, lower, upper, n_censor`` rows of each group's KM table
    (without the time-0 row); ``risk``: ``group, time, n_risk`` at exactly ``ticks``.
    ``labels`` are the legend entries (e.g. "MRD− (n=44, 3 events, median NR)").
    """
    n_rows = len(groups)
    with style():
        fig = figure(7.0, 4.0 + 0.22 * n_rows)
        top = 0.93
        table_h = 0.06 + 0.045 * n_rows
        # room on the left for the risk-table row labels (group names)
        longest = max((len(str(lab).split(" (")[0]) for lab in labels), default=0)
        left = min(0.4, max(0.12, 0.03 + 0.0125 * longest))
        ax = fig.add_axes((left, table_h + 0.14, 0.96 - left, top - table_h - 0.14))
        t_last = float(curves["time"].max()) if curves.height else 0.0
        xmax = max(float(max(ticks)) if len(ticks) else 1.0, t_last)
        for k, (g, lab) in enumerate(zip(groups, labels, strict=True)):
            c = curves.filter(pl.col("group") == g).sort("time")
            colour = PALETTE[k % len(PALETTE)]
            t = np.concatenate([[0.0], c["time"].to_numpy()])
            s = np.concatenate([[1.0], c["surv"].to_numpy()])
            ax.step(t, s, where="post", color=colour, lw=1.6, label=lab)
            if ci and c.height:
                lo = np.concatenate([[1.0], c["lower"].fill_null(np.nan).to_numpy()])
                hi = np.concatenate([[1.0], c["upper"].fill_null(np.nan).to_numpy()])
                ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
            cens = c.filter(pl.col("n_censor") > 0)
            ax.plot(
                cens["time"].to_numpy(),
                cens["surv"].to_numpy(),
                linestyle="none",
                marker="+",
                markersize=6,
                color=colour,
            )
        ax.set_xlim(0, xmax * 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(list(ticks))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.legend(loc="lower left", frameon=False, fontsize=8)
        if annotation:
            ax.set_title(annotation, loc="right", fontsize=8)
        # number at risk AT each tick, aligned with the axis ticks
        fig.text(0.02, table_h + 0.005, "Number at risk", fontsize=8, weight="bold")
        for k, g in enumerate(groups):
            y = table_h - 0.045 * (k + 1)
            colour = PALETTE[k % len(PALETTE)]
            short = str(labels[k]).split(" (")[0]
            fig.text(0.02, y, short, fontsize=8, color=colour, va="center")
            r = risk.filter(pl.col("group") == g)
            for t, n in zip(r["time"].to_list(), r["n_risk"].to_list(), strict=True):
                x = ax.transData.transform((t, 0))[0]
                xf = fig.transFigure.inverted().transform((x, 0))[0]
                fig.text(xf, y, f"{int(n)}", fontsize=8, ha="center", va="center")
    return fig


def bar_chart(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    ylabel: str,
    colours: dict[str, str] | None = None,
    stacked: bool = True,
    width: float = 7.0,
    height: float = 3.6,
) -> Any:
    """Stacked (or grouped) bars, one bar per category, one segment per series."""
    with style():
        fig = figure(width, height)
        ax = fig.add_subplot(111)
        x = np.arange(len(categories))
        bottom = np.zeros(len(categories))
        n = len(series)
        for k, (name, vals) in enumerate(series.items()):
            v = np.asarray(vals, dtype=float)
            colour = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
            if stacked:
                ax.bar(x, v, bottom=bottom, color=colour, label=name, width=0.7)
                bottom += v
            else:
                w = 0.8 / n
                ax.bar(x - 0.4 + w * (k + 0.5), v, width=w, color=colour, label=name)
        ax.set_xticks(x, list(categories))
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def flow_chart(boxes: Sequence[tuple[float, float, str]], arrows: Sequence[tuple[int, int]]) -> Any:
    """A CONSORT-style flow: boxes at (x, y) in axes fraction with text, arrows between them."""
    with style():
        fig = figure(6.0, 3.6)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        for x, y, text in boxes:
            ax.text(
                x,
                y,
                text,
                ha="center",
                va="center",
                fontsize=10,
                bbox={"boxstyle": "round,pad=0.6", "fc": "#f4f6f7", "ec": "#34495e"},
            )
        for a, b in arrows:
            (x0, y0, _), (x1, y1, _) = boxes[a], boxes[b]
            ax.annotate(
                "",
                xy=(x1, y1 + (0.09 if y1 < y0 else 0)),
                xytext=(x0, y0 - (0.09 if y1 < y0 else 0)),
                arrowprops={"arrowstyle": "->", "color": "#34495e"},
            )
    return fig


def prevalence_bars(
    visits: Sequence[str],
    counts: dict[str, Sequence[int]],
    *,
    labels: dict[str, str],
    colours: dict[str, str],
    top_labels: Sequence[str],
    width: float = 7.0,
    height: float = 3.8,
) -> Any:
    """Stacked bars of the patients in each state per visit (% of all patients), each bar
    topped by ``top_labels`` (the report passes `fmt.share` of MRD− among evaluable calls, the
    number its table prints)."""
    with style():
        fig = figure(width, height)
        ax = fig.add_axes((0.09, 0.12, 0.66, 0.76))
        x = np.arange(len(visits))
        totals = np.sum([np.asarray(v, dtype=float) for v in counts.values()], axis=0)
        bottom = np.zeros(len(visits))
        for state, vals in counts.items():
            v = 100 * np.asarray(vals, dtype=float) / np.where(totals > 0, totals, 1)
            if not v.any():
                continue
            ax.bar(
                x,
                v,
                bottom=bottom,
                color=colours[state],
                label=labels[state],
                width=0.62,
                edgecolor="white",
                linewidth=0.5,
            )
            bottom += v
        for k, text in enumerate(top_labels):
            ax.text(x[k], 101.5, text, ha="center", va="bottom", fontsize=7.5)
        ax.set_xticks(x, list(visits))
        ax.set_ylim(0, 114)
        ax.set_yticks([0, 20, 40, 60, 80, 100])
        ax.set_ylabel("Patients (% of all enrolled)")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def consort(flow: dict[str, Any]) -> Any:
    """CONSORT-style flow from `disposition.consort_counts`: enrolled -> (excluded with reasons,
    to the side) -> evaluable -> on / off treatment at cutoff (reasons), every box connected."""

    def reasons(d: dict[str, int]) -> str:
        return "\n".join(f"• {k}: {v}" for k, v in d.items())

    with style():
        fig = figure(7.0, 5.0)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        box = {"boxstyle": "round,pad=0.5", "fc": "#f4f6f7", "ec": "#34495e"}
        arrow = {"arrowstyle": "-|>", "color": "#34495e", "lw": 1.0}

        def put(x: float, y: float, text: str, **kw: Any) -> None:
            ax.text(x, y, text, ha="center", va="center", fontsize=9, bbox=box, **kw)

        put(0.32, 0.92, f"Enrolled\nn = {flow['enrolled']}")
        not_eval = f"Not evaluable for PFS, n = {flow['not_evaluable']}\n({flow['rule_short']})"
        if flow["not_evaluable_reasons"]:
            not_eval += "\n" + reasons(flow["not_evaluable_reasons"])
        ax.text(
            0.72,
            0.74,
            not_eval,
            ha="left",
            va="center",
            fontsize=8,
            bbox=box,
            transform=ax.transAxes,
            multialignment="left",
        )
        put(0.32, 0.56, f"Evaluable for PFS\nn = {flow['evaluable']}")
        put(0.14, 0.30, f"On treatment at\ndata cutoff\nn = {flow['evaluable_on']}")
        off = f"Off treatment at data cutoff, n = {flow['evaluable_off']}\n" + reasons(
            flow["evaluable_off_reasons"]
        )
        ax.text(
            0.36, 0.26, off, ha="left", va="center", fontsize=8, bbox=box, multialignment="left"
        )
        put(0.32, 0.05, f"Analysed for PFS: n = {flow['evaluable']}")
        # enrolled -> evaluable, with the exclusion branch
        ax.annotate("", xy=(0.32, 0.61), xytext=(0.32, 0.87), arrowprops=arrow)
        ax.annotate("", xy=(0.71, 0.74), xytext=(0.32, 0.74), arrowprops=arrow)
        # evaluable -> on / off
        ax.plot([0.32, 0.32], [0.51, 0.43], color="#34495e", lw=1.0)
        ax.plot([0.14, 0.55], [0.43, 0.43], color="#34495e", lw=1.0)
        ax.annotate("", xy=(0.14, 0.37), xytext=(0.14, 0.43), arrowprops=arrow)
        ax.annotate("", xy=(0.55, 0.365), xytext=(0.55, 0.43), arrowprops=arrow)
        # both -> analysed
        ax.plot([0.14, 0.14], [0.23, 0.13], color="#34495e", lw=1.0)
        ax.plot([0.55, 0.55], [0.155, 0.13], color="#34495e", lw=1.0)
        ax.plot([0.14, 0.55], [0.13, 0.13], color="#34495e", lw=1.0)
        ax.annotate("", xy=(0.32, 0.085), xytext=(0.32, 0.13), arrowprops=arrow)
    return fig
