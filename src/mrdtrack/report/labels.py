"""Display labels for the codes the analysis engines return (never shown raw in the report).

One place maps an engine's code (``no_assessment``, ``died_on_or_before_landmark``,
``bone_marrow``) to the words a clinical reader expects; `label` falls back to a readable form
of an unknown code so a new code degrades to words, not to an identifier. Clinical orders
(IMWG response categories) live here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CODE_LABELS = {
    # not classifiable (mrdtrack.mrd.classify_trajectories)
    "no_assessment": "No MRD assessment",
    "no_evaluable_assessment": "No evaluable MRD assessment",
    "single_evaluable_assessment": "Only one evaluable MRD assessment",
    # not at risk at a landmark (mrdtrack.mrd.landmark_data)
    "died_on_or_before_landmark": "Died on or before the landmark",
    "progressed_on_or_before_landmark": "Progressed on or before the landmark",
    "follow_up_ended_on_or_before_landmark": "Follow-up ended on or before the landmark",
    # PFS / OS event types (Cohort.pfs)
    "progression": "Progression",
    "death": "Death without prior progression",
    "censored": "Censored",
    # specimens
    "bone_marrow": "Bone marrow",
    "peripheral_blood": "Peripheral blood",
    # sex
    "F": "Female",
    "M": "Male",
    # covariates of the multivariable Cox model
    "mrd_positive": "MRD+ (current)",
}

#: IMWG response categories, best first (Kumar et al., Lancet Oncol 2016).
RESPONSE_ORDER = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD")

#: Columns whose levels have a clinical (not alphabetical) order.
LEVEL_ORDER = {"baseline_response": RESPONSE_ORDER, "iss": ("I", "II", "III")}


def label(code: Any) -> str:
    """The display label of an engine code; unknown codes become words (``a_b`` -> ``A b``)."""
    if code is None:
        return "Not recorded"
    s = str(code)
    if s in CODE_LABELS:
        return CODE_LABELS[s]
    if "_" in s:
        words = s.replace("_", " ")
        return words[0].upper() + words[1:]
    return s


def ordered(column: str, values: Iterable[Any]) -> list[Any]:
    """Levels of ``column`` in clinical order where one exists, else sorted as text."""
    order = {v: i for i, v in enumerate(LEVEL_ORDER.get(column, ()))}
    return sorted(values, key=lambda v: (order.get(v, len(order)), str(v)))
