"""Storage on both profiles: migrations match the models, round-trip, and tenancy fails closed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from testkit import create_pg_database, drop_pg_database, pg_url
from tsunagi.actions.figures import store
from tsunagi.adapters.storage import db as db_module
from tsunagi.adapters.storage import migrate
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import NIL
from tsunagi.adapters.storage.models import AuditEntry, Tenant, User
from tsunagi.adapters.storage.schema import metadata
from tsunagi.domain.errors import TenantScopeMissingError
from tsunagi.figures.definitions import AGENT_SUMS, CONTACT_MAXES, CONTACT_SUMS


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = create_pg_database()
    yield pg_url(name)
    drop_pg_database(name)


async def _differences(url: str) -> list[object]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "render_as_batch": True}
                    ),
                    metadata,
                )
            )
    finally:
        await db.dispose()


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
            return {name for name in names if name != "alembic_version"}
    finally:
        await db.dispose()


async def test_migrations_create_exactly_the_models(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    assert await _differences(empty_url) == []
    assert await _tables(empty_url) == set(metadata.tables)


async def test_upgrade_downgrade_upgrade_round_trips(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    await migrate.downgrade(empty_url, "base")
    assert await _tables(empty_url) == set()
    await migrate.upgrade(empty_url)
    assert await _differences(empty_url) == []


def _audit(action: str) -> AuditEntry:
    """An audit row to write in a test (any tenant table would do)."""
    return AuditEntry(occurred_at=datetime.now(UTC), action=action, resource_type="t", outcome="ok")


async def _two_tenants(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    now = datetime.now(UTC)
    ids = []
    async with db.system() as session, session.begin():
        for slug in ("left", "right"):
            tenant = Tenant(slug=f"{slug}-{uuid.uuid4().hex[:6]}", name=slug, created_at=now)
            session.add(tenant)
            await session.flush()
            ids.append(tenant.id)
    for tenant_id in ids:
        async with db.scoped(tenant_id) as session, session.begin():
            session.add(
                User(
                    username=f"u-{uuid.uuid4().hex[:10]}",
                    display_name="someone",
                    password_hash="x",
                    roles=["communicator"],
                    active=True,
                    created_at=now,
                    password_changed_at=now,
                )
            )
    return ids[0], ids[1]


async def test_a_scope_sees_only_its_tenant(database_url: str) -> None:
    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        async with db.scoped(left, readonly=True) as session:
            users = (await session.scalars(select(User))).all()
            assert {user.tenant_id for user in users} == {left}
            right_user = await db_first_user(db, right)
            assert await session.get(User, right_user) is None
    finally:
        await db.dispose()


async def test_one_statement_object_is_scoped_for_each_tenant_in_turn(database_url: str) -> None:
    """Scoped statements are kept per statement and tenant (``db._scoped``, decision 0814):
    the same built-once statement, run alternately for two tenants, and again after the
    cache was emptied, reads each time only the running tenant's rows; a statement built
    per call leaves the cache when collected; a full cache is emptied."""
    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        built_once = select(User.tenant_id)
        for round_ in range(3):
            if round_ == 2:
                db_module._scoped_cache.clear()
            for tenant in (left, right, left):
                for inline in (False, True):
                    async with db.scoped(
                        tenant, readonly=True, snapshot=not inline, inline=inline
                    ) as session:
                        assert set((await session.scalars(built_once)).all()) == {tenant}
        # A statement built per call leaves the cache with its caller's reference.
        per_call = select(User.id)
        db_module._scoped(per_call, left)
        key = (id(per_call), left)
        assert db_module._scoped_cache[key][0]() is per_call
        del per_call
        gc.collect()
        assert key not in db_module._scoped_cache
        # Full (statements kept alive): emptied rather than grown, and still answers rightly.
        alive = [select(User.id) for _ in range(db_module._SCOPED_MAX + 1)]
        for statement in alive:
            db_module._scoped(statement, left)
        assert len(db_module._scoped_cache) <= db_module._SCOPED_MAX
        async with db.scoped(right, readonly=True) as session:
            assert set((await session.scalars(built_once)).all()) == {right}
    finally:
        await db.dispose()


async def _run_tenant_core(
    session: AsyncSession, statement: Any, params: dict[str, Any] | None = None
) -> Any:
    """A tenant Core statement run as ``core_rows.Rows`` runs one."""
    bound = db_module.tenant_params(session, statement, params)
    return await (await session.connection()).execute(statement, bound)


async def test_tenant_core_statements_run_bound_to_the_sessions_tenant(database_url: str) -> None:
    """Core statements of the hot routing actions (``tenant_core``, decision 0815) carry
    their own ``tenant_id = :scope_tenant_id``, which only the scoped session fills: they
    see and change only its tenant's rows. One without that parameter cannot be marked; an
    unmarked one, or one in a session without a tenant, is refused."""
    db = Database(database_url)
    users = User.__table__
    try:
        left, right = await _two_tenants(db)
        right_user = await db_first_user(db, right)
        by_id = db_module.tenant_core(
            select(users.c.tenant_id).where(
                users.c.id == bindparam("user_id"),
                users.c.tenant_id == bindparam(db_module.SCOPE_PARAM),
            )
        )
        rename = db_module.tenant_core(
            update(users)
            .where(users.c.tenant_id == bindparam(db_module.SCOPE_PARAM))
            .values(display_name="renamed")
        )
        async with db.scoped(left) as session, session.begin():
            found = await _run_tenant_core(session, by_id, {"user_id": right_user})
            assert found.all() == []
            # A caller's own tenant value is overwritten by the session's.
            params = {"user_id": right_user, db_module.SCOPE_PARAM: right}
            assert (await _run_tenant_core(session, by_id, params)).all() == []
            await _run_tenant_core(session, rename)
        async with db.scoped(right) as session:
            assert (await _run_tenant_core(session, by_id, {"user_id": right_user})).all()
        async with db.system(readonly=True) as session:
            names = dict((await session.execute(select(User.tenant_id, User.display_name))).all())
        assert names == {left: "renamed", right: "someone"}
        with pytest.raises(TenantScopeMissingError):
            db_module.tenant_core(update(users).values(display_name="everyone"))
        tenants = Tenant.__table__
        audit = AuditEntry.__table__
        scope = bindparam(db_module.SCOPE_PARAM)
        with pytest.raises(TenantScopeMissingError, match="audit_log"):  # a joined table too
            db_module.tenant_core(
                select(users.c.id)
                .join(audit, audit.c.actor_user_id == users.c.id)
                .where(users.c.tenant_id == scope)
            )
        with pytest.raises(TenantScopeMissingError, match="users"):  # a caller's tenant
            db_module.tenant_core(
                insert(users).values(tenant_id=bindparam("tenant"), username=scope)
            )
        other = users.alias("other")  # an alias is a table of its own
        aliased = select(users.c.id).join(other, other.c.id == users.c.id)
        assert db_module.unscoped_tables(aliased.where(users.c.tenant_id == scope)) == ["other"]
        assert db_module.unscoped_tables(select(tenants.c.id)) == []  # not a tenant table
        async with db.scoped(left) as session:
            with pytest.raises(TenantScopeMissingError):
                await _run_tenant_core(session, select(users.c.id))
        async with db.system() as session:
            with pytest.raises(TenantScopeMissingError):
                await _run_tenant_core(session, by_id, {"user_id": right_user})
    finally:
        await db.dispose()


async def db_first_user(db: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    async with db.system(readonly=True) as session:
        found = await session.scalar(select(User.id).where(User.tenant_id == tenant_id))
    assert found is not None
    return found


async def test_access_without_a_scope_fails_closed(database_url: str) -> None:
    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        unscoped = db._session({}, readonly=True)  # what a bug that forgot the scope would get
        async with unscoped:
            with pytest.raises(TenantScopeMissingError):
                await unscoped.scalars(select(User))
        async with db.scoped(left) as session:
            with pytest.raises(TenantScopeMissingError):
                await session.execute(text("SELECT * FROM users"))
        with pytest.raises(TenantScopeMissingError):
            async with db.scoped(left) as session, session.begin():
                now = datetime.now(UTC)
                session.add(
                    User(
                        tenant_id=right,
                        username=f"u-{uuid.uuid4().hex[:10]}",
                        display_name="intruder",
                        password_hash="x",
                        roles=[],
                        active=True,
                        created_at=now,
                        password_changed_at=now,
                    )
                )
        with pytest.raises(TenantScopeMissingError):
            db.scoped("not-a-tenant-id")  # type: ignore[arg-type]
        async with db.system(readonly=True) as session:
            intruders = await session.scalars(select(User).where(User.display_name == "intruder"))
            assert intruders.all() == []
    finally:
        await db.dispose()


def test_public_ids_are_random() -> None:
    from tsunagi.domain.ids import new_id

    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(value.version == 4 for value in ids)


@pytest.fixture
def pg_only_url():  # type: ignore[no-untyped-def]
    name = create_pg_database()
    yield pg_url(name)
    drop_pg_database(name)


async def test_pooled_connections_the_server_closed_are_replaced(pg_only_url: str) -> None:
    """After PostgreSQL ends every session (as on a restart), the next use works: the pool
    hands out a fresh connection instead of failing once per stale one. (PostgreSQL only:
    an embedded SQLite file has no server to close connections.)"""
    db = Database(pg_only_url)
    try:
        async with db.system(readonly=True) as session:
            assert await session.scalar(text("SELECT 1")) == 1
        admin = await asyncpg.connect(pg_only_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                pg_only_url.rsplit("/", 1)[1],
            )
        finally:
            await admin.close()
        assert killed >= 1
        await asyncio.sleep(0.2)  # the closed sockets reach the event loop
        for _ in range(3):
            async with db.system(readonly=True) as session:
                assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


async def test_migration_0016_sums_the_kept_rows_into_the_rollups(empty_url: str) -> None:
    """An installation upgrading to 0016 keeps its history: the roll-ups (without the
    category; per month) are filled from the rows already kept, per tenant, equal to what
    the projector's own merge gives and to ``refresh_rollups``."""
    await migrate.upgrade(empty_url, "0015")
    db = Database(empty_url)
    rng = random.Random(16)
    expected: dict[uuid.UUID, dict[str, list[dict[str, Any]]]] = {}
    try:
        for tenant_id in await _two_tenants(db):
            base = _category_rows(tenant_id, rng)
            expected[tenant_id] = base
            async with db.scoped(tenant_id) as session, session.begin():
                for aggregate in store.AGGREGATES[:6]:  # the tables that exist at 0015
                    rows = store.rows_for(aggregate, base)
                    if rows:
                        await session.execute(insert(aggregate.table), rows)
    finally:
        await db.dispose()
    await migrate.upgrade(empty_url)
    db = Database(empty_url)
    try:
        for tenant_id, base in expected.items():
            for rollup, _source in store.ROLLUPS:
                wanted = _keyed(rollup, store.rows_for(rollup, base))
                assert len(wanted) > 0
                assert await _stored_rollup(db, tenant_id, rollup) == wanted, rollup.label
            async with db.scoped(tenant_id) as session, session.begin():
                await store.refresh_rollups(session, tenant_id)
            for rollup, _source in store.ROLLUPS:
                wanted = _keyed(rollup, store.rows_for(rollup, base))
                assert await _stored_rollup(db, tenant_id, rollup) == wanted, rollup.label
    finally:
        await db.dispose()


