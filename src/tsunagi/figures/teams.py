"""Teams of communicators (pure): the name rule and the event of a change.

A team is a name and its members; a user is in at most one team, so figures "by team"
are exact sums over members and the teams of a report add up to the whole (docs/figures.md).
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

NO_TEAM = ""  # the report key of communicators in no team


def team_name(value: str) -> str:
    name = " ".join((value or "").split())
    if not 1 <= len(name) <= 100:
        raise InvalidInputError("name: 1 to 100 characters")
    return name


class TeamChangedEvent(Event, frozen=True, kw_only=True, tag="team.changed"):
    """A team was created, renamed, given members or deleted (``change``)."""

    resource: ClassVar[str] = "team"
    team_id: UUID
    change: str  # created | updated | deleted
    members: int
