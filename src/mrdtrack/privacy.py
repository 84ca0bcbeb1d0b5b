"""Pseudonymisation of patient identifiers for outputs.

A pseudonym is a keyed hash of the identifier: ``P-`` + the first 12 hexadecimal digits of
HMAC-SHA256(key = salt, message = identifier as UTF-8) (Krawczyk, Bellare and Canetti, RFC 2104,
1997; NIST FIPS 198-1). The same identifier and salt always give the same pseudonym (stable
across runs and data cuts, so outputs can be linked); without the salt the mapping cannot be
recomputed or reversed by trying identifiers, which a plain hash would allow. Keep the salt
secret and out of the outputs. 48 bits make a collision among 10^5 patients improbable
(about 2e-5); a collision is detected and raised, never merged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any

import polars as pl

from mrdtrack.errors import MrdtrackError

PREFIX = "P-"
DIGITS = 12
MIN_SALT_BYTES = 8


def _key(salt: str | bytes) -> bytes:
    key = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    if len(key) < MIN_SALT_BYTES:
        raise ValueError(
            f"the pseudonymisation salt must be at least {MIN_SALT_BYTES} bytes; use a long "
            "random secret (e.g. python -c 'import secrets; print(secrets.token_hex(16))')"
        )
    return key


def pseudonym(patient_id: str, salt: str | bytes) -> str:
    """The pseudonym of one identifier: ``P-`` + 12 hex digits of HMAC-SHA256(salt, id)."""
    digest = hmac.new(_key(salt), str(patient_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def pseudonym_table(ids: Any, salt: str | bytes) -> pl.DataFrame:
    """Key table ``patient_id, pseudonym`` for distinct ``ids`` (keep it with the salt).

    Raises `MrdtrackError` if two identifiers share a pseudonym.
    """
    key = _key(salt)
    distinct = sorted({str(x) for x in ids if x is not None})
    pseudo = [
        PREFIX + hmac.new(key, x.encode("utf-8"), hashlib.sha256).hexdigest()[:DIGITS]
        for x in distinct
    ]
    if len(set(pseudo)) != len(pseudo):
        raise MrdtrackError(
            "two patient identifiers received the same pseudonym; choose another salt"
        )
    return pl.DataFrame(
        {"patient_id": distinct, "pseudonym": pseudo},
        schema={"patient_id": pl.String, "pseudonym": pl.String},
    )


def pseudonymise(cohort: Any, salt: str | bytes) -> Any:
    """Return the cohort with every ``patient_id`` replaced by its pseudonym.

    Tables are re-sorted by pseudonym, so row order reveals nothing either. Exclusions cite
    file and row only and are kept; ``metadata["pseudonymised"]`` is set.
    """
    keys = pseudonym_table(cohort.patients.get_column("patient_id"), salt)
    lookup = dict(zip(keys.get_column("patient_id"), keys.get_column("pseudonym"), strict=True))

    def swap(df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
        if df.height == 0:
            return df
        out = df.with_columns(pl.col("patient_id").replace_strict(lookup, return_dtype=pl.String))
        return out.sort(by, nulls_last=True, maintain_order=True)

    meta = dict(cohort.metadata)
    meta["pseudonymised"] = True
    return replace(
        cohort,
        patients=swap(cohort.patients, ["patient_id"]),
        mrd=swap(cohort.mrd, ["patient_id", "day", "method", "specimen"]),
        outcomes=swap(cohort.outcomes, ["patient_id"]),
        adverse_events=swap(cohort.adverse_events, list(cohort.adverse_events.columns)),
        metadata=meta,
    )
