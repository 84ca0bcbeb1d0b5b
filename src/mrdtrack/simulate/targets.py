"""Calibration targets: a published MRD study's figures, each with its role (schema ``/2``).

A targets file is a TOML document (schema ``mrdtrack.simulate.targets/2``, documented in
``docs/methods/simulate.md``) that writes down what a trial paper reports, and says for every
figure what the calibration does with it:

- ``role = "fit"``: the figure enters the synthetic likelihood the parameters are inferred from;
- ``role = "check"``: held out; the goodness-of-fit check predicts it (`mrdtrack.simulate.gof`);
- ``role = "design"``: a declared input (a design fact, or a figure the model reproduces by
  construction, such as the enrolled count); it is listed as ``input`` and never counted as a
  passed check.

Nothing is silently ignored: an unknown table, key, kind, statistic, class, role or endpoint is
an error naming the nearest valid spelling (``difflib``), and a ``fit``/``check`` figure that the
model cannot simulate is an error too. The trial size is a figure of the file (``[trial]
enrolled``), never a default of the parameter file.

Layout::

    schema = "mrdtrack.simulate.targets/2"
    name = "..."                 # study name
    params = "founding_study.toml"   # parameter file: start and prior centre
    [sources]                    # citation of every source a figure names
    [trial]  enrolled = 108, randomised = false, landmark_months = 24, population = "evaluable"
    [[trial.arms]]  name, fraction, overrides = {section__key = value}   (optional)
    [[assessments]]  name, visit (0 = baseline), day, assay, lod (repeat, every_days: a series
                     name1, name2, … of visits visit, visit + 1, … every every_days days)
    [[figures]]  name, kind, role, value, source, ... (kind-specific keys below)
    [calibration]  free = [...], [calibration.priors] section__key = {centre, sd}

Figure kinds (`KINDS`) and their keys: see `KINDS` and ``docs/methods/simulate.md``.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from mrdtrack.errors import MrdtrackError

TARGETS_SCHEMA = "mrdtrack.simulate.targets/2"
ROLES = ("fit", "check", "design")
ENDPOINTS = ("pfs",)
POPULATIONS = ("all", "evaluable")
CLASSES = (
    "sustained_negative",
    "conversion",
    "loss_of_negativity",
    "persistent_positive",
)
STATUSES = ("negative", "positive")

#: ``count`` statistics (per trial or arm); the ``mrd_*`` ones need ``assessment``
COUNT_STATISTICS = (
    "evaluable_pfs",
    "on_treatment_at_cutoff",
    "deaths",
    "pfs_events",
    "mrd_assessed",
    "mrd_negative",
    "mrd_positive",
)
#: ``proportion`` statistics; ``mrd_negative`` is among those assessed at ``assessment``,
#: ``conversion`` the fraction negative at ``assessment`` among those positive at ``from``
PROPORTION_STATISTICS = (
    "serious_ae",
    "mrd_negative",
    "conversion",
    "loss_among_baseline_negative",
    "without_progression_after_loss",
)
#: ``quantity`` statistics (a median of a per-patient time, in the unit of the name)
QUANTITY_STATISTICS = ("median_years_to_loss", "median_years_to_progression_after_loss")

_COMMON = ("name", "kind", "role", "value", "source", "arm", "note")
#: kind -> (required keys, optional keys) beyond `_COMMON`
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "count": (("statistic",), ("assessment",)),
    "proportion": (("statistic",), ("assessment", "from", "numerator", "denominator")),
    "quantity": (("statistic",), ()),
    "class_count": (("class",), ("landmark_months",)),
    "km_survival": (("endpoint", "months"), ("population", "ci")),
    "km_median": (("endpoint",), ("population", "ci")),
    "median_followup": ((), ("population",)),
    "hazard_ratio": (
        ("endpoint", "comparison", "groups"),
        ("assessment", "landmark_months", "population", "ci", "p", "p_max"),
    ),
    "fact": ((), ()),
}
COMPARISONS = ("mrd_status", "mrd_class", "arm")

_TOP = ("schema", "name", "params", "description", "sources", "trial", "assessments")
_TOP += ("figures", "calibration")
_TRIAL = ("enrolled", "randomised", "landmark_months", "population", "arms", "min_cycles")
_ARM = ("name", "fraction", "overrides")
_ASSESSMENT = ("name", "visit", "day", "assay", "lod", "specimen", "repeat", "every_days")
_CALIBRATION = ("free", "priors")
_PRIOR = ("centre", "sd")


def _near(word: str, valid: tuple[str, ...] | list[str]) -> str:
    m = difflib.get_close_matches(str(word), list(valid), n=1, cutoff=0.5)
    return f" (did you mean {m[0]!r}?)" if m else f" (valid: {', '.join(valid)})"


def _check_keys(data: dict, valid: tuple[str, ...], where: str, problems: list[str]) -> None:
    for key in data:
        if key not in valid:
            problems.append(f"{where}: unknown key {key!r}{_near(key, valid)}")


def _check_value(value: Any, valid: tuple[str, ...], what: str, where: str, problems: list[str]):
    if value not in valid:
        problems.append(f"{where}: unknown {what} {value!r}{_near(value, valid)}")


@dataclass(frozen=True)
class Arm:
    """A trial arm: its share of the enrolled patients and its parameter overrides."""

    name: str
    fraction: float
    overrides: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """A scheduled MRD assessment: simulated visit index, nominal day, assay and its LOD."""

    name: str
    visit: int
    day: float
    lod: float
    assay: str = ""


@dataclass(frozen=True)
class Figure:
    """One published figure: ``kind``-specific ``spec`` keys, its ``value`` and ``role``."""

    name: str
    kind: str
    role: str
    value: Any
    spec: dict[str, Any]
    source: str = ""
    arm: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Prior:
    """Normal prior on the free (log / logit / identity) scale: ``centre`` on the natural
    scale (``None``: the parameter file's value) and ``sd`` on the free scale."""

    centre: float | None = None
    sd: float = 1.0


@dataclass(frozen=True)
class StudyTargets:
    """A study's published figures, trial design and calibration settings (schema ``/2``)."""

    name: str
    enrolled: int
    figures: tuple[Figure, ...]
    assessments: tuple[Assessment, ...]
    arms: tuple[Arm, ...] = ()
    randomised: bool = False
    landmark_months: float = 24.0
    population: str = "all"
    min_cycles: int = 4
    params: str | None = None
    free: tuple[str, ...] = ()
    priors: dict[str, Prior] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    description: str = ""
    path: str = ""

    def by_role(self, role: str) -> tuple[Figure, ...]:
        return tuple(f for f in self.figures if f.role == role)

    def assessment(self, name: str) -> Assessment:
        return next(a for a in self.assessments if a.name == name)

    def table(self):
        """One row per figure: name, kind, role, value, arm, source."""
        return pl.DataFrame(
            {
                "figure": [f.name for f in self.figures],
                "kind": [f.kind for f in self.figures],
                "role": [f.role for f in self.figures],
                "value": [str(f.value) for f in self.figures],
                "arm": [f.arm or "" for f in self.figures],
                "source": [f.source for f in self.figures],
            }
        )

    def summary(self) -> str:
        n = {r: len(self.by_role(r)) for r in ROLES}
        arms = ", ".join(f"{a.name} ({a.fraction:.3g})" for a in self.arms) or "single arm"
        return (
            f"Targets {self.name}: {self.enrolled} enrolled; {arms}; "
            f"{len(self.assessments)} assessments; {n['fit']} figures to fit, "
            f"{n['check']} held out, {n['design']} design inputs"
        )


def _parse_arms(trial: dict, enrolled: int, src: str, problems: list[str]) -> tuple[Arm, ...]:
    arms = []
    for i, a in enumerate(trial.get("arms", [])):
        where = f"{src} [[trial.arms]] #{i + 1}"
        _check_keys(a, _ARM, where, problems)
        try:
            frac = float(a.get("fraction", math.nan))
        except (TypeError, ValueError):
            frac = math.nan
        if not 0 < frac <= 1:
            problems.append(f"{where}: fraction must be in (0, 1], found {a.get('fraction')!r}")
        over = a.get("overrides", {})
        if not isinstance(over, dict):
            problems.append(f"{where}: overrides must be a table of section__key = value")
            over = {}
        arms.append(Arm(str(a.get("name", f"arm{i + 1}")), frac, dict(over)))
    if arms and all(math.isfinite(a.fraction) for a in arms):
        total = sum(a.fraction for a in arms)
        if abs(total - 1) > 1e-6:
            problems.append(f"{src} [trial.arms]: fractions sum to {total:.6g}, not 1")
    return tuple(arms)


def _parse_assessments(data: list, src: str, problems: list[str]) -> tuple[Assessment, ...]:
    out = []
    for i, a in enumerate(data):
        where = f"{src} [[assessments]] #{i + 1}"
        _check_keys(a, _ASSESSMENT, where, problems)
        missing = [k for k in ("name", "visit", "day", "lod") if k not in a]
        if missing:
            problems.append(f"{where}: missing key(s) {missing}")
            continue
        lod = a["lod"]
        if not isinstance(lod, int | float) or not 0 < lod < 1:
            problems.append(f"{where}: lod must be a fraction in (0, 1), found {lod!r}")
            continue
        if not isinstance(a["visit"], int) or a["visit"] < 0:
            problems.append(f"{where}: visit must be an integer >= 0")
            continue
        repeat, every = a.get("repeat", 1), a.get("every_days", 0.0)
        if not isinstance(repeat, int) or repeat < 1 or (repeat > 1 and not every):
            problems.append(f"{where}: repeat must be an integer >= 1 (with every_days)")
            continue
        for k in range(repeat):
            out.append(
                Assessment(
                    str(a["name"]) if repeat == 1 else f"{a['name']}{k + 1}",
                    int(a["visit"]) + k,
                    float(a["day"]) + k * float(every),
                    float(lod),
                    str(a.get("assay", "")),
                )
            )
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        problems.append(f"{src}: assessment names are not unique: {names}")
    return tuple(out)


def _parse_figure(
    f: dict, i: int, src: str, ctx: dict[str, Any], problems: list[str]
) -> Figure | None:
    where = f"{src} [[figures]] #{i + 1} ({f.get('name', '?')})"
    kind = f.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}: unknown kind {kind!r}{_near(kind, tuple(KINDS))}")
        return None
    required, optional = KINDS[kind]
    _check_keys(f, _COMMON + required + optional, where, problems)
    missing = [k for k in ("name", "role", "value", *required) if k not in f]
    if missing:
        problems.append(f"{where}: missing key(s) {missing}")
        return None
    role = f["role"]
    _check_value(role, ROLES, "role", where, problems)
    if kind == "fact" and role != "design":
        problems.append(f"{where}: a fact has no simulated counterpart: its role must be 'design'")
    spec = {k: f[k] for k in required + optional if k in f}
    _check_spec(kind, spec, f["value"], where, ctx, problems)
    arm = f.get("arm")
    if arm is not None and arm not in ctx["arms"]:
        problems.append(f"{where}: unknown arm {arm!r}{_near(arm, tuple(ctx['arms']) or ('',))}")
    source = str(f.get("source", ""))
    if source and source not in ctx["sources"]:
        problems.append(f"{where}: source {source!r} is not in [sources]")
    return Figure(str(f["name"]), kind, str(role), f["value"], spec, source, arm, f.get("note", ""))


