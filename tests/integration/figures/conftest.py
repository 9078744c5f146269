"""The ``floor`` fixture of the routing tests, reused: figures fold the events it makes."""

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
