"""Analysis options of the study report: one TOML file, documented defaults, echoed in the report.

The file has three tables; every key is optional and unknown keys are errors (a typo must not
silently fall back to a default)::

    [analysis]
    time_unit = "months"     # axis and summary unit: "days", "months" (days / 30.4375), "years"
    landmark = 24            # landmark time, in time_unit (founding study: 2 years)
    landmarks = [12, 24, 36] # series of landmarks summarised side by side (time_unit)
    conf_level = 0.95        # confidence level of every interval
    conf_type = "log"        # KM CI transform: "log" (R default), "log-log" (SAS), "plain"
    ties = "efron"           # Cox ties: "efron" (R default) or "breslow" (SAS, statsmodels)
    seed = 20210601          # seed of every stochastic step (e.g. simulated CIs)

    [mrd]
    threshold = 1e-5                     # MRD-negative needs this sensitivity (IMWG 2016)
    confirmation_days = 365              # sustained negativity: negatives this far apart ...
    confirmation_tolerance_days = 0      # ... minus this visit-window tolerance
    methods = []                         # assays used for MRD calls ([] = all, e.g. ["NGF"])

    [pfs]
    times = [12, 24, 36, 48, 60]         # PFS estimates reported at these times (time_unit)
    risk_table_step = 12                 # number-at-risk table every this many time units
    evaluable_min_cycles = 4             # evaluable for PFS: completed at least this many cycles

``convention = "R"`` or ``"SAS"`` at the top level sets ``conf_type`` and ``ties`` to that
software's defaults (R: log, Efron; SAS: log-log, Breslow); explicit keys still win.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mrdtrack.schema import DAYS_PER_MONTH, DAYS_PER_YEAR

TIME_UNITS = {"days": 1.0, "months": DAYS_PER_MONTH, "years": DAYS_PER_YEAR}
CONF_TYPES = ("log", "log-log", "plain")
TIES = ("efron", "breslow")
CONVENTIONS = {
    "R": {"conf_type": "log", "ties": "efron"},
    "SAS": {"conf_type": "log-log", "ties": "breslow"},
}


@dataclass(frozen=True)
class ReportConfig:
    """Resolved analysis options of one report run (see the module docstring for each key)."""

    time_unit: str = "months"
    landmark: float = 24.0
    landmarks: tuple[float, ...] = (12.0, 24.0, 36.0)
    conf_level: float = 0.95
    conf_type: str = "log"
    ties: str = "efron"
    seed: int = 20210601
    mrd_threshold: float = 1e-5
    confirmation_days: int = 365
    confirmation_tolerance_days: int = 0
    mrd_methods: tuple[str, ...] = ()
    pfs_times: tuple[float, ...] = (12.0, 24.0, 36.0, 48.0, 60.0)
    risk_table_step: float = 12.0
    evaluable_min_cycles: int = 4
    convention: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.time_unit not in TIME_UNITS:
            problems.append(f"analysis.time_unit must be one of {sorted(TIME_UNITS)}")
        if not (math.isfinite(self.landmark) and self.landmark > 0):
            problems.append("analysis.landmark must be a positive number")
        if not self.landmarks or any(not (math.isfinite(t) and t > 0) for t in self.landmarks):
            problems.append("analysis.landmarks must be a non-empty list of positive numbers")
        if not (0.5 <= self.conf_level < 1):
            problems.append("analysis.conf_level must lie in [0.5, 1)")
        if self.conf_type not in CONF_TYPES:
            problems.append(f"analysis.conf_type must be one of {list(CONF_TYPES)}")
        if self.ties not in TIES:
            problems.append(f"analysis.ties must be one of {list(TIES)}")
        if not (0 < self.mrd_threshold < 1):
            problems.append("mrd.threshold must lie in (0, 1), e.g. 1e-5")
        if not (0 <= self.confirmation_tolerance_days <= self.confirmation_days):
            problems.append("mrd: need 0 <= confirmation_tolerance_days <= confirmation_days")
        if not self.pfs_times or any(not (math.isfinite(t) and t > 0) for t in self.pfs_times):
            problems.append("pfs.times must be a non-empty list of positive numbers")
        if not (math.isfinite(self.risk_table_step) and self.risk_table_step > 0):
            problems.append("pfs.risk_table_step must be a positive number")
        if self.evaluable_min_cycles < 0:
            problems.append("pfs.evaluable_min_cycles must be >= 0")
        if self.convention is not None and self.convention not in CONVENTIONS:
            problems.append(f"convention must be one of {sorted(CONVENTIONS)}")
        if problems:
            where = f" in {self.source}" if self.source else ""
            raise ValueError(f"invalid analysis options{where}: " + "; ".join(problems))

    @property
    def days_per_unit(self) -> float:
        return TIME_UNITS[self.time_unit]

    @property
    def landmark_days(self) -> float:
        return self.landmark * self.days_per_unit

    def as_dict(self) -> dict[str, Any]:
        """Options as plain values (for results.json and the report's options table)."""
        d = asdict(self)
        d.pop("source")
        d["pfs_times"] = list(self.pfs_times)
        d["landmarks"] = list(self.landmarks)
        d["mrd_methods"] = list(self.mrd_methods)
        return d


# TOML location of each option: (table, key) -> field name
_KEYS = {
    ("analysis", "time_unit"): "time_unit",
    ("analysis", "landmark"): "landmark",
    ("analysis", "landmarks"): "landmarks",
    ("analysis", "conf_level"): "conf_level",
    ("analysis", "conf_type"): "conf_type",
    ("analysis", "ties"): "ties",
    ("analysis", "seed"): "seed",
    ("mrd", "threshold"): "mrd_threshold",
    ("mrd", "confirmation_days"): "confirmation_days",
    ("mrd", "confirmation_tolerance_days"): "confirmation_tolerance_days",
    ("mrd", "methods"): "mrd_methods",
    ("pfs", "times"): "pfs_times",
    ("pfs", "risk_table_step"): "risk_table_step",
    ("pfs", "evaluable_min_cycles"): "evaluable_min_cycles",
}

OPTION_DOCS = {
    "time_unit": "Time unit of axes and summaries (months = days / 30.4375)",
    "landmark": "Landmark time for the trajectory-class analysis (time unit)",
    "landmarks": "Series of landmarks summarised side by side (time unit)",
    "conf_level": "Confidence level of all intervals",
    "conf_type": "Kaplan-Meier CI transform (R: log; SAS: log-log)",
    "ties": "Cox partial-likelihood tie handling (R: Efron; SAS: Breslow)",
    "seed": "Seed of every stochastic step",
    "mrd_threshold": "MRD-negative requires this assay sensitivity (IMWG 2016: 1e-5)",
    "confirmation_days": "Sustained negativity: negatives at least this far apart (days)",
    "confirmation_tolerance_days": "Visit-window tolerance on the confirmation interval (days)",
    "mrd_methods": "MRD assays used for status calls (empty: all assays, combined per visit)",
    "pfs_times": "Times at which PFS is estimated (time unit)",
    "risk_table_step": "Spacing of the number-at-risk table (time unit)",
    "evaluable_min_cycles": "Evaluable for PFS: completed at least this many cycles",
    "convention": "Preset of software defaults used (R or SAS), if any",
}


def load_config(path: str | Path | None = None) -> ReportConfig:
    """Read analysis options from a TOML file (None: all defaults); unknown keys are errors."""
    if path is None:
        return ReportConfig()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path.name}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path.name} is not valid TOML: {e}") from None
    return config_from_mapping(raw, source=path.name)


