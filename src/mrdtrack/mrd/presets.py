"""Disease presets: which MRD results count, at what level, and the guideline's vocabulary.

A preset fixes, for one disease and its guideline (sources, and for each rule whether its
wording was verified or is a paraphrase, in ``docs/methods/mrd.md``, section 7):

- the specimens that count and their priority (first = preferred compartment);
- the level that separates MRD-negative from MRD-positive (``threshold``) and, per method
  family, whether a detected level *below* it is still positive (``detection``) or negative at
  that level (``level``), and the sensitivity a negative must reach;
- the methods allowed (our method codes, `mrdtrack.schema.METHOD_CODES`);
- the trajectory / response classes with their labels, in the guideline's words.

``myeloma`` (IMWG 2016) is the default and reproduces mrdtrack's behaviour before presets.
Rules a guideline leaves open are *options* of the preset. The disease and its options are
validated study metadata of the `mrdtrack.cohort.Cohort` (``cohort.disease``,
``cohort.disease_options``), set from the study map by `mrdtrack.io.read_study`::

    [study]
    disease = "all"

    [study.disease_options]
    eoi_day = 33
    eoc_day = 78

by `mrdtrack.io.read_adam` from ``disease=`` / ``disease_options=``, and changed with
`Cohort.with_disease` (the CLI's ``--disease``). `disease_problems` lists every unknown
disease, unknown option or invalid value (the validator's rules); `get_preset` raises them.

Method codes: the study contract has one code per assay family — ``NGF`` for flow cytometry
(multiparameter / next-generation flow, MFC), ``ASO-PCR`` for any target-specific qPCR
(IG/TR ASO-RQ-PCR in ALL and CLL; mutation-specific NPM1 or fusion-transcript qPCR in AML),
``NGS`` for sequencing. Map a laboratory's own codes onto these in the study map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DISEASES = ("myeloma", "cll", "aml", "all")

FAMILIES = {"NGF": "flow", "ASO-PCR": "molecular", "NGS": "ngs", "PET-CT": "imaging"}


@dataclass(frozen=True)
class FamilyRule:
    """How one method family is called.

    ``positivity``: ``"detection"`` (any detected clone is positive) or ``"level"`` (positive
    only at a level >= ``level``; a detected level below it is negative at that level).
    ``level``: the positivity level for ``"level"`` rules (None: the preset's threshold).
    ``sensitivity``: the sensitivity a negative must reach (None: the preset's threshold).
    ``stand_alone``: whether this family alone can give a visit its call. False: its results
    count only at a visit where an assay of a stand-alone family is evaluable; alone they
    are not evaluable (reason ``not_stand_alone``; ELN 2021 recommendation D4 for NGS-MRD).
    """

    positivity: str = "detection"
    level: float | None = None
    sensitivity: float | None = None
    stand_alone: bool = True


@dataclass(frozen=True)
class Preset:
    """One disease's MRD rules (see module docstring). Build with `get_preset`."""

    name: str
    title: str
    guideline: str
    threshold: float
    specimens: tuple[str, ...]
    methods: tuple[str, ...] | None
    families: Mapping[str, FamilyRule]
    combine: str
    classes: tuple[str, ...]
    class_labels: Mapping[str, str]
    status_labels: Mapping[str, str]
    comparisons: tuple[tuple[str, str, str], ...]
    highlight_classes: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    by_compartment: bool = False

    def label(self, cls: str) -> str:
        """The guideline's label of a class (the code itself when unknown)."""
        return self.class_labels.get(cls, cls)

    def describe(self) -> str:
        """One paragraph: guideline, threshold, specimens, methods, options."""
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.options.items())) or "none"
        methods = ", ".join(self.methods) if self.methods else "all"
        return (
            f"{self.title} ({self.guideline}); threshold {self.threshold:g}; specimens "
            f"{', '.join(self.specimens)} (in order of priority); methods {methods}; "
            f"options: {opts}"
        )


_IMWG_CLASSES = (
    "sustained_negative",
    "conversion",
    "loss_of_negativity",
    "persistent_positive",
    "not_classifiable",
)
_STATUS_LABELS = {
    "negative": "MRD−",
    "positive": "MRD+",
    "not_evaluable": "Not evaluable",
    "not_assessed": "Not assessed",
}

