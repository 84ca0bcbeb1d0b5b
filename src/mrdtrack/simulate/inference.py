"""Simulation-based inference for the simulator: a distribution over parameters, not a point.

Method: **Bayesian synthetic likelihood** (Wood 2010, Nature 466:1102; Price, Drovandi, Lee &
Nott 2018, J Comput Graph Stat 27:1-11). The published figures with role ``fit`` give a vector
``y`` of components (`mrdtrack.simulate.figures`). At parameters ``theta`` we simulate
``n_sim`` trials of the study's design, estimate the mean ``mu`` and covariance ``S`` of the
components, and use the Gaussian log density ``log N(y; mu, S)`` as the log likelihood (``S``
on its non-degenerate eigen-directions, as `mrdtrack.simulate.gof.Mahalanobis`; a component
constant in every simulated trial and unequal to ``y`` gives ``-inf``). Each likelihood is a
fresh simulation (a new seed), and random-walk Metropolis keeps the current state's estimate
(the BSL MCMC of Price et al., Algorithm 1). Several chains start from different points.

Scales and priors: each free parameter is inferred on a free scale — the identity for signed
quantities (logits, log10 means), the logit for probabilities, the log for rates and times —
with a normal prior on that scale, centred at ``[calibration.priors] NAME.centre`` (default: the
parameter file's value) with SD ``sd`` (default 1). A parameter of an arm is written
``ARM:section__key``. A parameter at 0 or 1 cannot take a log / logit prior centre: that is an
error asking for a ``centre``.

Which parameters the figures inform (identifiability): at the prior centre, with common random
numbers, the Jacobian ``J`` of ``mu`` on the free scale (central differences of width ``h``)
gives the Fisher information of one published trial, ``F = J' S^+ J`` (Gauss-Newton). With the
prior precision ``P``, the Laplace posterior covariance is ``C = (F + P)^-1``. A parameter is
**informed** when the figures at least halve its prior variance (``C_jj <= sd_j^2 / 2``);
otherwise it is held at its prior centre during the fit and its posterior draws are prior draws
(reported as "prior: not informed"). The singular values of ``S^-1/2 J diag(sd)`` are reported
as the rank check (directions where the figures outweigh the prior have a value above 1).

The Metropolis proposal is ``N(0, (2.38^2 / d) C_informed)`` (Roberts & Rosenthal 2001); the
first half of each chain is burn-in. Convergence: split-R-hat (Gelman et al. 2013) per
parameter, and the spread of chain medians across starting points. No R counterpart (R
``BSL`` implements the same likelihood).

Constrained families (``tie``): a group of free parameters takes one value, so the fit is the
best model of a family (e.g. every progression hazard equal: progression unrelated to MRD), to
be checked by `mrdtrack.simulate.gof` — a fair test of a wrong family, unlike a perturbed model.

Parallel runs (``workers`` / ``client``, Dask distributed): the identifiability evaluations and
the chains are the units of work (`EvaluationPool`); `chain_plan` gives each chain the generator
state at which the serial run starts it, so the draws do not depend on the number of workers.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.cluster import dask_client
from mrdtrack.simulate.figures import (
    arm_params,
    figure_statistics,
    observed_components,
    simulate_study,
)
from mrdtrack.simulate.params import SimulationParams
from mrdtrack.simulate.targets import StudyTargets

#: leaves inferred on the logit scale (probabilities)
PROBABILITIES = (
    "missing",
    "early_discontinuation",
    "serious_fraction",
    "missed",
    "inadequate",
    "low_sensitivity",
    "male",
    "prior_transplant",
    "high_risk_cytogenetics",
)
#: leaves inferred on the identity scale (signed)
SIGNED = (
    "negative_logit",
    "negative_logit_transplant",
    "negative_logit_high_risk",
    "clonal_log10_mean",
    "neg_to_pos_high_risk_log_rr",
    "high_risk_log_hr",
    "age_log_hr_per_10y",
    "age_log_hr_per_year",
)


def scale_of(name: str) -> str:
    """``"identity"``, ``"logit"`` or ``"log"``: the free scale of a parameter."""
    leaf = name.split(":")[-1].split("__")[-1]
    if leaf in SIGNED:
        return "identity"
    return "logit" if leaf in PROBABILITIES else "log"


def to_free(name: str, value: float) -> float:
    s = scale_of(name)
    if s == "identity":
        return float(value)
    if s == "logit":
        if not 0 < value < 1:
            raise MrdtrackError(
                f"{name} = {value:g}: a probability at 0 or 1 has no logit; give "
                f"[calibration.priors] {name.split(':')[-1]} = {{ centre = …, sd = … }} in (0, 1)"
            )
        return math.log(value / (1 - value))
    if not value > 0:
        raise MrdtrackError(
            f"{name} = {value:g}: a rate at 0 has no logarithm; give "
            f"[calibration.priors] {name.split(':')[-1]} = {{ centre = …, sd = … }} above 0"
        )
    return math.log(value)


def from_free(name: str, x: float) -> float:
    s = scale_of(name)
    if s == "identity":
        return float(x)
    if s == "logit":
        return float(1 / (1 + math.exp(-x)))
    return float(math.exp(min(x, 700.0)))


def _split(name: str) -> tuple[str | None, str]:
    arm, _, key = name.rpartition(":")
    return (arm or None), key


def check_free(params: SimulationParams, targets: StudyTargets, free: Sequence[str]) -> None:
    """Every free name is ``section__key`` (or ``ARM:section__key``) of a numeric parameter."""
    arms = [a.name for a in targets.arms]
    problems = []
    for name in free:
        arm, key = _split(name)
        if arm is not None and arm not in arms:
            problems.append(f"{name}: unknown arm {arm!r} (arms: {arms or 'none'})")
            continue
        section, _, leaf = key.partition("__")
        sub = getattr(params, section, None)
        if (
            sub is None
            or not leaf
            or not hasattr(sub, leaf)
            or (section == "safety" and leaf == "terms")
        ):
            valid = [
                f"{sec.name}__{g.name}"
                for sec in dataclasses.fields(params)
                if dataclasses.is_dataclass(getattr(params, sec.name))
                for g in dataclasses.fields(getattr(params, sec.name))
            ]
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}?" if near else "write section__key"
            problems.append(f"{name}: not a parameter ({hint})")
            continue
        if isinstance(getattr(sub, leaf), bool) or not isinstance(getattr(sub, leaf), int | float):
            problems.append(f"{name}: not a numeric parameter")
    if len(set(free)) != len(free):
        problems.append("a free parameter is named twice")
    if problems:
        raise MrdtrackError("--free / [calibration] free: " + "; ".join(problems))


def check_ties(free: Sequence[str], tie: Sequence[Sequence[str]]) -> None:
    """Every tie group names two or more free parameters of one free scale, each only once."""
    problems = []
    seen: set[str] = set()
    for group in tie:
        label = "=".join(group)
        if len(group) < 2:
            problems.append(f"{label}: a tie needs two or more parameters (a=b)")
        for name in group:
            if name not in free:
                near = difflib.get_close_matches(name, list(free), n=1, cutoff=0.6)
                hint = f"did you mean {near[0]!r}?" if near else "add it to --free"
                problems.append(f"{name}: not a free parameter ({hint})")
            elif name in seen:
                problems.append(f"{name}: tied twice (write one group a=b=c)")
            seen.add(name)
        scales = {scale_of(n) for n in group}
        if len(scales) > 1:
            problems.append(
                f"{label}: parameters on different scales ({', '.join(sorted(scales))})"
            )
    if problems:
        raise MrdtrackError("--tie: " + "; ".join(problems))


@dataclass(frozen=True)
class Model:
    """Free parameters, their priors, and how a free vector becomes each arm's parameters.

    ``names`` are the coordinates of the free vector; ``tied[j]`` lists the parameters that
    take coordinate ``j``'s value (a constrained family, e.g. every progression hazard equal;
    empty when coordinate ``j`` is one parameter). A tie group sits at the place of its first
    name and takes that name's prior.
    """

    params: SimulationParams
    targets: StudyTargets
    names: tuple[str, ...]
    centre: np.ndarray  # prior centre on the free scale
    sd: np.ndarray  # prior SD on the free scale
    tied: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def build(cls, params, targets, free=None, tie=None) -> Model:
        free = tuple(targets.free if free is None else free)
        if not free:
            raise MrdtrackError("no free parameters: give --free or [calibration] free")
        check_free(params, targets, free)
        groups = [tuple(g) for g in (tie or ())]
        check_ties(free, groups)
        followers = {g[0]: g[1:] for g in groups}
        dropped = {n for g in groups for n in g[1:]}
        arms = {a.name: a for a in targets.arms}
        names, centre, sd = [], [], []
        for name in free:
            if name in dropped:
                continue
            arm, key = _split(name)
            prior = targets.priors.get(name) or targets.priors.get(key)
            if prior is not None and prior.centre is not None:
                value = float(prior.centre)
            elif arm is not None and key in arms[arm].overrides:
                value = float(arms[arm].overrides[key])
            else:
                section, leaf = key.split("__")
                value = float(getattr(getattr(params, section), leaf))
            names.append(name)
            centre.append(to_free(name, value))
            sd.append(prior.sd if prior is not None else 1.0)
        tied = tuple(followers.get(n, ()) for n in names) if groups else ()
        return cls(params, targets, tuple(names), np.array(centre), np.array(sd), tied)

    @property
    def labels(self) -> tuple[str, ...]:
        """Coordinate names for tables: ``a=b=c`` for a tie group."""
        if not self.tied:
            return self.names
        return tuple("=".join((n, *t)) for n, t in zip(self.names, self.tied, strict=True))

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every parameter the free vector sets (a group's tied names after its first)."""
        if not self.tied:
            return self.names
        return tuple(m for n, t in zip(self.names, self.tied, strict=True) for m in (n, *t))

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Columns of ``values`` (``(..., len(names))``) repeated for the tied parameters."""
        if not self.tied:
            return values
        return np.repeat(values, [1 + len(t) for t in self.tied], axis=-1)

    def natural(self, x: np.ndarray) -> dict[str, float]:
        vals = np.array([from_free(n, v) for n, v in zip(self.names, x, strict=True)])
        return dict(zip(self.parameters, self.expand(vals).tolist(), strict=True))

    def arms(self, x: np.ndarray) -> list[tuple[str, SimulationParams]]:
        """Each arm's parameters at free vector ``x`` (shared values, then arm values)."""
        values = self.natural(x)
        shared = {}
        for n, v in values.items():
            arm, key = _split(n)
            if arm is None:
                shared[key] = round(v) if _is_int(self.params, key) else v
        out = []
        for arm_name, p in arm_params(self.params.replace(**shared), self.targets):
            own = {k: v for n, v in values.items() for a, k in [_split(n)] if a == arm_name}
            out.append((arm_name, p.replace(**own) if own else p))
        return out

    def at(self, x: np.ndarray) -> SimulationParams:
        """The shared parameters at ``x`` (arm-specific values live in the targets' arms)."""
        return self.arms(x)[0][1].replace(trial__n_patients=self.params.trial.n_patients)


