"""Fixtures of the desk's browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit import Browserless, LiveServer, World


@pytest.fixture
def admin(server: LiveServer, world: World) -> Iterator[Browserless]:
    """An administrator's API client; the communicator has the "delivery" skill."""
    client = Browserless(server.url)
    try:
        client.sign_in(world.account("a", "administrator").username)
        communicator = world.account("a", "communicator")
        profile = client.request(
            "PATCH",
            f"/api/v1/agents/{communicator.user_id}/profile",
            json={"skills": {"delivery": 6}},
        )
        assert profile.status_code == 200, profile.text
        yield client
    finally:
        client.close()
