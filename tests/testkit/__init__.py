"""Shared test helpers: real databases, real buses, a live server and signed-in clients.

Tests that need PostgreSQL, Redis or Chromium call :func:`require`; outside CI a missing
service skips the test, but with ``CI`` set it fails, so CI never passes by skipping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

T = TypeVar("T")
PG_HOST = os.environ.get("TSUNAGI_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TSUNAGI_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TSUNAGI_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("TSUNAGI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("TSUNAGI_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct-horse-battery-staple"  # test accounts' password


def run(coroutine_function: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to the end from sync code, in a thread of its own when a loop is
    already running here (Playwright's sync API runs one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine_function())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_function())).result()


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a real service the test needs is missing."""
    if available:
        return
    message = f"{what} is not available"
    if in_ci():
        pytest.fail(f"{message}; CI must provide it (scripts/test.sh starts it)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- PostgreSQL -------------------------------------------------------------------------


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _pg_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres"
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_pg_database(template: str | None = None) -> str:
    """Create an empty (or copied) database with a unique name; returns its name."""
    require(port_open(PG_HOST, PG_PORT), f"PostgreSQL on {PG_HOST}:{PG_PORT}")
    name = f"tsunagi_t_{uuid.uuid4().hex[:16]}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    run(lambda: _pg_admin(f'CREATE DATABASE "{name}"{suffix}'))
    return name


def drop_pg_database(name: str) -> None:
    assert re.fullmatch(r"tsunagi_t_[0-9a-f]{16}", name)
    run(lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- Redis -----------------------------------------------------------------------------


def redis_available() -> bool:
    return port_open("127.0.0.1", 6379)


# --- Databases for a test ----------------------------------------------------------------


@dataclass
class MigratedDatabases:
    """Migrated templates, made once per session and copied for each test."""

    root: Path
    sqlite_template: Path | None = None
    pg_template: str | None = None
    created: list[str] = field(default_factory=list)

    def sqlite(self) -> str:
        from tsunagi.adapters.storage.migrate import upgrade

        if self.sqlite_template is None:
            template = self.root / "template.sqlite3"
            run(lambda: upgrade(f"sqlite+aiosqlite:///{template}"))
            self.sqlite_template = template
        target = self.root / f"{uuid.uuid4().hex}.sqlite3"
        shutil.copyfile(self.sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"

    def postgres(self) -> str:
        from tsunagi.adapters.storage.migrate import upgrade

        if self.pg_template is None:
            template = create_pg_database()
            self.created.append(template)
            run(lambda: upgrade(pg_url(template)))
            self.pg_template = template
        name = create_pg_database(template=self.pg_template)
        self.created.append(name)
        return pg_url(name)

    def url(self, profile: str) -> str:
        return self.sqlite() if profile == "sqlite" else self.postgres()

    def cleanup(self) -> None:
        for name in reversed(self.created):
            drop_pg_database(name)


# --- Seeded tenants ----------------------------------------------------------------------

ROLE_NAMES = ("communicator", "supervisor", "manager", "administrator", "client_viewer")


@dataclass(frozen=True)
class Account:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    role: str


@dataclass
class World:
    """Two tenants (``a`` and ``b``), each with one user per role."""

    tenants: dict[str, uuid.UUID]
    accounts: dict[tuple[str, str], Account]

    def account(self, tenant: str, role: str) -> Account:
        return self.accounts[(tenant, role)]


async def seed_world(db: Any, hasher: Any) -> World:
    from tsunagi.actions import accounts

    tag = uuid.uuid4().hex[:8]
    tenants: dict[str, uuid.UUID] = {}
    found: dict[tuple[str, str], Account] = {}
    for key in ("a", "b"):
        tenant_id = await accounts.do_create_tenant(
            db, slug=f"t{key}-{tag}", name=f"Tenant {key.upper()} {tag}"
        )
        tenants[key] = tenant_id
        for role in ROLE_NAMES:
            username = f"{key}-{role.replace('_', '-')}-{tag}"
            user_id = await accounts.do_create_user(
                db,
                hasher,
                tenant_id=tenant_id,
                username=username,
                display_name=f"{role} of {key}",
                password=PASSWORD,
                roles=[role],
                locale="en",
            )
            found[(key, role)] = Account(tenant_id, user_id, username, role)
    return World(tenants, found)


# --- A live server -----------------------------------------------------------------------


class LiveServer:
    """The real app under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, settings: Any) -> None:
        from tsunagi.web.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@contextmanager
def live_server(settings: Any) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Any:
    from tsunagi.settings import Settings

    values: dict[str, Any] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "password_time_cost": 1,
        "password_memory_kib": 64,
        "relay_poll_interval_s": 0.05,
        **overrides,
    }
    return Settings(**values)


# --- Signed-in HTTP clients ----------------------------------------------------------------

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]*)"')


class Browserless:
    """An httpx client that signs in through the real form and sends CSRF tokens."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def login_form_csrf(self) -> str:
        page = self.http.get("/login")
        if page.status_code in (302, 303) and self.csrf:
            return self.csrf  # already signed in: the page's token is bound to the session
        assert page.status_code == 200, page.text
        match = CSRF_FIELD.search(page.text)
        assert match, "the login page has no CSRF field"
        return match.group(1)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        token = self.login_form_csrf()
        response = self.http.post(
            "/login", data={"username": username, "password": password, "_csrf": token}
        )
        if response.status_code in (302, 303):
            home = self.http.get(response.headers["location"], follow_redirects=True)
            match = CSRF_META.search(home.text)
            self.csrf = match.group(1) if match else ""
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.http.request(method, path, headers=headers, **kwargs)
