"""The versioned parameter TOML: loading, round trip, errors."""

import pytest

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.params import SCHEMA_VERSION, load_params, loads_params


def test_shipped_parameters_round_trip():
    p = load_params()
    assert p.name == "founding_study"
    assert p.trial.n_patients == 108
    assert loads_params(p.to_toml()) == p


def test_unknown_key_is_an_error_naming_it():
    text = load_params().to_toml().replace("neg_to_pos_late", "neg_to_pos_lat")
    with pytest.raises(MrdtrackError, match="neg_to_pos_lat"):
        loads_params(text)


def test_schema_version_is_required():
    with pytest.raises(MrdtrackError, match="schema"):
        loads_params('name = "x"\n')
    assert loads_params(f'schema = "{SCHEMA_VERSION}"\n').trial.n_patients == 108


def test_replace_changes_one_field():
    p = load_params()
    q = p.replace(progression__negative=0.5)
    assert q.progression.negative == 0.5
    assert q.progression.lost_late == p.progression.lost_late