# CLL classes are the IMWG-style trajectory rules in iwCLL 2018 words (uMRD = undetectable MRD).
CLL_RENAME = {
    "sustained_negative": "umrd_sustained",
    "conversion": "umrd_achieved",
    "loss_of_negativity": "umrd_loss",
    "persistent_positive": "mrd_persistent",
    "not_classifiable": "not_classifiable",
}

_OPTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "myeloma": {},
    "cll": {},
    "aml": {
        # ELN 2021 MRD relapse is confirmed by a second consecutive sample (paraphrase, not
        # verified against the text); "none" classes the first positive sample.
        "relapse_confirmation": "next_sample",
        # Largest gap in days between the triggering and the confirming sample (None: any).
        "confirm_within_days": None,
        # Molecular low-level (CR MRD-LL) cut-off, NPM1mut/ABL1 as a fraction (2% = 0.02;
        # paraphrase of ELN 2021, not verified against the text).
        "low_level": 0.02,
        # Sensitivity a molecular (qPCR) negative must reach (ours, not from the text).
        "molecular_sensitivity": 1e-4,
        # NGS-MRD positivity level, variant allele fraction (paraphrase of ELN 2021, not
        # verified against the text).
        "ngs_level": 1e-3,
        # NGS-MRD alone gives no visit call. Verified, ELN 2021 clinical recommendation D4:
        # "there are insufficient data to recommend NGS-MRD as a stand-alone technique".
        "ngs_stand_alone": False,
    },
    "all": {
        "eoi_day": None,  # study day of the end-of-induction time point (protocol)
        "eoc_day": None,  # study day of the end-of-consolidation time point (protocol)
        "timepoint_window_days": 14,  # a sample within +/- this many days counts
        "reappearance_min_level": None,  # None: any detected MRD after MRD negativity
        "relapse_confirmation": "none",  # or "next_sample"
    },
}