def _check_spec(kind, spec, value, where, ctx, problems) -> None:
    def need_assessment(key="assessment"):
        a = spec.get(key)
        if a is None:
            problems.append(f"{where}: {kind} {spec.get('statistic', '')} needs {key!r}")
        elif a not in ctx["assessments"]:
            problems.append(
                f"{where}: unknown assessment {a!r}{_near(a, tuple(ctx['assessments']) or ('',))}"
            )

    if "endpoint" in spec:
        _check_value(spec["endpoint"], ENDPOINTS, "endpoint", where, problems)
    if "population" in spec:
        _check_value(spec["population"], POPULATIONS, "population", where, problems)
    if kind == "count":
        _check_value(spec["statistic"], COUNT_STATISTICS, "count statistic", where, problems)
        if str(spec["statistic"]).startswith("mrd_"):
            need_assessment()
    elif kind == "proportion":
        stat = spec["statistic"]
        _check_value(stat, PROPORTION_STATISTICS, "proportion statistic", where, problems)
        if stat in ("mrd_negative", "conversion"):
            need_assessment()
        if stat == "conversion":
            need_assessment("from")
        num, den = spec.get("numerator"), spec.get("denominator")
        numeric = isinstance(value, int | float)
        if (
            num is not None
            and den is not None
            and numeric
            and (den <= 0 or abs(num / den - value) > 0.006)
        ):
            problems.append(f"{where}: value {value} is not numerator/denominator {num}/{den}")
    elif kind == "quantity":
        _check_value(spec["statistic"], QUANTITY_STATISTICS, "quantity statistic", where, problems)
    elif kind == "class_count":
        _check_value(spec["class"], CLASSES, "class", where, problems)
    elif kind == "hazard_ratio":
        _check_value(spec["comparison"], COMPARISONS, "comparison", where, problems)
        groups = spec["groups"]
        valid = {"mrd_status": STATUSES, "mrd_class": CLASSES, "arm": tuple(ctx["arms"])}.get(
            spec["comparison"], ()
        )
        if not isinstance(groups, list) or len(groups) != 2:
            problems.append(f"{where}: groups must be [group, reference group]")
        else:
            for g in groups:
                _check_value(g, valid or ("",), "group", where, problems)
        if spec["comparison"] == "mrd_status":
            need_assessment()
        if not (isinstance(value, int | float) and value > 0) and value != "infinite":
            problems.append(f"{where}: a hazard ratio is a positive number or 'infinite'")
    if kind in ("km_median",) and not (isinstance(value, int | float) or value == "not reached"):
        problems.append(f"{where}: a median is a number (months) or 'not reached'")
    numeric_kinds = ("count", "proportion", "km_survival", "quantity", "class_count")
    if kind in (*numeric_kinds, "median_followup") and (
        not isinstance(value, int | float) or isinstance(value, bool) or value < 0
    ):
        problems.append(f"{where}: value must be a number >= 0, found {value!r}")
    ci = spec.get("ci")
    if ci is not None and not (
        isinstance(ci, list) and len(ci) == 2 and all(isinstance(c, int | float) for c in ci)
    ):
        problems.append(f"{where}: ci must be [lower, upper]")