def _is_int(params, key) -> bool:
    section, leaf = key.split("__")
    return isinstance(getattr(getattr(params, section), leaf), int)


def fit_components(model, keys, x, seed, n_sim) -> np.ndarray:
    """Raw ``fit`` components ``(n_sim, len(keys))`` of ``n_sim`` trials at the free vector
    ``x`` (one likelihood evaluation's simulations)."""
    st = simulate_study(model.params, model.targets, n_sim, seed, arms=model.arms(x))
    s = figure_statistics(st, model.targets, roles=("fit",))
    return np.column_stack([s[k] for k in keys])


class SyntheticLikelihood:
    """Gaussian synthetic log likelihood of the ``fit`` components at a free vector.

    ``pool``: an `EvaluationPool`; `simulate_many` then runs its evaluations on Dask workers
    (each evaluation is its own seed's trials, so the result is the serial one).
    """

    def __init__(self, model: Model, n_sim: int, pool: EvaluationPool | None = None):
        self.model = model
        self.n_sim = int(n_sim)
        obs = observed_components(model.targets, roles=("fit",))
        if not obs:
            raise MrdtrackError("no figure has role 'fit': nothing to calibrate to")
        self.keys = list(obs)
        self.y = np.array([obs[k] for k in self.keys])
        self.n_eval = 0
        self.pool = pool

    def simulate_many(self, xs: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
        """Components ``(n_sim, k)`` at each free vector of ``xs``, all with ``seed`` (common
        random numbers; missing -> column median)."""
        self.n_eval += len(xs)
        if self.pool is None:
            raw = [fit_components(self.model, self.keys, x, seed, self.n_sim) for x in xs]
        else:
            raw = self.pool.evaluate(xs, seed, self.n_sim)
        return [_impute(r) for r in raw]

    def simulate(self, x: np.ndarray, seed: int) -> np.ndarray:
        """Components ``(n_sim, k)`` of ``n_sim`` trials at ``x`` (missing -> column median)."""
        return self.simulate_many([x], seed)[0]

    def loglik(self, x: np.ndarray, seed: int) -> float:
        sims = self.simulate(x, seed)
        return gaussian_loglik(self.y, sims)


def _impute(xs: np.ndarray) -> np.ndarray:
    med = np.nanmedian(np.where(np.isfinite(xs), xs, np.nan), axis=0)
    return np.where(np.isnan(xs), np.where(np.isnan(med), 0.0, med), xs)


class EvaluationPool:
    """Units of the calibration on a Dask ``distributed`` client (dask.org): the
    identifiability step's evaluations (one task each) and the Metropolis chains (one task
    each, `run_chain`). The model is scattered to every worker once.

    Same result as the serial run, draw for draw: an evaluation is its own seed's trials
    (`mrdtrack.simulate.model.simulate_trials`: trial ``i`` from stream ``(seed, i)``), and each
    chain starts from the generator state at which the serial run starts it (`chain_plan`).
    """

    def __init__(self, client: Any, model: Model, keys: Sequence[str]):
        self.client = client
        self.keys = list(keys)
        self.n_workers = max(1, sum(client.nthreads().values()))
        self._model = client.scatter(model, broadcast=True)

    def evaluate(self, xs: Sequence[np.ndarray], seed: int, n_sim: int) -> list[np.ndarray]:
        """`fit_components` of ``n_sim`` trials at each free vector of ``xs``."""
        futs = [
            self.client.submit(fit_components, self._model, self.keys, x, seed, n_sim, pure=False)
            for x in xs
        ]
        return self.client.gather(futs)

    def chains(self, n_sim: int, inf, plans, chol, length) -> list:
        """`run_chain` of every ``(start, generator state)`` of ``plans``, one task each."""
        futs = [
            self.client.submit(
                run_chain, self._model, n_sim, inf, start, state, chol, length, pure=False
            )
            for start, state in plans
        ]
        return self.client.gather(futs)


@contextlib.contextmanager
def evaluation_pool(workers: int, client: Any, model: Model, keys: Sequence[str]):
    """An `EvaluationPool` on ``client``, or on a LocalCluster of ``workers`` single-threaded
    processes (`mrdtrack.simulate.cluster.dask_client`, closed on exit); ``None`` (serial) when
    neither is given."""
    if client is None and workers <= 0:
        yield None
        return
    with dask_client(client, workers=workers) as c:
        yield EvaluationPool(c, model, keys)


def gaussian_loglik(y: np.ndarray, sims: np.ndarray) -> float:
    """``log N(y; mean, cov)`` of the simulated rows on their non-degenerate directions."""
    mu = sims.mean(0)
    sd = sims.std(0)
    const = sd <= 1e-12
    if np.any(np.abs(y[const] - mu[const]) > 1e-9):
        return -np.inf
    z = (sims[:, ~const] - mu[~const]) / sd[~const]
    if z.shape[1] == 0:
        return 0.0
    w, v = np.linalg.eigh(np.atleast_2d(np.cov(z, rowvar=False)))
    keep = w > 1e-8 * w.max()
    zy = ((y[~const] - mu[~const]) / sd[~const]) @ v[:, keep]
    return float(
        -0.5 * np.sum(zy**2 / w[keep])
        - 0.5 * np.sum(np.log(w[keep]))
        - np.sum(np.log(sd[~const]))
        - 0.5 * keep.sum() * math.log(2 * math.pi)
    )


@dataclass(frozen=True)
class Identifiability:
    """Local information of the figures about each parameter, against its prior."""

    names: tuple[str, ...]
    prior_sd: np.ndarray
    laplace_sd: np.ndarray
    informed: np.ndarray
    singular_values: np.ndarray
    jacobian: np.ndarray
    laplace_cov: np.ndarray

    @property
    def variance_ratio(self) -> np.ndarray:
        return (self.laplace_sd / self.prior_sd) ** 2

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "parameter": list(self.names),
                "prior_sd": self.prior_sd,
                "laplace_sd": self.laplace_sd,
                "variance_ratio": self.variance_ratio,
                "informed": self.informed,
            }
        )


