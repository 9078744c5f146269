"""Export cells that a spreadsheet cannot run (CSV/Excel formula injection).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula (or a DDE call) by spreadsheet programs. Such text gets a leading apostrophe,
the convention OWASP recommends, so it shows as text and nothing runs. Numbers stay
numbers: a negative *number* is data, not a formula.
"""

from __future__ import annotations

from datetime import date, datetime

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | datetime | date | None


def inert(value: Cell) -> Cell:
    """The value as it may be written to a CSV or Excel cell."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