def loads_targets(text: str, *, source: str = "<string>") -> StudyTargets:
    """Parse a targets document (schema ``mrdtrack.simulate.targets/2``); every problem of the
    file is reported at once in one `MrdtrackError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MrdtrackError(f"{source}: not valid TOML ({exc})") from None
    schema = data.get("schema")
    if schema != TARGETS_SCHEMA:
        raise MrdtrackError(
            f"{source}: schema must be {TARGETS_SCHEMA!r}, found {schema!r} (the first line of a "
            "targets file names its schema; see docs/methods/simulate.md)"
        )
    problems: list[str] = []
    _check_keys(data, _TOP, source, problems)
    trial = data.get("trial", {})
    _check_keys(trial, _TRIAL, f"{source} [trial]", problems)
    enrolled = trial.get("enrolled")
    if not isinstance(enrolled, int) or isinstance(enrolled, bool) or enrolled < 1:
        problems.append(f"{source} [trial]: enrolled must be a positive integer (the trial size)")
        enrolled = 1
    arms = _parse_arms(trial, enrolled, source, problems)
    assessments = _parse_assessments(data.get("assessments", []), source, problems)
    sources = {str(k): str(v) for k, v in data.get("sources", {}).items()}
    ctx = {
        "arms": [a.name for a in arms],
        "assessments": [a.name for a in assessments],
        "sources": sources,
    }
    figures = []
    for i, f in enumerate(data.get("figures", [])):
        fig = _parse_figure(f, i, source, ctx, problems)
        if fig is not None:
            figures.append(fig)
    names = [f.name for f in figures]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        problems.append(f"{source}: figure names are not unique: {dup}")
    calib = data.get("calibration", {})
    _check_keys(calib, _CALIBRATION, f"{source} [calibration]", problems)
    priors = {}
    for k, v in calib.get("priors", {}).items():
        if not isinstance(v, dict):
            problems.append(f"{source} [calibration.priors]: {k} must be {{centre = …, sd = …}}")
            continue
        _check_keys(v, _PRIOR, f"{source} [calibration.priors] {k}", problems)
        sd = v.get("sd", 1.0)
        if not isinstance(sd, int | float) or sd <= 0:
            problems.append(f"{source} [calibration.priors] {k}: sd must be > 0")
            sd = 1.0
        priors[str(k)] = Prior(v.get("centre"), float(sd))
    pop = trial.get("population", "all")
    _check_value(pop, POPULATIONS, "population", f"{source} [trial]", problems)
    if problems:
        raise MrdtrackError(f"{len(problems)} problem(s): " + "; ".join(problems))
    return StudyTargets(
        name=str(data.get("name", Path(source).stem)),
        enrolled=int(enrolled),
        figures=tuple(figures),
        assessments=assessments,
        arms=arms,
        randomised=bool(trial.get("randomised", bool(arms))),
        landmark_months=float(trial.get("landmark_months", 24.0)),
        population=str(pop),
        min_cycles=int(trial.get("min_cycles", 4)),
        params=data.get("params"),
        free=tuple(calib.get("free", ())),
        priors=priors,
        sources=sources,
        description=str(data.get("description", "")),
        path=source,
    )


SHIPPED = ("founding_study", "uams_loss_of_negativity", "myeloma_xi")


def load_study_targets(path: str | Path | None = None) -> StudyTargets:
    """Read a targets file; ``None`` (or a shipped name) reads a shipped one."""
    if path is None or str(path) in SHIPPED:
        name = "founding_study" if path is None else str(path)
        res = resources.files("mrdtrack.data").joinpath(f"targets/{name}.toml")
        return loads_targets(res.read_text(encoding="utf-8"), source=f"{name}.toml")
    p = Path(path)
    if not p.is_file():
        raise MrdtrackError(f"targets file not found: {p.name}")
    return loads_targets(p.read_text(encoding="utf-8"), source=str(p))
