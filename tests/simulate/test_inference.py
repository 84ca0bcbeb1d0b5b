"""Bayesian synthetic likelihood: a distribution over parameters; uninformed ones stay prior."""

import dataclasses
import warnings

import numpy as np
import pytest

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.inference import (
    Model,
    calibrate,
    from_free,
    gaussian_loglik,
    scale_of,
    to_free,
)
from mrdtrack.simulate.params import load_params
from mrdtrack.simulate.targets import Prior, load_study_targets

warnings.filterwarnings("ignore", category=RuntimeWarning)
T = load_study_targets()
P = load_params()


def test_scales_round_trip_and_zero_is_an_error():
    for name, v in (
        ("progression__negative", 0.02),
        ("baseline_mrd__missing", 0.05),
        ("baseline_mrd__negative_logit", -0.4),
        ("observation:progression__negative", 0.3),
    ):
        assert from_free(name, to_free(name, v)) == pytest.approx(v)
    assert scale_of("baseline_mrd__missing") == "logit"
    assert scale_of("baseline_mrd__clonal_log10_mean") == "identity"
    with pytest.raises(MrdtrackError, match="probability at 0 or 1 has no logit"):
        to_free("baseline_mrd__missing", 0.0)
    with pytest.raises(MrdtrackError, match="rate at 0 has no logarithm"):
        Model.build(P.replace(followup__loss_per_year=0.0), T, ["followup__loss_per_year"])


def test_unknown_free_parameter_names_the_nearest():
    with pytest.raises(MrdtrackError, match="did you mean 'progression__negative'"):
        Model.build(P, T, ["progression__negatve"])
    with pytest.raises(MrdtrackError, match="unknown arm"):
        Model.build(P, T, ["placebo:progression__negative"])


def test_gaussian_loglik_is_the_normal_density():
    rng = np.random.default_rng(3)
    sims = rng.normal([1.0, 2.0], [1.0, 3.0], size=(20000, 2))
    ll = gaussian_loglik(np.array([1.5, 2.0]), sims)
    exact = -0.5 * 0.25 - np.log(1.0) - np.log(3.0) - np.log(2 * np.pi)
    assert ll == pytest.approx(exact, abs=0.02)
    const = np.column_stack([sims[:, 0], np.ones(len(sims))])
    assert gaussian_loglik(np.array([1.0, 2.0]), const) == -np.inf


@pytest.fixture(scope="module")
def small_fit():
    # serious_fraction is informed by the serious-AE figure; the male fraction by no figure
    t = dataclasses.replace(
        T,
        priors={"safety__serious_fraction": Prior(0.3, 1.0), "covariates__male": Prior(0.5, 1.0)},
    )
    return calibrate(
        P,
        t,
        free=["safety__serious_fraction", "covariates__male"],
        n_sim=50,
        n_chains=2,
        max_evaluations=205,
        n_draws=400,
        seed=5,
    )


def test_uninformed_parameter_is_detected_and_kept_at_its_prior(small_fit):
    tab = {r["parameter"]: r for r in small_fit.table().iter_rows(named=True)}
    assert tab["safety__serious_fraction"]["informed"]
    assert not tab["covariates__male"]["informed"]
    # its draws are prior draws: logit-normal around 0.5 with sd 1 on the logit scale
    male = small_fit.draws[:, 1]
    z = np.log(male / (1 - male))
    assert abs(z.mean()) < 0.2 and abs(z.std() - 1) < 0.15
    assert "prior: not informed by the figures" in small_fit.summary()


def test_posterior_moves_to_the_published_figure(small_fit):
    tab = {r["parameter"]: r for r in small_fit.table().iter_rows(named=True)}
    sf = tab["safety__serious_fraction"]
    # published 0.18 of 108 patients; prior centre 0.3
    assert sf["lower"] < 0.18 < sf["upper"]
    assert sf["upper"] < 0.3
    assert len(small_fit.chain_medians) == 2 and small_fit.n_evaluations <= 205
    draws = small_fit.params_draws(5, seed=1)
    assert len(draws) == 5 and all(0 < d.safety.serious_fraction < 1 for d in draws)


def test_budget_and_settings_are_checked():
    with pytest.raises(MrdtrackError, match="too small"):
        calibrate(P, T, max_evaluations=10)
    with pytest.raises(MrdtrackError, match="n_sim must be at least"):
        calibrate(P, T, n_sim=1)


def test_same_seed_same_posterior():
    kw = dict(free=["safety__serious_fraction"], n_sim=20, n_chains=1, max_evaluations=40)
    a = calibrate(P, T, seed=9, n_draws=50, **kw)
    b = calibrate(P, T, seed=9, n_draws=50, **kw)
    assert np.array_equal(a.draws, b.draws)
    c = calibrate(P, T, seed=10, n_draws=50, **kw)
    assert not np.array_equal(a.draws, c.draws)


