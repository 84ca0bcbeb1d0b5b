"""fit_panel_markov: input checks, error messages, invariances, result objects."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mrdtrack.errors import ConvergenceError
from mrdtrack.multistate import fit_panel_markov, lr_test

Q_CAV = np.array(
    [[0, 0.25, 0, 0.25], [0.166, 0, 0.166, 0.166], [0, 0.25, 0, 0.25], [0, 0, 0, 0]], dtype=float
)
KW = dict(subject="PTNUM", time="years", state="state", qmatrix=Q_CAV, exact_death_states=(4,))


def test_impossible_transition_lists_rows_without_identifiers(cav):
    progressive = Q_CAV.copy()
    progressive[1, 0] = progressive[2, 1] = 0.0
    with pytest.raises(ValueError) as info:
        fit_panel_markov(cav, **{**KW, "qmatrix": progressive})
    msg = str(info.value)
    assert "impossible under the qmatrix" in msg
    assert "row " in msg and "2 -> 1" in msg
    assert "100002" not in msg  # no subject identifiers


def test_missing_values_are_an_error(cav):
    bad = cav.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("years")).alias("years")
    )
    with pytest.raises(ValueError, match="'years' has 3 missing"):
        fit_panel_markov(bad, **KW)


def test_repeated_time_is_an_error(cav):
    dup = pl.concat([cav, cav.head(2)])
    with pytest.raises(ValueError, match="repeat an earlier time"):
        fit_panel_markov(dup, **KW)


def test_state_out_of_range(cav):
    bad = cav.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(7).otherwise(pl.col("state")).alias("state")
    )
    with pytest.raises(ValueError, match="1 row"):
        fit_panel_markov(bad, **KW)


def test_non_convergence_is_reported(cav):
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_panel_markov(cav, **KW, max_iter=1, _polish=False)


def test_row_order_and_frame_type_do_not_matter(cav):
    ref = fit_panel_markov(cav, **KW)
    shuffled = cav.sample(fraction=1.0, shuffle=True, seed=4)
    fit = fit_panel_markov(shuffled.to_pandas(), **KW)
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-7, atol=1e-9)
    assert fit.minus2loglik == pytest.approx(ref.minus2loglik, abs=1e-8)


def test_crude_initial_values_reach_the_same_maximum(cav):
    a = fit_panel_markov(cav, **KW)
    b = fit_panel_markov(cav, **KW, initial_values="crude")
    assert a.minus2loglik == pytest.approx(b.minus2loglik, abs=1e-7)


def test_result_objects(cav):
    fit = fit_panel_markov(cav, **KW)
    tab = fit.table()
    assert tab.height == 7 and set(tab["quantity"]) == {"intensity"}
    text = fit.summary()
    assert "-2 log-likelihood" in text and "1->2" in text
    pm = fit.pmatrix(2.0, ci="delta")
    assert pm.table().height == 16
    np.testing.assert_allclose(pm.estimate.sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="ci must be"):
        fit.pmatrix(1.0, ci="bootstrap")
    with pytest.raises(ValueError):
        lr_test(fit, fit)
    with pytest.raises(dataclasses_frozen_error()):
        fit.minus2loglik = 0.0


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_exact_transition_times_obstype_2():
    """obstype 2: exp(q_rr dt) q_rs, here a two-state model with a closed-form MLE."""
    df = pl.DataFrame(
        {
            "id": [1, 1, 2, 2, 3, 3, 4, 4],
            "t": [0.0, 1.0, 0.0, 2.0, 0.0, 0.5, 0.0, 3.0],
            "s": [1, 2, 1, 2, 1, 2, 1, 1],
            "ot": [1, 2, 1, 2, 1, 2, 1, 1],
        }
    )
    q = np.array([[0, 0.5], [0, 0]])
    fit = fit_panel_markov(df, subject="id", time="t", state="s", qmatrix=q, obstype="ot")
    # the last pair is a snapshot "still in 1 at 3": likelihood exp(-3 q); MLE = 3 / 6.5
    assert fit.intensities()["estimate"][0] == pytest.approx(3 / 6.5, rel=1e-7)