_OPTION_CHECKS = {
    "relapse_confirmation": lambda v: v in ("next_sample", "none"),
    "confirm_within_days": lambda v: v is None or (_is_int(v) and v >= 0),
    "low_level": lambda v: _is_num(v) and 0 < v < 1,
    "molecular_sensitivity": lambda v: _is_num(v) and 0 < v < 1,
    "ngs_level": lambda v: _is_num(v) and 0 < v < 1,
    "eoi_day": lambda v: v is None or _is_int(v),
    "eoc_day": lambda v: v is None or _is_int(v),
    "timepoint_window_days": lambda v: _is_int(v) and v >= 0,
    "reappearance_min_level": lambda v: v is None or (_is_num(v) and 0 < v < 1),
    "ngs_stand_alone": lambda v: isinstance(v, bool),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _build(name: str, options: Mapping[str, Any]) -> Preset:
    o = dict(options)
    if name == "myeloma":
        return Preset(
            name="myeloma",
            title="Multiple myeloma",
            guideline="IMWG 2016, Kumar et al., Lancet Oncol 2016;17:e328-e346",
            threshold=1e-5,
            specimens=("bone_marrow",),
            methods=None,
            families={},
            combine="all_evaluable",
            classes=_IMWG_CLASSES,
            class_labels={
                "sustained_negative": "Sustained MRD negativity",
                "conversion": "Conversion MRD+ → MRD−",
                "loss_of_negativity": "Loss of MRD negativity",
                "persistent_positive": "Persistent MRD positivity",
                "not_classifiable": "Not classifiable",
            },
            status_labels=_STATUS_LABELS,
            comparisons=(
                ("lost_vs_sustained", "loss_of_negativity", "sustained_negative"),
                ("lost_vs_persistent", "loss_of_negativity", "persistent_positive"),
            ),
            highlight_classes=_IMWG_CLASSES[:4],
            options=o,
        )
    if name == "cll":
        classes = tuple(CLL_RENAME[c] for c in _IMWG_CLASSES)
        return Preset(
            name="cll",
            title="Chronic lymphocytic leukaemia",
            guideline="iwCLL 2018, Hallek et al., Blood 2018;131:2745-2760",
            threshold=1e-4,
            specimens=("bone_marrow", "peripheral_blood"),
            methods=("NGF", "ASO-PCR", "NGS"),
            families={
                "flow": FamilyRule("level"),
                "molecular": FamilyRule("level"),
                "ngs": FamilyRule("level"),
            },
            combine="all_evaluable",
            classes=classes,
            class_labels={
                "umrd_sustained": "Sustained uMRD",
                "umrd_achieved": "Conversion MRD+ → uMRD",
                "umrd_loss": "Loss of uMRD (MRD conversion)",
                "mrd_persistent": "Persistent detectable MRD",
                "not_classifiable": "Not classifiable",
            },
            status_labels={**_STATUS_LABELS, "negative": "uMRD", "positive": "MRD+"},
            comparisons=(
                ("lost_vs_sustained", "umrd_loss", "umrd_sustained"),
                ("lost_vs_persistent", "umrd_loss", "mrd_persistent"),
            ),
            highlight_classes=classes[:4],
            options=o,
            by_compartment=True,
        )
    if name == "aml":
        classes = (
            "cr_mrd_negative",
            "cr_mrd_low_level",
            "mrd_positive",
            "mrd_relapse",
            "not_classifiable",
        )
        return Preset(
            name="aml",
            title="Acute myeloid leukaemia",
            guideline="ELN 2021 MRD update, Heuser et al., Blood 2021;138:2753-2767",
            threshold=1e-3,
            specimens=("bone_marrow", "peripheral_blood"),
            methods=("NGF", "ASO-PCR", "NGS"),
            families={
                "flow": FamilyRule("level"),
                "molecular": FamilyRule("detection", sensitivity=o["molecular_sensitivity"]),
                "ngs": FamilyRule(
                    "level",
                    level=o["ngs_level"],
                    sensitivity=o["ngs_level"],
                    stand_alone=o["ngs_stand_alone"],
                ),
            },
            combine="priority",
            classes=classes,
            class_labels={
                "cr_mrd_negative": "CR with MRD negativity (CR MRD−)",
                "cr_mrd_low_level": "Molecular persistence at low level (CR MRD-LL)",
                "mrd_positive": "MRD positive (persistence)",
                "mrd_relapse": "MRD relapse",
                "not_classifiable": "Not classifiable",
            },
            status_labels=_STATUS_LABELS,
            comparisons=(
                ("relapse_vs_negative", "mrd_relapse", "cr_mrd_negative"),
                ("positive_vs_negative", "mrd_positive", "cr_mrd_negative"),
            ),
            highlight_classes=classes[:4],
            options=o,
        )
    if name == "all":
        classes = (
            "early_complete_response",
            "late_complete_response",
            "mrd_intermediate",
            "mrd_failure",
            "mrd_reappearance",
            "not_classifiable",
        )
        return Preset(
            name="all",
            title="Acute lymphoblastic leukaemia",
            guideline=(
                "EuroMRD/European ALL groups, Brüggemann et al., Leukemia 2010;24:521-535 "
                "(MRD response terminology)"
            ),
            threshold=1e-4,
            specimens=("bone_marrow",),
            methods=("NGF", "ASO-PCR", "NGS"),
            families={
                "flow": FamilyRule("detection"),
                "molecular": FamilyRule("detection"),
                "ngs": FamilyRule("detection"),
            },
            combine="all_evaluable",
            classes=classes,
            class_labels={
                "early_complete_response": "Complete MRD response at end of induction",
                "late_complete_response": "Complete MRD response at end of consolidation only",
                "mrd_intermediate": "MRD intermediate (< 10⁻⁴ or insufficient sensitivity)",
                "mrd_failure": "MRD failure (≥ 10⁻⁴)",
                "mrd_reappearance": "MRD reappearance",
                "not_classifiable": "Not classifiable",
            },
            status_labels=_STATUS_LABELS,
            comparisons=(
                ("failure_vs_early_response", "mrd_failure", "early_complete_response"),
                ("intermediate_vs_early_response", "mrd_intermediate", "early_complete_response"),
            ),
            highlight_classes=classes[:5],
            options=o,
        )
    raise AssertionError(name)  # pragma: no cover


# What each option accepts (the hint of an ``invalid_disease_option`` problem).
OPTION_HELP = {
    "relapse_confirmation": '"next_sample" or "none"',
    "confirm_within_days": "a whole number of days >= 0 (or leave it out)",
    "low_level": "a fraction in (0, 1), e.g. 0.02 for 2 %",
    "molecular_sensitivity": "a fraction in (0, 1), e.g. 1e-4",
    "ngs_level": "a fraction in (0, 1), e.g. 1e-3",
    "eoi_day": "a study day (whole number)",
    "eoc_day": "a study day (whole number)",
    "timepoint_window_days": "a whole number of days >= 0",
    "reappearance_min_level": "a fraction in (0, 1) (or leave it out)",
    "ngs_stand_alone": "true or false",
}


def disease_problems(
    disease: Any, options: Mapping[str, Any] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every problem of a disease and its options, as ``(rule, details)`` pairs.

    Rules (those of `mrdtrack.validation.RULES`): ``unknown_disease`` (the disease is not one
    of `DISEASES`; its options are then not checked), ``unknown_disease_option``,
    ``invalid_disease_option``. An empty list: `get_preset` will accept them.
    """
    name = disease.strip().lower() if isinstance(disease, str) else None
    if name not in DISEASES:
        return [("unknown_disease", {"disease": disease, "diseases": ", ".join(DISEASES)})]
    defaults = _OPTION_DEFAULTS[name]
    allowed = ", ".join(sorted(defaults)) or "none"
    out: list[tuple[str, dict[str, Any]]] = []
    for k, v in sorted(dict(options or {}).items(), key=lambda kv: str(kv[0])):
        if k not in defaults:
            out.append(
                ("unknown_disease_option", {"disease": name, "option": k, "allowed": allowed})
            )
        elif not _OPTION_CHECKS[k](v):
            out.append(
                (
                    "invalid_disease_option",
                    {"disease": name, "option": k, "expected": OPTION_HELP[k]},
                )
            )
    return out


def get_preset(
    disease: str | Preset | None = None, options: Mapping[str, Any] | None = None
) -> Preset:
    """The preset of ``disease`` ("myeloma" when None) with its guideline-open options set.

    Raises ValueError listing every unknown disease, unknown option or invalid value at once
    (the problems of `disease_problems`).
    """
    if isinstance(disease, Preset):
        if options:
            return get_preset(disease.name, {**disease.options, **options})
        return disease
    name = "myeloma" if disease is None else disease
    problems = disease_problems(name, options)
    if problems:
        if problems[0][0] == "unknown_disease":
            raise ValueError(f"disease must be one of {list(DISEASES)}, got {disease!r}")
        name = str(name).strip().lower()
        text = [
            f"unknown option {d['option']!r}"
            if rule == "unknown_disease_option"
            else f"option {d['option']!r} has an invalid value (expected {d['expected']})"
            for rule, d in problems
        ]
        allowed = ", ".join(sorted(_OPTION_DEFAULTS[name])) or "none"
        raise ValueError(
            f"disease {name!r}: " + "; ".join(text) + f" (options of {name}: {allowed})"
        )
    name = str(name).strip().lower()
    return _build(name, {**_OPTION_DEFAULTS[name], **dict(options or {})})


def with_threshold(preset: Preset, threshold: float | None) -> Preset:
    """The preset with its headline threshold replaced (None keeps it)."""
    if threshold is None:
        return preset
    if not (0.0 < float(threshold) < 1.0):
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return replace(preset, threshold=float(threshold))


def preset_for(
    data: Any, disease: str | Preset | None = None, options: Mapping[str, Any] | None = None
) -> Preset:
    """The preset that applies to ``data`` (a Cohort or an MRD frame).

    Order: ``disease`` given here (a name or a `Preset`; ``options`` then start from the
    preset's defaults); else the Cohort's own ``disease`` and ``disease_options`` (validated
    study metadata, set by `mrdtrack.io.read_study` from ``[study] disease``, by
    `mrdtrack.io.read_adam` from ``disease=``; see `mrdtrack.cohort.Cohort`); else (an MRD
    frame) myeloma. ``options`` are merged over the Cohort's.
    """
    if disease is not None:
        return get_preset(disease, options)
    name = getattr(data, "disease", None)
    if isinstance(name, str):
        base = dict(getattr(data, "disease_options", None) or {})
        return get_preset(name, {**base, **(options or {})})
    return get_preset("myeloma", options)