def identifiability(
    like: SyntheticLikelihood, x0: np.ndarray, *, h: float = 0.3, seed: int = 1
) -> Identifiability:
    """Jacobian of the simulated mean at ``x0`` (common random numbers, central differences)
    and the Laplace / Gauss-Newton posterior covariance ``(J' S^+ J + P)^-1``."""
    m = like.model
    steps = h * np.eye(len(x0))
    base, *pm = like.simulate_many([x0, *(x0 + e for e in steps), *(x0 - e for e in steps)], seed)
    mu0, sd0 = base.mean(0), base.std(0)
    keep = sd0 > 1e-12
    jac = np.zeros((keep.sum(), len(x0)))
    for j in range(len(x0)):
        up, dn = pm[j], pm[len(x0) + j]
        jac[:, j] = (up.mean(0) - dn.mean(0))[keep] / (2 * h)
    z = (base[:, keep] - mu0[keep]) / sd0[keep]
    w, v = np.linalg.eigh(np.atleast_2d(np.cov(z, rowvar=False)))
    ok = w > 1e-8 * w.max()
    whiten = v[:, ok] / np.sqrt(w[ok])  # S^-1/2 on the standardised scale
    jw = whiten.T @ (jac / sd0[keep][:, None])
    fisher = jw.T @ jw
    prec = np.diag(1 / m.sd**2)
    cov = np.linalg.inv(fisher + prec)
    lsd = np.sqrt(np.diag(cov))
    sv = np.linalg.svd(jw * m.sd[None, :], compute_uv=False)
    informed = lsd**2 <= 0.5 * m.sd**2
    return Identifiability(m.labels, m.sd.copy(), lsd, informed, sv, jac, cov)


