"""The examples in the docstrings run and give the numbers they show."""

from __future__ import annotations

import doctest

import pytest

from mrdtrack.mrd import status, trajectories


@pytest.mark.parametrize("module", [status, trajectories])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