def _category_rows(tenant_id: uuid.UUID, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """15-minute contact, agent and state rows over two days (and two months), several
    categories per cell."""
    queues = [uuid.uuid4(), NIL]
    agents = [uuid.uuid4() for _ in range(3)]
    first = datetime(2025, 3, 31, 14, 0, tzinfo=UTC)  # crosses a Tokyo day and month
    contacts: dict[Any, dict[str, int]] = {}
    handled: dict[Any, dict[str, int]] = {}
    states: dict[Any, dict[str, int]] = {}
    for step in range(0, 48, 3):
        at = first + timedelta(minutes=15 * step)
        for category in ("", "a", "b", "c"):
            queue, channel = rng.choice(queues), rng.choice(("voice", "chat"))
            measures = {name: rng.randint(0, 9) for name in CONTACT_SUMS + CONTACT_MAXES}
            contacts[at, queue, channel, category] = measures
            agent = rng.choice(agents)
            handled[at, agent, queue, channel, category] = {
                name: rng.randint(0, 9) for name in AGENT_SUMS
            }
        for agent in agents:
            states[at, agent, rng.choice(("available", "not_ready")), ""] = {
                "state_ms": rng.randint(1, 900_000)
            }
    calendars = store.Calendars("Asia/Tokyo")
    return {
        "contacts": store.contact_rows(tenant_id, contacts, calendars),
        "agents": store.agent_rows(tenant_id, handled, calendars),
        "states": store.state_rows(tenant_id, states, calendars),
    }


def _keyed(aggregate: store.Aggregate, rows: list[dict[str, Any]]) -> dict[Any, dict[str, int]]:
    names = (*aggregate.sums, *aggregate.maxes)
    return {tuple(row[n] for n in aggregate.key): {n: int(row[n]) for n in names} for row in rows}


async def _stored_rollup(
    db: Database, tenant_id: uuid.UUID, aggregate: store.Aggregate
) -> dict[Any, dict[str, int]]:
    table = aggregate.table
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.execute(select(table).where(table.c.tenant_id == tenant_id))
        return _keyed(aggregate, [dict(row) for row in found.mappings()])


async def test_reads_without_a_snapshot_are_scoped_and_read_only(database_url: str) -> None:
    """``snapshot=False`` (the screen-pop's reads: no BEGIN/ROLLBACK round trips) still
    adds the tenant criterion, and only a read-only session may do without a snapshot."""
    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        right_user = await db_first_user(db, right)
        async with db.scoped(left, readonly=True, snapshot=False) as session:
            users = list(await session.scalars(select(User.tenant_id)))
            assert await session.get(User, right_user) is None
            again = list(await session.scalars(select(User.tenant_id)))
        assert users
        assert set(users) == set(again) == {left}
        async with db.system(readonly=True, snapshot=False) as session:
            everyone = set(await session.scalars(select(User.tenant_id)))
        assert {left, right} <= everyone
        with pytest.raises(ValueError, match="read-only"):
            db.scoped(left, snapshot=False)
    finally:
        await db.dispose()


async def test_an_autocommit_statement_is_committed_on_its_own(database_url: str) -> None:
    """``autocommit=True`` (the screen-pop's one-statement audit insert): the statement is
    committed when it returns, with no session commit; the tenant scope still applies."""
    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        entry = {
            "id": uuid.uuid4(),
            "tenant_id": left,
            "occurred_at": datetime.now(UTC),
            "action": "customer.read",
            "resource_type": "customer",
            "outcome": "ok",
            "detail": {},
        }
        async with db.scoped(left, autocommit=True) as session:
            await session.execute(insert(AuditEntry.__table__), [entry])
            # no commit: closing the session rolls back nothing
        async with db.scoped(left, readonly=True) as session:
            assert await session.get(AuditEntry, entry["id"]) is not None
        async with db.scoped(right, autocommit=True) as session:
            with pytest.raises(TenantScopeMissingError):
                await session.execute(insert(AuditEntry.__table__), [entry])
    finally:
        await db.dispose()


async def test_inline_reads_are_scoped_read_only_and_see_commits(database_url: str) -> None:
    """``inline=True`` (session look-ups and the screen-pop's reads): on SQLite the reads
    run on the event loop's thread through the pysqlite dialect — no hand-over to
    aiosqlite's thread — and still get the tenant criterion, see what was just committed,
    and cannot write (the connections are ``query_only``); on PostgreSQL nothing changes."""
    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        right_user = await db_first_user(db, right)
        loop_thread = threading.get_ident()
        threads: set[int] = set()

        def note_thread(*_args: Any) -> None:
            threads.add(threading.get_ident())

        async with db.scoped(left, readonly=True, snapshot=False, inline=True) as session:
            connection = await session.connection()
            event.listen(connection.sync_connection, "before_cursor_execute", note_thread)
            driver = connection.sync_connection.dialect.driver
            assert await session.get(User, right_user) is None
            assert set(await session.scalars(select(User.tenant_id))) == {left}
        assert driver == ("tsunagi_inline" if db.is_sqlite else "asyncpg")
        assert threads == {loop_thread}
        # A commit of a moment ago is seen (no snapshot kept between sessions).
        async with db.scoped(left) as session, session.begin():
            session.add(_audit("test.inline"))
        async with db.scoped(left, readonly=True, snapshot=False, inline=True) as session:
            seen = await session.scalar(
                select(AuditEntry.id).where(AuditEntry.action == "test.inline")
            )
        assert seen is not None
        if db.is_sqlite:
            async with db.system(readonly=True, snapshot=False, inline=True) as session:
                with pytest.raises(OperationalError, match="readonly"):
                    await session.execute(text("DELETE FROM audit_log"))
        with pytest.raises(ValueError, match="without a snapshot"):
            db.scoped(left, readonly=True, inline=True)
    finally:
        await db.dispose()


async def test_sqlite_writes_run_on_the_loop_and_wait_for_another_writer_in_asyncio(
    migrated: Any,
) -> None:
    """SQLite only (the inline writer is SQLite's; PostgreSQL's writes go through asyncpg):
    a write transaction's statements run on the event loop's thread, and while another
    process holds the write lock, ``BEGIN IMMEDIATE`` waits in asyncio — the loop keeps
    running — and goes ahead once the lock is free; a lock held past ``WRITE_WAIT_S``
    gives "database is locked" and writes nothing."""
    import sqlite3

    from tsunagi.adapters.storage import db as db_module

    url = migrated.url("sqlite")
    path = url.split("///", 1)[1]
    db = Database(url)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        tenant_id, _right = await _two_tenants(db)
        loop_thread = threading.get_ident()
        threads: set[int] = set()

        def note_thread(*_args: Any) -> None:
            threads.add(threading.get_ident())

        async with db.scoped(tenant_id) as session, session.begin():
            connection = await session.connection()
            event.listen(connection.sync_connection, "before_cursor_execute", note_thread)
            session.add(_audit("test.inline-write"))
        assert threads == {loop_thread}

        # Another process's writer (here: another connection) holds the lock for 0.4 s.
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        asyncio.get_running_loop().call_later(0.4, other.execute, "COMMIT")
        started = asyncio.get_running_loop().time()
        async with db.scoped(tenant_id) as session, session.begin():
            session.add(_audit("test.after-wait"))
        waited = asyncio.get_running_loop().time() - started
        ticker.cancel()
        assert waited >= 0.35
        assert ticks >= 5  # the loop ran while the writer waited (about 40; 0 or 1 if blocked)

        # Held for longer than the writer waits: a clear error, nothing written.
        db_module.WRITE_WAIT_S = 0.2
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            async with db.scoped(tenant_id) as session, session.begin():
                session.add(_audit("test.gave-up"))
        other.execute("COMMIT")
        async with db.scoped(tenant_id, readonly=True) as session:
            actions = set(
                await session.scalars(
                    select(AuditEntry.action).where(AuditEntry.action.like("test.%"))
                )
            )
        assert actions == {"test.inline-write", "test.after-wait"}
    finally:
        db_module.WRITE_WAIT_S = 10.0
        other.close()
        await db.dispose()


async def test_sessions_close_in_place_when_their_close_cannot_await(
    database_url: str,
) -> None:
    """A callback scheduled before ``async with`` ends has not run when it has ended if
    the session closed in the caller's task (SQLAlchemy would close in a shielded task of
    its own: a trip through the loop). In place: on SQLite the writer's and the inline
    reads' sessions; on both profiles any session whose ``begin()`` block has ended. With
    the shield: an autobegun read whose driver awaits (aiosqlite, PostgreSQL). Either way
    the connection is back in its pool: the writer's one connection serves the next."""
    db = Database(database_url)
    try:
        tenant_id, _right = await _two_tenants(db)
        loop = asyncio.get_running_loop()

        async def loop_ran_during_exit(session: AsyncSession, *, begin: bool = False) -> bool:
            """Whether the loop ran during the session's exit (``begin``: the read in a
            ``begin()`` block that has ended by then, else an autobegun one)."""
            ran: list[bool] = []
            async with session:
                async with session.begin() if begin else contextlib.nullcontext():
                    await session.execute(select(AuditEntry.id).limit(1))
                loop.call_soon(ran.append, True)
            return bool(ran)

        for readonly in (False, True):
            ended = db.scoped(tenant_id, readonly=readonly)
            assert not await loop_ran_during_exit(ended, begin=True), f"readonly={readonly}"

        inline = {
            "writer": db.scoped(tenant_id),
            "one-statement writer": db.scoped(tenant_id, autocommit=True),
            "inline read": db.scoped(tenant_id, readonly=True, snapshot=False, inline=True),
        }
        shielded = {"snapshot read": db.scoped(tenant_id, readonly=True)}
        if db.is_sqlite:
            for name, session in inline.items():
                assert not await loop_ran_during_exit(session), name
        else:
            shielded.update(inline)
        for name, session in shielded.items():
            assert await loop_ran_during_exit(session), name
        # Closed for real: the writer's pool (one connection on SQLite) serves the next.
        async with db.scoped(tenant_id) as session, session.begin():
            session.add(_audit("test.after-inline-close"))
        assert db.engine.sync_engine.pool.checkedout() == 0
    finally:
        await db.dispose()


async def test_emitted_events_are_written_at_commit_in_order_and_dropped_on_rollback(
    database_url: str,
) -> None:
    """``emit`` holds the outbox rows until the commit, then one insert writes them in the
    order emitted; a rolled-back transaction writes none, another tenant's event in a
    scoped session is refused, and emitting inside a SAVEPOINT is refused."""
    from tsunagi.actions.events import emit
    from tsunagi.adapters.storage.models import OutboxEvent
    from tsunagi.domain.customers import CustomerCreatedEvent

    db = Database(database_url)
    try:
        left, right = await _two_tenants(db)
        now = datetime.now(UTC)
        ids = [uuid.uuid4() for _ in range(3)]

        def created(tenant_id: uuid.UUID, customer_id: uuid.UUID) -> CustomerCreatedEvent:
            return CustomerCreatedEvent(
                tenant_id=tenant_id, occurred_at=now, customer_id=customer_id
            )

        async with db.scoped(left) as session, session.begin():
            for customer_id in ids:
                emit(session, created(left, customer_id))
        with pytest.raises(RuntimeError, match="rolled back"):
            async with db.scoped(left) as session, session.begin():
                emit(session, created(left, uuid.uuid4()))
                raise RuntimeError("rolled back")
        with pytest.raises(TenantScopeMissingError):
            async with db.scoped(left) as session, session.begin():
                emit(session, created(right, uuid.uuid4()))
        async with db.scoped(left) as session, session.begin():
            await session.scalar(select(OutboxEvent.id).limit(1))
            await session.begin_nested()
            with pytest.raises(RuntimeError, match="SAVEPOINT"):
                emit(session, created(left, uuid.uuid4()))
        async with db.system(readonly=True) as session:
            payloads = (
                await session.scalars(
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.type == "customer.created")
                    .order_by(OutboxEvent.id)
                )
            ).all()
        assert [p.split('"customer_id":"')[1][:36] for p in payloads] == [str(i) for i in ids]
    finally:
        await db.dispose()