@dataclass(frozen=True)
class Posterior:
    """Draws from the calibrated distribution of the free parameters (natural scale)."""

    names: tuple[str, ...]
    draws: np.ndarray  # (n, k) natural scale; not-informed parameters are prior draws
    informed: np.ndarray
    prior_centre: np.ndarray  # natural scale
    prior_sd: np.ndarray  # free scale
    chain_medians: np.ndarray  # (chains, k) natural scale, informed parameters
    rhat: np.ndarray
    acceptance: np.ndarray
    n_evaluations: int
    seconds: float
    identifiability: Identifiability
    model: Model
    cpu_seconds: float = float("nan")  # this process: Dask workers' CPU not included
    workers: int = 0  # Dask workers the simulations ran on (0: this process)
    method: str = "Bayesian synthetic likelihood (Price et al. 2018), random-walk Metropolis"

    def quantiles(self) -> np.ndarray:
        return np.quantile(self.draws, [0.5, 0.025, 0.975], axis=0)

    def table(self) -> pl.DataFrame:
        q = self.quantiles()
        spread = np.ptp(self.chain_medians, axis=0) if len(self.chain_medians) else np.nan
        return pl.DataFrame(
            {
                "parameter": list(self.model.labels),
                "median": q[0],
                "lower": q[1],
                "upper": q[2],
                "prior_centre": self.prior_centre,
                "prior_sd_free": self.prior_sd,
                "informed": self.informed,
                "chain_median_spread": np.where(self.informed, spread, np.nan),
                "rhat": np.where(self.informed, self.rhat, np.nan),
            }
        )

    def summary(self) -> str:
        lines = [
            f"Calibration: {self.method}",
            f"  {self.n_evaluations} likelihood evaluations in {self.seconds:.0f} s "
            + (
                f"({self.cpu_seconds:.0f} s CPU); "
                if not self.workers
                else f"on {self.workers} Dask workers; "
            )
            + f"{len(self.chain_medians)} chains, acceptance "
            + ", ".join(f"{a:.2f}" for a in self.acceptance),
            f"  {'parameter':48s} {'median':>10s} {'95% interval':>23s} {'R-hat':>6s}  status",
        ]
        for r in self.table().iter_rows(named=True):
            status = (
                f"informed (chains differ by {r['chain_median_spread']:.3g})"
                if r["informed"]
                else "prior: not informed by the figures"
            )
            rh = "" if r["rhat"] is None or np.isnan(r["rhat"]) else f"{r['rhat']:.2f}"
            lines.append(
                f"  {r['parameter']:48s} {r['median']:10.4g} "
                f"[{r['lower']:9.4g}, {r['upper']:9.4g}] {rh:>6s}  {status}"
            )
        return "\n".join(lines)

    def params_draws(self, n: int | None = None, seed: int = 0) -> list[SimulationParams]:
        """Parameter sets of ``n`` draws (all if ``None``); arm values go into the arms."""
        rng = np.random.default_rng(seed)
        idx = np.arange(len(self.draws)) if n is None else rng.choice(len(self.draws), n)
        out = []
        for i in idx:
            x = np.array([to_free(nm, v) for nm, v in zip(self.names, self.draws[i], strict=True)])
            out.append(self.model.at(x))
        return out

    def median_params(self) -> SimulationParams:
        """The parameter file's values with the free ones at their posterior medians (the
        not-informed ones at their prior medians); name and description say so."""
        x = np.array([to_free(n, v) for n, v in zip(self.names, self.quantiles()[0], strict=True)])
        x = np.where(self.informed, x, self.model.centre)  # exact prior medians
        p = self.model.at(x)
        shared = [n for n in self.model.parameters if ":" not in n]
        ties = [lab for lab in self.model.labels if "=" in lab]
        constraint = f" under the constraint {'; '.join(ties)}" if ties else ""
        return p.replace(
            version=f"{p.version}-bsl",
            description=(
                f"Posterior medians of {len(shared)} parameters calibrated to the targets "
                f"'{self.model.targets.name}'{constraint} by {self.method} "
                f"(mrdtrack simulate calibrate --fit; {self.n_evaluations} evaluations); "
                "parameters the figures do not "
                f"inform at their prior medians; every other value from '{p.name}' version "
                f"{p.version}."
            ),
        )

    def to_csv(self) -> str:
        head = ",".join(self.model.parameters)
        rows = [",".join(repr(float(v)) for v in r) for r in self.model.expand(self.draws)]
        return "\n".join([head, *rows]) + "\n"


