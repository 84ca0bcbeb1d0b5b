"""Fixtures of the io tests; helpers live in _io_study.py (imported by path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _io_study import base_files


@pytest.fixture
def study_files() -> dict[str, bytes]:
    return base_files()
