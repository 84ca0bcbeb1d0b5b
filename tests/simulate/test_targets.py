"""Targets schema /2: what a published MRD paper says, every figure with its role."""

import warnings

import numpy as np
import pytest

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.calibrate import default_params_for
from mrdtrack.simulate.figures import (
    check_design,
    figure_statistics,
    observed_components,
    simulate_study,
)
from mrdtrack.simulate.targets import load_study_targets, loads_targets

warnings.filterwarnings("ignore", category=RuntimeWarning)

HEAD = 'schema = "mrdtrack.simulate.targets/2"\n[trial]\nenrolled = 60\n'
ASM = '[[assessments]]\nname = "base"\nvisit = 0\nday = 0\nlod = 1e-4\n'


def _fig(**kw):
    body = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in kw.items())
    return "[[figures]]\n" + body


@pytest.mark.parametrize("name", ["founding_study", "uams_loss_of_negativity", "myeloma_xi"])
def test_shipped_targets_load_and_simulate(name):
    t = load_study_targets(name)
    p = default_params_for(t)
    check_design(p, t)
    st = simulate_study(p, t, 8, 1)
    assert st.pfs_time.shape == (8, t.enrolled)  # the trial size comes from the figures
    stats = figure_statistics(st, t)
    assert set(observed_components(t)) <= set(stats)
    assert t.by_role("fit") and t.by_role("design")


def test_trial_size_and_arms_come_from_the_targets():
    t = load_study_targets("myeloma_xi")
    assert t.enrolled == 750 and t.randomised
    assert [a.name for a in t.arms] == ["lenalidomide", "observation"]
    st = simulate_study(default_params_for(t), t, 2, 3)
    assert st.pfs_time.shape[1] == 750
    assert np.bincount(st.arm).tolist() == [439, 311]
    assert [a.lod for a in t.assessments] == [4e-5, 4e-5]


def test_unknown_names_are_errors_with_the_nearest_valid_name():
    bad = HEAD + ASM + _fig(name="x", kind="count", statistc="evaluable_pfs", value=3, role="fit")
    with pytest.raises(MrdtrackError, match=r"'statistc'.*did you mean 'statistic'"):
        loads_targets(bad)
    bad = HEAD + ASM + _fig(name="x", kind="km_survivl", value=0.5, role="fit")
    with pytest.raises(MrdtrackError, match="did you mean 'km_survival'"):
        loads_targets(bad)
    bad = HEAD + ASM + _fig(name="x", kind="count", statistic="evaluable_pfs", value=3, role="fitt")
    with pytest.raises(MrdtrackError, match="did you mean 'fit'"):
        loads_targets(bad)
    bad = HEAD + "enroled = 3\n" + ASM
    with pytest.raises(MrdtrackError, match="did you mean 'enrolled'"):
        loads_targets(bad)
    bad = (
        HEAD
        + ASM
        + _fig(
            name="x", kind="count", statistic="mrd_negative", assessment="bse", value=3, role="fit"
        )
    )
    with pytest.raises(MrdtrackError, match="did you mean 'base'"):
        loads_targets(bad)


def test_all_problems_reported_at_once_and_no_silent_default():
    bad = (
        'schema = "mrdtrack.simulate.targets/2"\n[trial]\n'
        + _fig(name="a", kind="fact", value=1, role="fit")
        + _fig(name="a", kind="hazard_ratio", endpoint="os", comparison="mrd_status",
               groups=["negative", "positive"], value=-1, role="check")
    )  # fmt: skip
    with pytest.raises(MrdtrackError) as e:
        loads_targets(bad)
    msg = str(e.value)
    for part in ("enrolled", "role must be 'design'", "endpoint 'os'", "needs 'assessment'",
                 "positive number", "not unique"):  # fmt: skip
        assert part in msg, (part, msg)


def test_schema_and_toml_errors():
    with pytest.raises(MrdtrackError, match="schema"):
        loads_targets('schema = "mrdtrack.simulate.targets/1"\n')
    with pytest.raises(MrdtrackError, match="not valid TOML"):
        loads_targets("schema = \n")


def test_coarser_lod_is_read_per_assessment():
    # a 1e-4 assessment on a 1e-5 simulated assay: negatives exist, and fewer positives
    t5 = loads_targets(
        HEAD
        + ASM.replace("1e-4", "1e-5")
        + _fig(
            name="n", kind="count", statistic="mrd_negative", assessment="base", value=1, role="fit"
        )
    )
    t4 = loads_targets(
        HEAD
        + ASM
        + _fig(
            name="n", kind="count", statistic="mrd_negative", assessment="base", value=1, role="fit"
        )
    )
    p = default_params_for(t5)
    n5 = figure_statistics(simulate_study(p, t5, 50, 2), t5)["n"]
    n4 = figure_statistics(simulate_study(p, t4, 50, 2), t4)["n"]
    assert (n4 >= n5).all() and n4.mean() > n5.mean() > 0
    with pytest.raises(MrdtrackError, match="finer than the simulated assay"):
        check_design(p, loads_targets(HEAD + ASM.replace("1e-4", "1e-6")))


def test_proportion_must_match_its_denominator():
    bad = HEAD + ASM + _fig(name="x", kind="proportion", statistic="mrd_negative",
                            assessment="base", value=0.5, numerator=10, denominator=30,
                            role="fit")  # fmt: skip
    with pytest.raises(MrdtrackError, match="numerator/denominator"):
        loads_targets(bad)
