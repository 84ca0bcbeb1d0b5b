"""One argument name per meaning across the public API (docs/CONVENTIONS.md, "Argument names").

Scans the signature of every public function and public method of every public module of
``mrdtrack`` and fails on a banned spelling. ``ALLOWED_UNTIL_MERGED`` lists, by name, the
spellings that other packages' owners are renaming in parallel (issue #17); the lead engineer
empties it once their branches are merged, after which the scan covers them too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import mrdtrack

# name -> the conventional name (always banned)
BANNED = {
    "ci_level": "conf_level",
    "ci_type": "conf_type",
    "iter_max": "max_iter",
    "maxit": "max_iter",
    "n_iter": "max_iter",
    "toler": "tol",
    "epsilon": "tol",
    "xtol": "tol",
    "nboot": "n_boot",
    "n_bootstrap": "n_boot",
    "B": "n_boot",
    "n_samples": "n_draws",
    "random_state": "seed",
    "random_seed": "seed",
    "n_jobs": "workers",
    "n_workers": "workers",
    "time_unit": "unit",
    "entry": "start",
}

# (public callable, parameter): renamed on another helper's branch of issue #17; empty this
# after merging those branches
ALLOWED_UNTIL_MERGED: set[tuple[str, str]] = set()


def banned_spelling(name: str, default: Any) -> str | None:
    """Why parameter ``name`` (with ``default``) breaks the table, or None if it does not."""
    if name in BANNED:
        return f"use {BANNED[name]!r}"
    is_float = isinstance(default, float)
    if name == "level" and is_float:
        return "use 'conf_level' (a CI level) or 'alpha' (a test size)"
    if name == "alpha" and is_float and default > 0.5:
        return "a confidence level is 'conf_level'; 'alpha' is a test size"
    if name in ("eps", "tolerance") and (is_float or default is inspect.Parameter.empty):
        return "a tolerance is 'tol'"
    return None


def _public_modules() -> Iterator[Any]:
    yield mrdtrack
    for info in pkgutil.walk_packages(mrdtrack.__path__, "mrdtrack."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        yield importlib.import_module(info.name)


def _callables(module: Any) -> Iterator[tuple[str, Callable]]:
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for meth, fn in vars(obj).items():
                if not meth.startswith("_") and inspect.isfunction(fn):
                    yield f"{name}.{meth}", fn
            init = vars(obj).get("__init__")
            if inspect.isfunction(init) and "__dataclass_fields__" not in vars(obj):
                yield f"{name}.__init__", init


def scan() -> list[tuple[str, str, str]]:
    """Every (callable, parameter, reason) of the public API that breaks the table."""
    found = []
    for module in _public_modules():
        for qualname, fn in _callables(module):
            for p in inspect.signature(fn).parameters.values():
                reason = banned_spelling(p.name, p.default)
                if reason:
                    found.append((f"{module.__name__}:{qualname}", p.name, reason))
    return found


def test_public_signatures_follow_the_argument_table():
    bad = [f for f in scan() if (f[0], f[1]) not in ALLOWED_UNTIL_MERGED]
    assert not bad, "banned argument names:\n" + "\n".join(
        f"  {where}({param}=...): {why}" for where, param, why in sorted(bad)
    )


def test_the_scan_sees_the_survival_api():
    # the scan must reach the survival functions it guards (a scan of nothing passes anything)
    names = {f"{m.__name__}:{q}" for m in _public_modules() for q, _ in _callables(m)}
    assert "mrdtrack.survival.cox:cox_ph" in names
    assert "mrdtrack.survival.cox:CoxFit.conf_int" in names
    assert "mrdtrack.survival.competing:fine_gray" in names
    assert "mrdtrack.multistate.panel_markov:fit_panel_markov" in names


@pytest.mark.parametrize(
    ("name", "default", "bad"),
    [
        ("iter_max", 20, True),
        ("maxit", 100, True),
        ("ci_level", 0.95, True),
        ("level", 0.95, True),
        ("level", 0.05, True),
        ("level", "visit", False),  # an aggregation level, not a probability
        ("alpha", 0.95, True),
        ("alpha", 0.05, False),  # a test size
        ("alpha", inspect.Parameter.empty, False),  # e.g. a transparency or a model parameter
        ("eps", 1e-9, True),
        ("toler", 1e-9, True),
        ("xtol", 1e-9, True),
        ("conf_level", 0.95, False),
        ("max_iter", 20, False),
        ("tol", 1e-9, False),
        ("n_boot", 200, False),
        ("seed", 1, False),
        ("workers", 0, False),
    ],
)
def test_the_rules_reject_the_banned_spellings(name, default, bad):
    assert (banned_spelling(name, default) is not None) is bad


def test_a_banned_spelling_in_a_signature_is_reported():
    def fit(data, iter_max=20, eps=1e-9, ci_level=0.95):  # the spellings the table replaced
        return data

    params = inspect.signature(fit).parameters.values()
    flagged = {p.name for p in params if banned_spelling(p.name, p.default)}
    assert flagged == {"iter_max", "eps", "ci_level"}
