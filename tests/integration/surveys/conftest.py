"""A routing floor (the figures fold its events) and a keyring for the survey tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integration.routing.routing_floor import Floor, close_floor, open_floor
from testkit import World
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing


@pytest.fixture
async def floor(database_url: str, profile: str, world: World) -> AsyncIterator[Floor]:
    opened = await open_floor(database_url, profile, world)
    try:
        yield opened
    finally:
        await close_floor(opened)


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))
