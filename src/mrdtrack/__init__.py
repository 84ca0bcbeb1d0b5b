"""mrdtrack: minimal residual disease over time, and what it means for progression risk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mrdtrack._version import __version__

if TYPE_CHECKING:
    from mrdtrack.cohort import Cohort
    from mrdtrack.io import read_adam, read_study

__all__ = ["Cohort", "__version__", "read_adam", "read_study"]

# imported on first use: `import mrdtrack` stays light (no numba, matplotlib, pyreadstat)
_LAZY = {
    "Cohort": ("mrdtrack.cohort", "Cohort"),
    "read_study": ("mrdtrack.io", "read_study"),
    "read_adam": ("mrdtrack.io", "read_adam"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mrdtrack' has no attribute {name!r}")
