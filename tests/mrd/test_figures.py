"""Figures: numbers returned with each figure, byte-identical reruns."""

from __future__ import annotations

import polars as pl
import pytest

from mrdtrack.mrd import transitions
from mrdtrack.mrd.figures import alluvial_plot, prevalence_plot, save_figure, swimmer_plot

N, P, I = "negative", "positive", "indeterminate"


@pytest.fixture
def cohort(make_cohort):
    return make_cohort(
        {
            "a": [(-7, N), (365, N), (730, P)],
            "b": [(14, P), (400, I), (800, N)],
            "c": [(0, N)],
            "d": [(10, P), (370, N), (700, N), (1000, P)],
        },
        progression={"a": 900, "c": 100, "d": 900},
        death={"b": 1200},
        treatment_end={"a": 500},
    )


def test_swimmer_numbers(cohort):
    fig, frame = swimmer_plot(cohort, unit="days")
    assert fig.axes and frame["lane"].n_unique() == 4
    # lanes sorted by follow-up: shortest at the bottom (lane 0)
    assert frame.filter(pl.col("lane") == 0)["patient_id"].unique().to_list() == ["c"]
    d = frame.filter(pl.col("patient_id") == "d")
    assert d.filter(pl.col("event") == "mrd")["after_progression"].to_list() == [
        False,
        False,
        False,
        True,
    ]
    assert set(frame["event"]) >= {"mrd", "progression", "death", "treatment_end"}


def test_alluvial_and_prevalence_numbers(cohort):
    _, tab = alluvial_plot(cohort)
    assert tab.equals(transitions(cohort).table())
    _, prev = prevalence_plot(cohort)
    per_visit = prev.group_by("visit").agg(pl.col("n").sum())
    assert per_visit["n"].to_list() == [4] * per_visit.height


@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
@pytest.mark.parametrize("plot", [swimmer_plot, alluvial_plot, prevalence_plot])
def test_deterministic_files(cohort, tmp_path, suffix, plot):
    outs = []
    for i in range(2):
        fig, _ = plot(cohort)
        outs.append(save_figure(fig, tmp_path / f"f{i}{suffix}").read_bytes())
    assert outs[0] == outs[1]
    if suffix == ".svg":
        assert b"<dc:date>" not in outs[0]


def test_bad_format(cohort, tmp_path):
    fig, _ = prevalence_plot(cohort)
    with pytest.raises(ValueError, match="unsupported"):
        save_figure(fig, tmp_path / "x.gif")


def test_swimmer_lane_labels(cohort):
    fig, frame = swimmer_plot(cohort)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["4", "3", "2", "1"]  # numbers by default: no identifier in the image
    top = frame.filter(pl.col("lane_number") == 1)["patient_id"].unique().to_list()
    assert len(top) == 1
    fig, _ = swimmer_plot(cohort, lane_labels="id")
    assert {t.get_text() for t in fig.axes[0].get_yticklabels()} == {"a", "b", "c", "d"}
    with pytest.raises(ValueError, match="lane_labels"):
        swimmer_plot(cohort, lane_labels="names")
