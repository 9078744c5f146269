"""Export cells: text a spreadsheet would run as a formula is made inert."""

from __future__ import annotations

import pytest

from tsunagi.figures.cells import inert


@pytest.mark.parametrize("text", ["=1+1", "+81 3 1234", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_get_an_apostrophe(text: str) -> None:
    assert inert(text) == "'" + text


@pytest.mark.parametrize("value", ["配送", "a=b", "", 5, -3.5, None, True])
def test_other_values_are_unchanged(value: object) -> None:
    assert inert(value) == value  # type: ignore[arg-type]
