"""Fixtures shared by every test package: databases on both profiles, buses, a live app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import (
    REDIS_URL,
    Browserless,
    LiveServer,
    MigratedDatabases,
    World,
    live_server,
    make_settings,
    redis_available,
    require,
    run,
    seed_world,
)

PROFILES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedDatabases]:
    databases = MigratedDatabases(tmp_path_factory.mktemp("databases"))
    yield databases
    databases.cleanup()


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    """Runs the test on the embedded profile (SQLite + memory bus) and the scale-out one
    (PostgreSQL + Redis)."""
    value: str = request.param
    if value == "postgres":
        require(redis_available(), "Redis on 127.0.0.1:6379")
    return value


@pytest.fixture
def database_url(profile: str, migrated: MigratedDatabases) -> str:
    """A freshly migrated, empty database of the profile under test."""
    return migrated.url(profile)


@pytest.fixture
def redis_url() -> str:
    require(redis_available(), "Redis on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
def settings_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    def build(database_url: str, profile: str, **overrides: object):  # type: ignore[no-untyped-def]
        if profile == "postgres":
            overrides.setdefault("redis_url", REDIS_URL)
        return make_settings(database_url, tmp_path, **overrides)

    return build


@pytest.fixture
def world(database_url: str) -> World:
    """Two tenants with one user of each role, written straight into the database."""
    from tsunagi.adapters.security.passwords import PasswordHasher
    from tsunagi.adapters.storage.db import Database

    async def seed() -> World:
        db = Database(database_url)
        try:
            return await seed_world(db, PasswordHasher(time_cost=1, memory_kib=64))
        finally:
            await db.dispose()

    return run(seed)


@pytest.fixture
def server(database_url: str, profile: str, settings_for, world: World) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with live_server(settings_for(database_url, profile)) as running:
        yield running


@pytest.fixture
def client_factory(server: LiveServer) -> Iterator[object]:
    made: list[Browserless] = []

    def make() -> Browserless:
        client = Browserless(server.url)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