def config_from_mapping(raw: dict[str, Any], *, source: str | None = None) -> ReportConfig:
    """Resolve options from a parsed TOML mapping (presets first, explicit keys win)."""
    values: dict[str, Any] = {}
    unknown = []
    convention = raw.get("convention")
    if convention is not None:
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")
        values.update(CONVENTIONS[convention])
        values["convention"] = convention
    for table, content in raw.items():
        if table == "convention":
            continue
        if not isinstance(content, dict):
            unknown.append(table)
            continue
        for key, value in content.items():
            name = _KEYS.get((table, key))
            if name is None:
                unknown.append(f"{table}.{key}")
                continue
            values[name] = value
    if unknown:
        where = f" in {source}" if source else ""
        raise ValueError(
            f"unknown analysis option(s){where}: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(f'{t}.{k}' for t, k in _KEYS)}, convention"
        )
    types = {f.name: f.type for f in fields(ReportConfig)}
    for name, value in list(values.items()):
        if name == "mrd_methods":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError('mrd.methods must be a list of assay codes, e.g. ["NGF"]')
            values[name] = tuple(value)
        elif name in ("pfs_times", "landmarks"):
            if not isinstance(value, list):
                raise ValueError(f"{name} must be a list of numbers")
            values[name] = tuple(float(v) for v in value)
        elif types[name] == "float":
            values[name] = float(value)
        elif types[name] == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{name} must be an integer")
            values[name] = int(value)
    return replace(ReportConfig(), source=source, **values)
