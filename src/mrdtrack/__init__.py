"""mrdtrack: minimal residual disease over time, and what it means for progression risk."""

from mrdtrack._version import __version__

__all__ = ["__version__"]