def test_shipped_posterior_matches_the_shipped_parameters():
    from importlib import resources

    import polars as pl

    from mrdtrack.simulate.calibrate import load_params_resource

    root = resources.files("mrdtrack.data").joinpath("simulation")
    draws = pl.read_csv(str(root.joinpath("founding_study_posterior.csv")))
    assert draws.columns == list(T.free) and draws.height == 1000
    p = load_params_resource("founding_study_calibrated.toml")
    med = float(draws["progression__persistent_positive"].median())
    assert p.progression.persistent_positive == pytest.approx(med)
    assert p.progression.negative == 0.02  # not informed: the prior median, not a fitted value


LOSS = ("progression__persistent_positive", "progression__lost_early", "progression__lost_late")


def test_tied_parameters_share_one_coordinate_and_its_prior():
    m = Model.build(P, T, None, [LOSS])
    assert len(m.names) == len(T.free) - 2 and "progression__lost_early" not in m.names
    assert "=".join(LOSS) in m.labels
    values = m.natural(m.centre)
    assert values["progression__lost_early"] == values["progression__lost_late"] == 0.15
    assert values["progression__persistent_positive"] == 0.15  # the first name's prior centre
    assert values["progression__negative"] == 0.02  # untied: its own prior
    p = m.at(m.centre)
    assert p.progression.lost_late == p.progression.persistent_positive


def test_bad_ties_are_one_error_naming_the_nearest():
    with pytest.raises(MrdtrackError, match="did you mean 'progression__persistent_positive'"):
        Model.build(P, T, None, [("progression__persistent_positve", "progression__lost_early")])
    with pytest.raises(MrdtrackError, match="needs two or more"):
        Model.build(P, T, None, [("progression__lost_early",)])
    with pytest.raises(MrdtrackError, match="different scales"):
        Model.build(P, T, None, [("progression__lost_early", "baseline_mrd__missing")])
    with pytest.raises(MrdtrackError, match="tied twice"):
        Model.build(P, T, None, [LOSS, ("progression__lost_late", "progression__negative")])
    with pytest.raises(MrdtrackError, match=r"not a free parameter \(add it to --free"):
        Model.build(P, T, ["progression__lost_early"], [("progression__lost_early", "x__y")])


def test_constrained_fit_writes_every_tied_parameter():
    post = calibrate(
        P,
        T,
        free=["progression__persistent_positive", "progression__lost_late"],
        tie=[("progression__persistent_positive", "progression__lost_late")],
        n_sim=20,
        n_chains=1,
        max_evaluations=30,
        n_draws=20,
        seed=4,
    )
    assert post.draws.shape == (20, 1)
    head, *rows = post.to_csv().splitlines()
    assert head == "progression__persistent_positive,progression__lost_late"
    assert all(r.split(",")[0] == r.split(",")[1] for r in rows)
    med = post.median_params()
    assert med.progression.lost_late == med.progression.persistent_positive
    assert "under the constraint progression__persistent_positive=" in med.description
    assert post.table()["parameter"].to_list() == [
        "progression__persistent_positive=progression__lost_late"
    ]


DASK_KW = dict(
    free=[
        "safety__serious_fraction",
        "progression__persistent_positive",
        "baseline_mrd__negative_logit",
    ],
    n_sim=40,
    n_chains=2,
    max_evaluations=60,
    n_draws=50,
    seed=9,
)


@pytest.fixture(scope="module")
def serial_fit():
    return calibrate(P, T, **DASK_KW)


def test_serial_draws_are_those_of_the_shipped_calibration_scheme(serial_fit):
    # rows 1, 30, 49 of this tiny fit by the code that made the shipped posterior (one
    # generator shared by the chains in turn): running chains from `chain_plan`'s generator
    # states changes no draw, so the shipped files stay reproducible by one command
    expected = [
        [0.1948629636283768, 0.2562947811333275, -0.901307948739432],
        [0.10183479268495958, 0.38638048302869776, -0.6347700662922137],
        [0.19997170238086884, 0.2782334632843262, -0.3105734626784184],
    ]
    assert serial_fit.draws[[1, 30, 49]].tolist() == expected
    assert serial_fit.n_evaluations == 59


def test_a_dask_client_gives_the_serial_posterior(serial_fit):
    distributed = pytest.importorskip("distributed")
    # two threads: the pool's path (scatter, evaluation and chain tasks, gather) in seconds
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1) as client:
        dask = calibrate(P, T, client=client, **DASK_KW)
    assert dask.workers == 2 and serial_fit.workers == 0
    assert np.array_equal(serial_fit.draws, dask.draws)
    assert np.array_equal(serial_fit.identifiability.jacobian, dask.identifiability.jacobian)
    assert np.array_equal(serial_fit.acceptance, dask.acceptance)
    assert dask.n_evaluations == serial_fit.n_evaluations
    assert "on 2 Dask workers" in dask.summary()
    with pytest.raises(MrdtrackError, match="workers must be at least 0"):
        calibrate(P, T, workers=-1, **DASK_KW)


@pytest.mark.slow
def test_two_worker_processes_give_the_serial_posterior(serial_fit):
    # a LocalCluster of two processes (each imports mrdtrack and loads the numba kernels:
    # about 20 s, most of it start-up)
    pytest.importorskip("distributed")
    dask = calibrate(P, T, workers=2, **DASK_KW)
    assert dask.workers == 2
    assert np.array_equal(serial_fit.draws, dask.draws)
