"""Scripts with the customer's fields filled in — by substitution only, never evaluation.

A script body names fields in braces: ``{customer.name}様、お電話ありがとうございます。``
Only names made of letters, digits, ``_`` and ``.`` are fields; their values are
looked up in a flat mapping and inserted as text (the page escapes them like any text),
so a template cannot run code or reach attributes. A field with no value stays visible
as ``{name}`` for the communicator to ask for. ``{{`` and ``}}`` write literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


@dataclass(frozen=True, slots=True)
class FilledScript:
    text: str
    missing: tuple[str, ...]


def fields_of(template: str) -> tuple[str, ...]:
    """The field names a template uses, in order of first use."""
    names = (match.group(1) for match in _FIELD.finditer(template) if match.group(1))
    return tuple(dict.fromkeys(names))


def fill(template: str, values: Mapping[str, str | None]) -> FilledScript:
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        value = values.get(name)
        if value is None or value == "":
            missing.append(name)
            return token
        return value

    text = _FIELD.sub(replace, template)
    return FilledScript(text=text, missing=tuple(dict.fromkeys(missing)))
