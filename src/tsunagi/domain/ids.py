"""Public identifiers: random UUIDs (version 4), never sequential, so ids leak nothing."""

from __future__ import annotations

import uuid


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def parse_id(value: str) -> uuid.UUID | None:
    """A UUID from text, or ``None`` when the text is not one (callers answer 404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
