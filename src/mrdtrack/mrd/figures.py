"""MRD figures: swimmer plot, alluvial (Sankey) diagram across yearly visits, state prevalence.

Every function returns ``(figure, frame)``: the matplotlib Figure and the tidy numbers drawn,
so a figure's content can be checked and tabulated. Figures are built on
`matplotlib.figure.Figure` directly (no pyplot state, no GUI backend); `save_figure` writes
byte-identical files on reruns (fixed ``svg.hashsalt``, no date metadata).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mrdtrack.cohort import Cohort
from mrdtrack.mrd.status import DEFAULT_THRESHOLD
from mrdtrack.mrd.transitions import STATES, _follow_up, patient_timeline, transitions
from mrdtrack.schema import DAYS_PER_MONTH

# Okabe-Ito palette (colour-blind safe).
COLOURS = {
    "negative": "#0072B2",
    "positive": "#D55E00",
    "not_evaluable": "#E69F00",
    "missing": "#E5E5E5",
    "progressed": "#000000",
    "died": "#CC79A7",
    "censored": "#999999",
}
# Bands staying in an absorbing state carry no MRD information: drawn faint.
_ABSORBING = ("progressed", "died", "censored")
LABELS = {
    "negative": "MRD negative",
    "positive": "MRD positive",
    "not_evaluable": "Not evaluable",
    "missing": "Not assessed",
    "progressed": "Progressed",
    "died": "Died",
    "censored": "Follow-up ended",
}


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Save ``fig`` (SVG, PNG or PDF by suffix) so that reruns give identical bytes.

    Sets ``svg.hashsalt`` (element ids otherwise random) and removes date/software metadata.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    metadata: dict[str, Any]
    if suffix == ".svg":
        metadata = {"Date": None, "Creator": None}
    elif suffix == ".png":
        metadata = {"Software": None}
    elif suffix == ".pdf":
        metadata = {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
    else:
        raise ValueError(f"unsupported figure format {suffix!r}; use .svg, .png or .pdf")
    with mpl.rc_context({"svg.hashsalt": "mrdtrack", "svg.fonttype": "path"}):
        fig.savefig(path, dpi=dpi, metadata=metadata)
    return path


def _scale(unit: str) -> tuple[float, str]:
    if unit == "months":
        return DAYS_PER_MONTH, "Months from start of maintenance"
    if unit == "days":
        return 1.0, "Study day"
    raise ValueError("unit must be 'months' or 'days'")


def swimmer_plot(
    cohort: Cohort,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    patients: list[str] | None = None,
    max_patients: int = 60,
    unit: str = "months",
    lane_labels: str = "number",
    figsize: tuple[float, float] | None = None,
) -> tuple[Figure, pl.DataFrame]:
    """Swimmer plot: one lane per patient with MRD calls, treatment and outcome markers.

    Each lane runs from day 0 to the end of follow-up (progression, death, or min(last
    contact, cutoff)); a thicker bar shows time on treatment (to ``treatment_end_day``, or to
    the end of follow-up if ongoing). Circles mark MRD visits coloured by status (filled:
    negative/positive; hollow grey: not evaluable; visits after progression faded).
    Progression is a black triangle, death a cross, censoring an arrow. Lanes are sorted by
    follow-up, longest at the top; at most ``max_patients`` lanes (the first by identifier)
    unless ``patients`` is given. ``lane_labels``: "number" (default: lane numbers, so no
    identifier appears in the image), "id" (patient identifiers; pseudonymise first with
    `mrdtrack.privacy` for shared outputs) or "none".

    Returns
    -------
    (Figure, polars.DataFrame)
        The frame is the timeline drawn (`patient_timeline` rows plus ``lane`` (0 = bottom),
        ``lane_number`` (the label shown, 1 = top) and ``x``).
    """
    factor, xlabel = _scale(unit)
    if lane_labels not in ("number", "id", "none"):
        raise ValueError("lane_labels must be 'number', 'id' or 'none'")
    tl = patient_timeline(cohort, threshold)
    fu = _follow_up(cohort).with_columns(
        pl.min_horizontal("progression_day", "death_day", "follow_up_end").alias("end")
    )
    ids = sorted(fu["patient_id"].to_list()) if patients is None else list(patients)
    ids = ids[:max_patients] if patients is None else ids
    fu = fu.filter(pl.col("patient_id").is_in(ids)).sort(
        ["end", "patient_id"], descending=[False, True]
    )
    lanes = fu.select("patient_id", pl.int_range(pl.len()).cast(pl.Int64).alias("lane"))
    tl = tl.join(lanes, on="patient_id", how="inner").with_columns(
        (pl.col("day") / factor).alias("x")
    )
    n = lanes.height
    fig = Figure(figsize=figsize or (8.0, max(3.0, 0.18 * n + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    ends = dict(fu.select("patient_id", "end").iter_rows())
    tend = dict(
        tl.filter(pl.col("event") == "treatment_end").select("patient_id", "day").iter_rows()
    )
    for pid, lane in lanes.iter_rows():
        end = ends[pid]
        ax.hlines(lane, 0, end / factor, color="#BBBBBB", linewidth=2.0, zorder=1)
        on_trt = min(tend.get(pid, end), end)
        ax.hlines(lane, 0, on_trt / factor, color="#555555", linewidth=4.5, zorder=2)
    mrd = tl.filter(pl.col("event") == "mrd")
    for status in ("negative", "positive", "not_evaluable"):
        for after, alpha in ((False, 1.0), (True, 0.35)):
            pts = mrd.filter((pl.col("status") == status) & (pl.col("after_progression") == after))
            if pts.height == 0:
                continue
            filled = status != "not_evaluable"
            ax.scatter(
                pts["x"].to_numpy(),
                pts["lane"].to_numpy(),
                s=36,
                facecolors=COLOURS[status] if filled else "white",
                edgecolors=COLOURS[status],
                linewidths=1.2,
                alpha=alpha,
                zorder=4,
            )
    markers = {
        "progression": ("^", "#000000"),
        "death": ("x", "#CC79A7"),
        "censored": (">", "#777777"),
    }
    for event, (marker, colour) in markers.items():
        pts = tl.filter(pl.col("event") == event)
        if pts.height:
            ax.scatter(
                pts["x"].to_numpy(),
                pts["lane"].to_numpy(),
                marker=marker,
                s=40,
                color=colour,
                zorder=5,
            )
    if lane_labels == "id":
        ax.set_yticks(np.arange(n), labels=lanes["patient_id"].to_list(), fontsize=6)
    elif lane_labels == "number":
        ax.set_yticks(np.arange(n), labels=[str(n - i) for i in range(n)], fontsize=6)
    else:
        ax.set_yticks([])
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlim(left=min(0.0, float(tl["x"].min() or 0.0)) - 0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Patient")
    ax.spines[["top", "right"]].set_visible(False)
    handles = [
        Line2D([], [], marker="o", ls="", color=COLOURS["negative"], label="MRD negative"),
        Line2D([], [], marker="o", ls="", color=COLOURS["positive"], label="MRD positive"),
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            mfc="white",
            mec=COLOURS["not_evaluable"],
            label="Not evaluable",
        ),
        Line2D([], [], marker="^", ls="", color="#000000", label="Progression"),
        Line2D([], [], marker="x", ls="", color="#CC79A7", label="Death"),
        Line2D([], [], marker=">", ls="", color="#777777", label="Censored"),
        Line2D([], [], color="#555555", lw=4.5, label="On treatment"),
    ]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False
    )
    ax.set_title(f"MRD over time (threshold {threshold:g})", fontsize=10)
    frame = tl.select(
        "patient_id",
        "lane",
        (n - pl.col("lane")).alias("lane_number"),
        "day",
        "x",
        "event",
        "status",
        "reason",
        "after_progression",
    )
    return fig, frame.sort("lane", "day")


def _band(
    ax: Any,
    x0: float,
    x1: float,
    y0: tuple[float, float],
    y1: tuple[float, float],
    colour: str,
    alpha: float,
) -> None:
    """A smooth band from the interval y0 at x0 to the interval y1 at x1."""
    xs = np.linspace(x0, x1, 40)
    s = (xs - x0) / (x1 - x0)
    w = s * s * (3.0 - 2.0 * s)  # smoothstep: flat at both ends
    lo = y0[0] + (y1[0] - y0[0]) * w
    hi = y0[1] + (y1[1] - y0[1]) * w
    ax.fill_between(xs, lo, hi, color=colour, alpha=alpha, linewidth=0)


def alluvial_plot(
    cohort: Cohort,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    visit_window_days: int = 90,
    n_visits: int | None = None,
    figsize: tuple[float, float] = (8.0, 4.5),
) -> tuple[Figure, pl.DataFrame]:
    """Alluvial (Sankey) diagram of MRD states across yearly visits.

    Columns are nominal visits (baseline, year 1, …) with stacked blocks per state
    (`visit_states`); bands between consecutive columns carry the transition counts
    (`transitions`), coloured by the state left. Block heights are patient counts.

    Returns
    -------
    (Figure, polars.DataFrame)
        The transition table drawn (``from_visit, to_visit, from_state, to_state, n,
        row_percent``).
    """
    t = transitions(cohort, threshold, visit_window_days=visit_window_days, n_visits=n_visits)
    prev = t.prevalence
    visits = sorted(prev["visit"].unique().to_list())
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    width = 0.18
    gap = 0.5
    blocks: dict[tuple[int, str], tuple[float, float]] = {}
    for v in visits:
        counts = dict(prev.filter(pl.col("visit") == v).select("state", "n").iter_rows())
        y = 0.0
        for s in STATES:
            n = counts.get(s, 0)
            if n == 0:
                continue
            blocks[(v, s)] = (y, y + n)
            ax.bar(v, n, bottom=y, width=width, color=COLOURS[s], edgecolor="white", linewidth=0.6)
            if n >= 3:
                ax.text(
                    v,
                    y + n / 2,
                    str(n),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white"
                    if s in ("negative", "positive", "progressed", "died")
                    else "black",
                )
            y += n + gap
    out_pos = {k: b[0] for k, b in blocks.items()}
    in_pos = dict(out_pos)
    tab = t.transitions
    order = {s: i for i, s in enumerate(STATES)}
    for v in visits[:-1]:
        step = tab.filter(pl.col("from_visit") == v).to_dicts()
        # Bands leave a block in the order of their destination and enter in order of origin,
        # which keeps bands from crossing inside a block.
        by_out = sorted(step, key=lambda r: (order[r["from_state"]], order[r["to_state"]]))
        y_out = {}
        for r in by_out:
            k = (v, r["from_state"])
            y_out[(r["from_state"], r["to_state"])] = (out_pos[k], out_pos[k] + r["n"])
            out_pos[k] += r["n"]
        by_in = sorted(step, key=lambda r: (order[r["to_state"]], order[r["from_state"]]))
        for r in by_in:
            k = (v + 1, r["to_state"])
            yin = (in_pos[k], in_pos[k] + r["n"])
            in_pos[k] += r["n"]
            _band(
                ax,
                v + width / 2,
                v + 1 - width / 2,
                y_out[(r["from_state"], r["to_state"])],
                yin,
                COLOURS[r["from_state"]],
                0.12 if r["from_state"] in _ABSORBING else 0.45,
            )
    ax.set_xticks(visits, labels=["Baseline" if v == 0 else f"Year {v}" for v in visits])
    ax.set_ylabel("Patients")
    ax.spines[["top", "right"]].set_visible(False)
    present = [s for s in STATES if any(k[1] == s for k in blocks)]
    ax.legend(
        handles=[Patch(color=COLOURS[s], label=LABELS[s]) for s in present],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        frameon=False,
    )
    ax.set_title(
        f"MRD state at yearly visits (window ±{visit_window_days} d, threshold {threshold:g})",
        fontsize=10,
    )
    return fig, tab


def prevalence_plot(
    cohort: Cohort,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    visit_window_days: int = 90,
    n_visits: int | None = None,
    figsize: tuple[float, float] = (7.0, 4.0),
) -> tuple[Figure, pl.DataFrame]:
    """State prevalence over time: stacked percentages of all patients by yearly visit.

    Bars are 100% of the cohort at each visit (intention to treat), split into MRD negative,
    positive, not evaluable, not assessed, progressed, died and follow-up ended; the
    MRD-negative percentage among evaluable calls is printed above each bar.

    Returns
    -------
    (Figure, polars.DataFrame)
        The prevalence table drawn (``visit, nominal_day, state, n, percent_of_patients,
        percent_of_evaluable``).
    """
    t = transitions(cohort, threshold, visit_window_days=visit_window_days, n_visits=n_visits)
    prev = t.prevalence
    visits = sorted(prev["visit"].unique().to_list())
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    bottoms = np.zeros(len(visits))
    for s in STATES:
        vals = np.array(
            [
                prev.filter((pl.col("visit") == v) & (pl.col("state") == s))[
                    "percent_of_patients"
                ].sum()
                for v in visits
            ]
        )
        if not vals.any():
            continue
        ax.bar(
            visits,
            vals,
            bottom=bottoms,
            color=COLOURS[s],
            label=LABELS[s],
            width=0.6,
            edgecolor="white",
            linewidth=0.5,
        )
        bottoms += vals
    # Intention to treat (CONVENTIONS): the label is MRD-negative patients as % of all
    # patients, with the number evaluable at that visit shown beside it.
    for v in visits:
        at_visit = prev.filter(pl.col("visit") == v)
        neg = at_visit.filter(pl.col("state") == "negative")
        n_eval = int(at_visit.filter(pl.col("state").is_in(["negative", "positive"]))["n"].sum())
        pct = neg["percent_of_patients"].item() if neg.height else 0.0
        ax.text(
            v, 101.5, f"{pct:.0f}% neg.\n({n_eval} eval.)", ha="center", va="bottom", fontsize=7
        )
    ax.set_xticks(visits, labels=["Baseline" if v == 0 else f"Year {v}" for v in visits])
    ax.set_ylim(0, 115)
    ax.set_ylabel("Patients (%)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_title("MRD state prevalence by visit (% of all patients)", fontsize=10)
    return fig, prev
