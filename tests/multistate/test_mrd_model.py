"""MRD panel-data builder and the ready MRD model, on the shipped demo study."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from mrdtrack.multistate.mrd_model import CENSOR_CODE, fit_mrd_markov, mrd_markov_data


@pytest.fixture(scope="module")
def cohort():
    from mrdtrack.io import demo_study_path, load_study

    return load_study(demo_study_path())


def test_builder_states_and_accounting(cohort):
    md = mrd_markov_data(cohort)
    d = md.data
    assert set(d["state"].unique()) <= {1, 2, 3, CENSOR_CODE}
    # strictly increasing times within patient, and nothing after progression but last contact
    assert d.group_by("patient_id").agg((pl.col("day").diff() > 0).all().alias("ok"))["ok"].all()
    after = d.filter(
        pl.col("day") > pl.col("day").filter(pl.col("state") == 3).first().over("patient_id")
    )
    assert set(after["source"]) <= {"last_contact"}
    c = md.counts
    assert c["progressions"] == d.filter(pl.col("source") == "progression").height
    n_pat = cohort.outcomes.height
    assert (
        c["patients with at least one evaluable MRD visit"]
        + c["patients without an evaluable MRD visit (left out)"]
        == n_pat
    )
    assert md.exact_death_states == (3,)
    assert "MRD negative" in md.summary()


def test_builder_separate_death(cohort):
    md = mrd_markov_data(cohort, death="separate")
    assert md.qmatrix.shape == (4, 4)
    assert md.exact_death_states == (3, 4)
    assert md.counts["deaths"] == md.data.filter(pl.col("state") == 4).height


def test_ready_model_fits(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_mrd_markov(cohort, errors="warn")
    assert fit.converged
    q = fit.intensities()
    assert q.height == 4
    assert np.all(q["estimate"].to_numpy() >= 0)