def _rhat(chains: np.ndarray) -> np.ndarray:
    """Split-R-hat (Gelman et al. 2013) of ``(chains, n, k)`` draws."""
    _c, n, k = chains.shape
    half = n // 2
    if half < 2:
        return np.full(k, np.nan)
    s = np.concatenate([chains[:, :half], chains[:, half : 2 * half]], 0)
    w = s.var(1, ddof=1).mean(0)
    b = half * s.mean(1).var(0, ddof=1)
    var = (half - 1) / half * w + b / half
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(var / w)


def calibrate(
    params: SimulationParams,
    targets: StudyTargets,
    *,
    free: Sequence[str] | None = None,
    tie: Sequence[Sequence[str]] | None = None,
    n_sim: int = 200,
    n_chains: int = 2,
    max_evaluations: int = 2400,
    n_draws: int = 1000,
    seed: int = 20210601,
    workers: int = 0,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Posterior:
    """Calibrate the free parameters to the ``fit`` figures (Bayesian synthetic likelihood).

    Parameters
    ----------
    params : SimulationParams
        Values of every parameter not freed, and default prior centres.
    targets : StudyTargets
        The study (figures with roles, design, ``[calibration]`` free and priors).
    free : sequence of str, optional
        Free parameters (default: the targets' ``[calibration] free``).
    tie : sequence of sequences of str, optional
        Groups of free parameters constrained to one value each (e.g. ``[("progression__negative",
        "progression__persistent_positive", "progression__lost_early",
        "progression__lost_late")]``: progression unrelated to MRD). A group is one coordinate
        of the fit, with the prior of its first name; `Posterior.to_csv` and `median_params`
        write every tied parameter.
    n_sim : int
        Simulated trials per likelihood evaluation.
    n_chains : int
        Metropolis chains (chain 0 starts at the prior centre, the others at overdispersed
        draws from the Laplace approximation).
    max_evaluations : int
        Budget of likelihood evaluations, the identifiability step included.
    n_draws : int
        Posterior draws returned (pooled post-burn-in states, evenly thinned).
    seed : int
        Seed of everything (reproducible).
    workers : int
        Local Dask worker processes for the simulations (0 = serial in this process); the
        result is the serial one, draw for draw (`EvaluationPool`).
    client : distributed.Client, optional
        Use this Dask client (a cluster of any size) instead of starting local workers.
    progress : callable, optional
        Called with a line of progress.

    Returns
    -------
    Posterior
        ``.table()`` (median, 95% interval, informed, R-hat, spread across chains),
        ``.summary()``, ``.params_draws()``, ``.median_params()``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    say = progress or (lambda _: None)
    for v, nm, lo in ((n_sim, "n_sim", 10), (n_chains, "n_chains", 1), (n_draws, "n_draws", 1)):
        if int(v) < lo:
            raise MrdtrackError(f"{nm} must be at least {lo}, got {v}")
    if int(workers) < 0:
        raise MrdtrackError(f"workers must be at least 0, got {workers}")
    model = Model.build(params, targets, free, tie)
    like = SyntheticLikelihood(model, n_sim)
    k = len(model.names)
    if max_evaluations < 2 * k + 1 + 20 * n_chains:
        raise MrdtrackError(
            f"max_evaluations {max_evaluations} is too small for {k} free parameters "
            f"(at least {2 * k + 1 + 20 * n_chains})"
        )
    rng = np.random.default_rng(seed)
    with evaluation_pool(workers, client, model, like.keys) as pool:
        like.pool = pool
        say(f"identifiability: Jacobian of {len(like.keys)} components in {k} parameters")
        ident = identifiability(like, model.centre, seed=seed)
        inf = np.flatnonzero(ident.informed)
        n_iter = (max_evaluations - like.n_eval - n_chains) // n_chains  # + each chain's start
        chains, acc = _run_chains(like, ident, n_chains, n_iter, rng, say)
        n_workers = 0 if pool is None else pool.n_workers
    like.pool = None
    draws = _pool(model, inf, chains, n_draws, rng)
    post = _posterior(model, ident, chains, acc, draws, like.n_eval, t0, c0)
    return dataclasses.replace(post, workers=n_workers)


def _posterior(model, ident, chains, acc, draws, n_eval, t0, c0) -> Posterior:
    """The `Posterior` of the pooled free-scale ``draws`` and the chains."""
    k, inf = len(model.names), np.flatnonzero(ident.informed)
    nat = np.array([[from_free(n, v) for n, v in zip(model.names, d, strict=True)] for d in draws])
    med = np.zeros((len(chains), k))
    for c, ch in enumerate(chains):
        full = np.tile(model.centre, (len(ch), 1))
        full[:, inf] = ch
        med[c] = [from_free(n, v) for n, v in zip(model.names, np.median(full, 0), strict=True)]
    rhat = np.full(k, np.nan)
    if chains:
        rhat[inf] = _rhat(np.stack(chains))
    return Posterior(
        names=model.names,
        draws=nat,
        informed=ident.informed,
        prior_centre=np.array(
            [from_free(n, v) for n, v in zip(model.names, model.centre, strict=True)]
        ),
        prior_sd=model.sd,
        chain_medians=med,
        rhat=rhat,
        acceptance=np.array(acc),
        n_evaluations=n_eval,
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        identifiability=ident,
        model=model,
    )


def chain_plan(rng, centre, cov, n_chains, length) -> list:
    """``(start, generator state)`` of each of ``n_chains`` chains of ``length`` iterations, as
    the serial run reaches them: chain ``c > 0`` starts at ``centre + 2 L z`` (``L L' = cov``,
    ``z`` from ``rng``), then ``rng`` moves on by exactly the draws chain ``c`` takes
    (`run_chain`: a seed, then per iteration a normal vector, a seed and a uniform; their number
    does not depend on the likelihood), so chains can run at once and ``rng`` ends where the
    serial run leaves it."""
    plans = []
    for c in range(n_chains):
        start = centre.copy()
        if c > 0:
            start += 2 * np.linalg.cholesky(cov) @ rng.standard_normal(len(centre))
        plans.append((start, copy.deepcopy(rng.bit_generator.state)))
        rng.integers(2**31)
        for _ in range(length):
            rng.standard_normal(len(centre))
            rng.integers(2**31)
            rng.random()
    return plans


def run_chain(model, n_sim, inf, start, state, chol, length):
    """One Metropolis chain of ``length`` iterations from ``start`` with the generator at
    ``state``: its post-burn-in draws, acceptance rate and number of likelihood evaluations
    (one unit of work: serial, or a task on a Dask worker)."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    like = SyntheticLikelihood(model, n_sim)
    draws, acc = _metropolis(like, model, inf, start, chol, length, rng)
    return draws[length // 2 :], acc, like.n_eval


def _run_chains(like, ident, n_chains, n_iter, rng, say):
    """``n_chains`` Metropolis chains on the informed block (in turn, or at once on the
    pool's workers: the same draws): post-burn-in draws and acceptance rates (none when no
    parameter is informed)."""
    model, inf = like.model, np.flatnonzero(ident.informed)
    if not inf.size:
        return [], []
    cov = ident.laplace_cov[np.ix_(inf, inf)]
    chol = np.linalg.cholesky(cov * 2.38**2 / inf.size)
    plans = chain_plan(rng, model.centre[inf], cov, n_chains, n_iter)
    if like.pool is not None:
        say(f"{n_chains} chains of {n_iter} iterations on {like.pool.n_workers} Dask workers")
        out = like.pool.chains(like.n_sim, inf, plans, chol, n_iter)
    else:
        out = []
        for c, (start, state) in enumerate(plans):
            say(f"chain {c + 1} of {n_chains}: {n_iter} iterations")
            out.append(run_chain(model, like.n_sim, inf, start, state, chol, n_iter))
    like.n_eval += sum(n for _, _, n in out)
    return [d for d, _, _ in out], [a for _, a, _ in out]


def _metropolis(like, model, inf, start, chol, n_iter, rng):
    """Random-walk Metropolis on the informed block (BSL: the current estimate is kept)."""

    def full(xi):
        x = model.centre.copy()
        x[inf] = xi
        return x

    def logprior(xi):
        return float(-0.5 * np.sum(((xi - model.centre[inf]) / model.sd[inf]) ** 2))

    x = start
    ll = like.loglik(full(x), int(rng.integers(2**31)))
    lp = logprior(x)
    out = np.empty((n_iter, inf.size))
    n_acc = 0
    for i in range(n_iter):
        prop = x + chol @ rng.standard_normal(inf.size)
        lp_new = logprior(prop)
        ll_new = like.loglik(full(prop), int(rng.integers(2**31)))
        if np.log(rng.random()) < (ll_new + lp_new) - (ll + lp):
            x, ll, lp = prop, ll_new, lp_new
            n_acc += 1
        out[i] = x
    return out, n_acc / max(n_iter, 1)


def _pool(model, inf, chains, n_draws, rng) -> np.ndarray:
    """Pooled, thinned informed draws; not-informed parameters drawn from their priors."""
    k = len(model.names)
    if chains:
        pooled = np.concatenate(chains)
        pick = np.linspace(0, len(pooled) - 1, n_draws).round().astype(int)
        sel = pooled[pick]
    else:
        sel = np.zeros((n_draws, 0))
    out = model.centre + model.sd * rng.standard_normal((n_draws, k))
    out[:, inf] = sel
    return out
