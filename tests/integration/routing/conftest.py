"""The ``floor`` fixture: a live routing floor on SQLite + memory bus and PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from integration.routing.routing_floor import Floor, close_floor, open_floor
from testkit import World


@pytest.fixture
async def floor(database_url: str, profile: str, world: World) -> AsyncIterator[Floor]:
    opened = await open_floor(database_url, profile, world)
    try:
        yield opened
    finally:
        await close_floor(opened)
