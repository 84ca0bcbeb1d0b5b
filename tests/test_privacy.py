"""Pseudonyms: keyed, stable, distinct; ids never reach messages."""

from __future__ import annotations

import hashlib
import hmac

import pytest

import mrdtrack
from mrdtrack.io import example_study_path
from mrdtrack.privacy import pseudonym, pseudonym_table

SALT = "a-long-secret-salt"


def test_pseudonym_is_hmac_sha256():
    expected = "P-" + hmac.new(SALT.encode(), b"001", hashlib.sha256).hexdigest()[:12]
    assert pseudonym("001", SALT) == expected


def test_stable_and_salt_dependent():
    assert pseudonym("001", SALT) == pseudonym("001", SALT)
    assert pseudonym("001", SALT) != pseudonym("001", SALT + "x")
    assert pseudonym("001", SALT) != pseudonym("002", SALT)


def test_short_salt_rejected():
    with pytest.raises(ValueError, match="at least 8 bytes"):
        pseudonym("001", "short")


def test_pseudonymise_cohort():
    c = mrdtrack.read_study(example_study_path("csv"))
    p = c.pseudonymise(SALT)
    ids = set(c.patients.get_column("patient_id"))
    for t in ("patients", "mrd", "outcomes", "adverse_events"):
        col = getattr(p, t).get_column("patient_id")
        assert not ids & set(col)
        assert all(x.startswith("P-") for x in col)
    keys = pseudonym_table(c.patients.get_column("patient_id"), SALT)
    assert keys.height == c.n_patients
    # same analysis numbers
    assert p.pfs().get_column("event").sum() == c.pfs().get_column("event").sum()
    assert sorted(p.mrd.get_column("day")) == sorted(c.mrd.get_column("day"))
    assert p.metadata["pseudonymised"] is True
    assert p.pseudonymise(SALT) != p  # pseudonyms of pseudonyms differ: keyed, not idempotent
