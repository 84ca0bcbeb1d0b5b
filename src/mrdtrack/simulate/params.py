"""The simulator's parameters: a documented, versioned TOML schema and its loader.

A parameter file is a TOML document whose first key is ``schema =
"mrdtrack.simulate.params/1"``; every other table corresponds to one dataclass below and every
key to one field (rates are per year, times in study days unless the name says otherwise).
Unknown tables or keys are errors (a misspelt rate must not silently fall back to a default).
``docs/methods/simulate.md`` documents each parameter; the shipped example is
``mrdtrack/data/simulation/founding_study.toml``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from mrdtrack.errors import MrdtrackError

SCHEMA_VERSION = "mrdtrack.simulate.params/1"


@dataclass(frozen=True)
class Trial:
    """Trial design: size, accrual window and data cutoff (days from the first enrolment)."""

    n_patients: int = 108
    enrolment_days: float = 1218.0
    cutoff_calendar_day: float = 1857.0
    max_followup_days: float = 1856.0


@dataclass(frozen=True)
class Covariates:
    """Baseline covariates: age (truncated normal), sex, prior ASCT, cytogenetic risk, ISS."""

    age_mean: float = 63.0
    age_sd: float = 10.0
    age_min: float = 38.0
    age_max: float = 87.0
    male: float = 0.63
    prior_transplant: float = 0.48
    high_risk_cytogenetics: float = 0.22
    iss: tuple[float, float, float] = (0.40, 0.35, 0.25)
    induction: tuple[str, ...] = ("VRd", "KRd", "other")
    induction_probs: tuple[float, ...] = (0.6, 0.3, 0.1)
    responses: tuple[str, ...] = ("sCR", "CR", "VGPR", "PR")
    response_probs_if_negative: tuple[float, ...] = (0.4, 0.4, 0.2, 0.0)
    response_probs_if_positive: tuple[float, ...] = (0.1, 0.3, 0.45, 0.15)


@dataclass(frozen=True)
class BaselineMrd:
    """Baseline MRD sample: timing, missingness and the probability of negativity (logistic)."""

    day_min: int = 0
    day_max: int = 28
    missing: float = 0.046
    negative_logit: float = -0.55
    negative_logit_transplant: float = 0.5
    negative_logit_high_risk: float = -0.5
    clonal_log10_mean: float = -3.5
    clonal_log10_sd: float = 1.0


@dataclass(frozen=True)
class MrdDynamics:
    """Continuous-time two-state MRD process (intensities per year, piecewise constant in time)."""

    neg_to_pos_early: float = 0.1
    neg_to_pos_late: float = 0.05
    neg_to_pos_high_risk_log_rr: float = 0.7
    pos_to_neg_early: float = 0.35
    pos_to_neg_late: float = 0.08
    change_day: float = 730.5
    max_transitions: int = 4


@dataclass(frozen=True)
class Progression:
    """Progression hazard (per year) by current MRD state and time since loss of negativity."""

    negative: float = 0.005
    persistent_positive: float = 0.09
    lost_early: float = 0.25
    lost_late: float = 0.6
    lost_change_days: float = 365.25
    high_risk_log_hr: float = 0.4
    age_log_hr_per_10y: float = 0.0


@dataclass(frozen=True)
class Death:
    """Death from causes other than progression: exponential hazard (per year) rising with age."""

    rate_at_mean_age: float = 0.004
    age_log_hr_per_year: float = 0.08
    cause: str = "other cause"
    grade5_term: str = "Death NOS"
    grade5_body_system: str = "General disorders and administration site conditions"


@dataclass(frozen=True)
class Treatment:
    """Maintenance: early stop before the PFS-evaluability cycle, later stops, protocol end."""

    cycle_days: int = 28
    early_discontinuation: float = 0.074
    early_window_days: int = 112
    discontinuation_per_year: float = 0.06
    max_days: float = 1826.0


@dataclass(frozen=True)
class Followup:
    """Loss to follow-up (per year) and how long early discontinuers stay in follow-up."""

    loss_per_year: float = 0.01
    early_withdrawal_followup_days: int = 30


@dataclass(frozen=True)
class Assessment:
    """MRD assessment schedule (anniversaries of the baseline sample), windows and assay."""

    interval_days: float = 365.0
    n_followup_visits: int = 5
    window_days: int = 28
    window_before_days: int = 0
    missed: float = 0.05
    inadequate: float = 0.03
    low_sensitivity: float = 0.03
    lod: float = 1e-5
    low_lod: float = 1e-4
    method: str = "NGF"
    specimen: str = "bone_marrow"


@dataclass(frozen=True)
class AdverseEventTerm:
    """One CTCAE term: per-patient probability of any grade and of grade >= 3."""

    term: str
    body_system: str
    any_grade: float
    grade3plus: float
    grade4_given_3plus: float = 0.1


@dataclass(frozen=True)
class Safety:
    """Adverse events: non-serious terms, the serious-AE fraction and serious terms."""

    terms: tuple[AdverseEventTerm, ...] = ()
    serious_fraction: float = 0.18
    serious_terms: tuple[str, ...] = ("Pneumonia", "Febrile neutropenia", "Sepsis")
    serious_body_systems: tuple[str, ...] = (
        "Infections and infestations",
        "Blood and lymphatic system disorders",
        "Infections and infestations",
    )


@dataclass(frozen=True)
class SimulationParams:
    """All parameters of the generative model (see ``docs/methods/simulate.md``)."""

    name: str = "unnamed"
    description: str = ""
    version: str = "1"
    trial: Trial = field(default_factory=Trial)
    covariates: Covariates = field(default_factory=Covariates)
    baseline_mrd: BaselineMrd = field(default_factory=BaselineMrd)
    mrd_dynamics: MrdDynamics = field(default_factory=MrdDynamics)
    progression: Progression = field(default_factory=Progression)
    death: Death = field(default_factory=Death)
    treatment: Treatment = field(default_factory=Treatment)
    followup: Followup = field(default_factory=Followup)
    assessment: Assessment = field(default_factory=Assessment)
    safety: Safety = field(default_factory=Safety)

    def replace(self, **changes: Any) -> SimulationParams:
        """A copy with ``section__key=value`` changes (e.g. ``progression__negative=0.01``)."""
        out = self
        for key, value in changes.items():
            section, _, name = key.partition("__")
            if not name:
                out = dataclasses.replace(out, **{section: value})
                continue
            sub = getattr(out, section)
            out = dataclasses.replace(out, **{section: dataclasses.replace(sub, **{name: value})})
        return out

    def to_toml(self) -> str:
        """The parameters as a TOML document in the versioned schema (round-trips via loads)."""
        lines = [
            f'schema = "{SCHEMA_VERSION}"',
            f"name = {_toml_value(self.name)}",
            f"description = {_toml_value(self.description)}",
            f"version = {_toml_value(self.version)}",
        ]
        for f in fields(self):
            value = getattr(self, f.name)
            if not dataclasses.is_dataclass(value) or f.name == "safety":
                continue
            lines += ["", f"[{f.name}]"]
            lines += [f"{g.name} = {_toml_value(getattr(value, g.name))}" for g in fields(value)]
        s = self.safety
        lines += ["", "[safety]"]
        lines += [
            f"serious_fraction = {_toml_value(s.serious_fraction)}",
            f"serious_terms = {_toml_value(s.serious_terms)}",
            f"serious_body_systems = {_toml_value(s.serious_body_systems)}",
        ]
        for t in s.terms:
            lines += ["", "[[safety.terms]]"]
            lines += [f"{g.name} = {_toml_value(getattr(t, g.name))}" for g in fields(t)]
        return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise MrdtrackError(
            f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}. "
            "Hint: check the spelling against docs/methods/simulate.md."
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls, name, None) if name in cls.__dataclass_fields__ else None
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise MrdtrackError(f"{where}: {exc}") from None


_SECTIONS = {
    "trial": Trial,
    "covariates": Covariates,
    "baseline_mrd": BaselineMrd,
    "mrd_dynamics": MrdDynamics,
    "progression": Progression,
    "death": Death,
    "treatment": Treatment,
    "followup": Followup,
    "assessment": Assessment,
}


def loads_params(text: str, *, source: str = "<string>") -> SimulationParams:
    """Parse a parameter TOML document (schema ``mrdtrack.simulate.params/1``)."""
    data = tomllib.loads(text)
    schema = data.pop("schema", None)
    if schema != SCHEMA_VERSION:
        raise MrdtrackError(
            f"{source}: schema must be {SCHEMA_VERSION!r}, found {schema!r}. "
            "Hint: the first line of a parameter file names its schema version."
        )
    kwargs: dict[str, Any] = {}
    for key in ("name", "description", "version"):
        if key in data:
            kwargs[key] = str(data.pop(key))
    for key, cls in _SECTIONS.items():
        if key in data:
            kwargs[key] = _build(cls, data.pop(key), f"{source} [{key}]")
    if "safety" in data:
        safety = dict(data.pop("safety"))
        terms = tuple(
            _build(AdverseEventTerm, t, f"{source} [[safety.terms]] #{i + 1}")
            for i, t in enumerate(safety.pop("terms", []))
        )
        kwargs["safety"] = _build(Safety, {**safety, "terms": terms}, f"{source} [safety]")
    if data:
        raise MrdtrackError(f"{source}: unknown table(s) {sorted(data)}")
    return SimulationParams(**kwargs)


def load_params(path: str | Path | None = None) -> SimulationParams:
    """Load a parameter TOML file; ``None`` loads the shipped founding-study parameters."""
    if path is None:
        text = (
            resources.files("mrdtrack.data")
            .joinpath("simulation/founding_study.toml")
            .read_text(encoding="utf-8")
        )
        return loads_params(text, source="founding_study.toml")
    p = Path(path)
    return loads_params(p.read_text(encoding="utf-8"), source=p.name)
