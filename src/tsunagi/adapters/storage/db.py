"""Engines and tenant-scoped sessions for SQLite (embedded) and PostgreSQL.

Every session is either *scoped* to one tenant — each ORM statement gets a
``tenant_id = :scope`` criterion on every tenant table, and rows written must carry
that tenant — or explicitly *system* (cross-tenant, for the relay, sign-in lookup,
migrations and the demo loader). A session that is neither fails closed.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, Table, event, exc, insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.util import find_tables
from sqlalchemy.util import await_only

from tsunagi.adapters.storage.models import OutboxEvent, TenantScoped
from tsunagi.adapters.storage.sqlite_inline import BUSY_TIMEOUT_MS, inline_url
from tsunagi.domain.errors import TenantScopeMissingError

SCOPE_KEY = "tenant_id"
SYSTEM_KEY = "system"
OUTBOX_WRITTEN_KEY = "outbox_written"
COMMIT_HOOK_KEY = "after_commit"
"""``session.info`` key of the owning Database's after-commit callback (one class-level
listener calls it: registering a listener per session cost ~10 % of a request's CPU)."""


class TenantSession(Session):
    """The sync session class behind every AsyncSession Tsunagi opens."""


def _scope_tenant(info: dict[str, Any]) -> uuid.UUID | None:
    """The tenant a session (its ``info``) is scoped to; None for a system session;
    refused for a session that is neither."""
    if info.get(SYSTEM_KEY):
        return None
    tenant_id: uuid.UUID | None = info.get(SCOPE_KEY)
    if tenant_id is None:
        raise TenantScopeMissingError("database access without a tenant scope")
    return tenant_id


@event.listens_for(TenantSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    tenant_id = _scope_tenant(state.session.info)
    if tenant_id is None:
        return
    if isinstance(state.statement, TextClause):
        raise TenantScopeMissingError("raw SQL is only allowed in system sessions")
    if state.is_insert:
        _check_insert_params(state.parameters, tenant_id)
        return
    state.statement = _scoped(state.statement, tenant_id)


# Scoped statements already made, by (statement, tenant), decision 0814. A statement built
# once and run often (the routing actions' hot ones) is scoped once per tenant, instead of
# a new option, statement and cache key on every execution (8 % of the server's samples at
# 20 contacts/s). An entry goes when its statement is collected (a statement built per
# call stays only while its caller holds it; the scoped copy shares its clauses), a hit
# needs the very statement (an id of a collected one can be reused), and the dict is
# emptied if it ever reaches _SCOPED_MAX entries (many tenants).
_SCOPED_MAX = 4096
_scoped_cache: dict[tuple[int, uuid.UUID], tuple[weakref.ref[Any], Any]] = {}


def _scoped(statement: Any, tenant_id: uuid.UUID) -> Any:
    key = (id(statement), tenant_id)
    hit = _scoped_cache.get(key)
    if hit is not None and hit[0]() is statement:
        return hit[1]
    scoped = statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
            track_closure_variables=False,
        )
    )
    if len(_scoped_cache) >= _SCOPED_MAX:
        _scoped_cache.clear()
    _scoped_cache[key] = (weakref.ref(statement, _forget(key)), scoped)
    return scoped


def _forget(key: tuple[int, uuid.UUID]) -> Callable[[Any], None]:
    def forget(dead: Any) -> None:
        entry = _scoped_cache.get(key)
        if entry is not None and entry[0] is dead:  # not a newer entry under a reused id
            _scoped_cache.pop(key, None)

    return forget


@event.listens_for(TenantSession, "after_commit")
def _after_commit(session: Session) -> None:
    hook = session.info.get(COMMIT_HOOK_KEY)
    if hook is not None:
        hook(session)


def _check_insert_params(params: Any, tenant_id: uuid.UUID) -> None:
    rows = params if isinstance(params, list) else [params]
    for row in rows:
        if isinstance(row, dict) and row.get("tenant_id", tenant_id) != tenant_id:
            raise TenantScopeMissingError("insert for another tenant in a scoped session")


@event.listens_for(TenantSession, "before_flush")
def _stamp_tenant(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(SYSTEM_KEY):
        return
    tenant_id = session.info.get(SCOPE_KEY)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        if tenant_id is None:
            raise TenantScopeMissingError("writing a tenant row without a tenant scope")
        if getattr(obj, "tenant_id", None) is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantScopeMissingError("writing another tenant's row in a scoped session")


SCOPE_PARAM = "scope_tenant_id"
"""The bind parameter through which a tenant Core statement (:func:`tenant_core`) gets
the session's tenant."""
_TENANT_CORE = "tenant_core"
E = TypeVar("E", bound=Executable)


def tenant_core(statement: E) -> E:
    """Mark a Core statement, built once, to run with :func:`tenant_params`. It compares
    the ``tenant_id`` of every tenant table it reads, joins or writes to
    ``:scope_tenant_id`` (:data:`SCOPE_PARAM`) itself, and an insert takes its
    ``tenant_id`` from that parameter: the criterion the session adds to ORM statements
    (``_scope_statement``) is written into the statement, and checked here, once, when it
    is built. Refused otherwise (:func:`unscoped_tables`)."""
    missing = unscoped_tables(statement)
    if missing:
        raise TenantScopeMissingError(
            f"a tenant Core statement must compare {', '.join(missing)} to :{SCOPE_PARAM}"
        )
    return statement.execution_options(**{_TENANT_CORE: True})


def tenant_core_of_parts(statement: E, parts: Sequence[Executable]) -> E:
    """:func:`tenant_core` for a statement its caller made of ``parts`` and nothing else
    (PostgreSQL data-modifying CTEs: ``core_rows._writes``): each part is checked as
    :func:`tenant_core` checks a statement (an ``INSERT`` inside a ``WITH`` is not the
    shape it reads)."""
    for part in parts:
        tenant_core(part)
    return statement.execution_options(**{_TENANT_CORE: True})


def unscoped_tables(statement: Executable) -> list[str]:
    """The tenant tables of ``statement`` not bound to :data:`SCOPE_PARAM` (sorted)."""
    sql = " ".join(str(statement.compile()).split())  # type: ignore[attr-defined]
    found = find_tables(
        statement,  # type: ignore[arg-type]
        include_joins=True,
        include_crud=True,
        include_aliases=True,
    )
    tables = {
        source.name  # an alias by its own name, as the SQL names it
        for source in found
        if isinstance(getattr(source, "element", source), Table) and "tenant_id" in source.c
    }
    inserted = re.fullmatch(r"INSERT INTO (\w+) \(([^)]*)\) VALUES \(([^)]*)\)", sql)
    if inserted is not None:
        columns = [name.strip() for name in inserted.group(2).split(",")]
        values = [value.strip() for value in inserted.group(3).split(",")]
        bound = dict(zip(columns, values, strict=True)).get("tenant_id") == f":{SCOPE_PARAM}"
        return [] if bound or inserted.group(1) not in tables else [inserted.group(1)]
    return sorted(name for name in tables if f"{name}.tenant_id = :{SCOPE_PARAM}" not in sql)


def tenant_params(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``params`` for a :func:`tenant_core` statement run in ``session``'s transaction (a
    tenant-scoped session), with the session's tenant bound: the caller cannot pass
    another. Decision 0815: the routing actions' hot statements (``core_rows.Rows``),
    without the ORM's loading and unit of work."""
    tenant_id = _scope_tenant(session.info)
    if tenant_id is None:
        raise TenantScopeMissingError("a tenant Core statement needs a tenant-scoped session")
    if not statement.get_execution_options().get(_TENANT_CORE):
        raise TenantScopeMissingError("only tenant_core statements run with tenant_params")
    return {**(params or {}), SCOPE_PARAM: tenant_id}


PENDING_OUTBOX_KEY = "outbox_pending"
_OUTBOX_INSERT = insert(OutboxEvent.__table__)  # type: ignore[arg-type]


def queue_outbox_row(session: Session, row: dict[str, Any]) -> None:
    """Hold an outbox row until the session's transaction commits (``emit`` uses this): the
    rows are then written by one Core insert, in the order queued, instead of as ORM
    objects through the unit of work. A rollback drops them. Not inside a SAVEPOINT: its
    rollback would not take the rows back, so that is refused."""
    if session.in_nested_transaction():
        raise RuntimeError("events cannot be emitted inside a SAVEPOINT (begin_nested)")
    pending = session.info.get(PENDING_OUTBOX_KEY)
    if pending is None:
        session.info[PENDING_OUTBOX_KEY] = pending = []
    pending.append(row)


@event.listens_for(TenantSession, "before_commit")
def _write_outbox(session: Session) -> None:
    rows = session.info.pop(PENDING_OUTBOX_KEY, None)
    if rows:
        # On the connection (Core: no ORM execution for it; the commit's flush follows),
        # every row's tenant checked as a scoped session checks an insert's.
        tenant_id = _scope_tenant(session.info)
        if tenant_id is not None:
            _check_insert_params(rows, tenant_id)
        session.connection().execute(_OUTBOX_INSERT, rows)
        session.info[OUTBOX_WRITTEN_KEY] = True


@event.listens_for(TenantSession, "after_transaction_end")
def _drop_outbox(session: Session, transaction: Any) -> None:
    # The outermost transaction ended without writing them (rolled back or closed).
    if transaction.parent is None:
        session.info.pop(PENDING_OUTBOX_KEY, None)


CLOSES_INLINE_KEY = "closes_inline"


class ScopedSession(AsyncSession):
    """An ``AsyncSession`` that closes in the caller's own task when its close cannot await.

    SQLAlchemy closes a session leaving ``async with`` in a task of its own, shielded, so
    that a cancellation cannot cut the close short (a rollback, the connection back to
    its pool). That task is two trips through the loop, about seven a routed contact, and
    it is needed only when the close can await:

    * never on SQLite's inline connections (the writer and the inline reads,
      :mod:`.sqlite_inline`): the driver never awaits;
    * never, on any driver, once no transaction is left (``async with session.begin()``
      ended: committed or rolled back, the connection already back in its pool) — the
      close then only forgets the session's objects.

    Every other session (an autobegun read on aiosqlite or PostgreSQL) keeps the shield."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.info.get(CLOSES_INLINE_KEY, False) or self.sync_session.get_transaction() is None:
            await self.close()
        else:
            await super().__aexit__(type_, value, traceback)


def is_in_memory(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (one process's alone)."""
    return url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith(":"))


class Database:
    """One engine and its session factory; pass it to actions, never make it at import."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        self._reader: AsyncEngine | None = None
        self._inline: AsyncEngine | None = None
        self._closes_inline: set[AsyncEngine] = set()
        if self.is_sqlite and not is_in_memory(url):
            # SQLite has one writer at a time. Writers of this process queue for the one
            # write connection (an asyncio wait) instead of meeting in SQLite's busy
            # handler, which sleeps in steps of up to 100 ms; readers have their own pool
            # (WAL lets them read while a write is open). The write connection runs its
            # statements on the event loop's thread (sqlite_inline, decision 0813): a
            # write transaction takes the lock at BEGIN IMMEDIATE, waiting for another
            # process's writer in asyncio, and its statements then never wait.
            self.engine: AsyncEngine = create_async_engine(
                inline_url(url), **options, pool_size=1, max_overflow=0, pool_timeout=30
            )
            _configure_sqlite(
                self.engine.sync_engine, busy_timeout_ms=BUSY_TIMEOUT_MS, wait_to_begin=True
            )
            self._reader = create_async_engine(url, **options)
            _configure_sqlite(self._reader.sync_engine)
            reader = self._reader
            # Short indexed reads on the loop's own thread (sqlite_inline explains why).
            self._inline = create_async_engine(inline_url(url), **options)
            _configure_sqlite(
                self._inline.sync_engine, busy_timeout_ms=BUSY_TIMEOUT_MS, query_only=True
            )
        else:
            if not self.is_sqlite:
                options.update(pool_size=10, max_overflow=20)
            self.engine = create_async_engine(url, **options)
            if not self.is_sqlite:
                _drop_closed_connections(self.engine.sync_engine)
            if self.is_sqlite:  # in memory: one shared connection, nothing to split
                _configure_sqlite(self.engine.sync_engine)
            reader = self.engine
        # (readonly, autocommit) -> engine. Autocommit: each statement is its own
        # transaction (no BEGIN/COMMIT/ROLLBACK round trips): AUTOCOMMIT on PostgreSQL, no
        # BEGIN on SQLite (writers still share the one write connection).
        self._binds: dict[tuple[bool, bool], AsyncEngine] = {
            (False, False): self.engine,
            (True, False): reader.execution_options(sqlite_readonly=True),
        }
        if self.is_sqlite:
            self._binds[True, True] = reader.execution_options(
                sqlite_readonly=True, sqlite_no_begin=True
            )
            self._inline_bind = (self._inline or reader).execution_options(
                sqlite_readonly=True, sqlite_no_begin=True
            )
            self._binds[False, True] = self.engine.execution_options(sqlite_no_begin=True)
            if self._inline is not None:  # a file: the writer and the inline reads
                self._closes_inline = {
                    self._binds[False, False],
                    self._binds[False, True],
                    self._inline_bind,
                }
        else:
            self._binds[True, True] = self._binds[False, True] = self.engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
            self._inline_bind = self._binds[True, True]
        self._factory = async_sessionmaker(
            self.engine,
            class_=ScopedSession,
            expire_on_commit=False,
            sync_session_class=TenantSession,
        )
        self._commit_listeners: list[Callable[[], None]] = []

    def on_outbox_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after a commit that wrote outbox rows (wakes the relay)."""
        self._commit_listeners.append(listener)

    def scoped(
        self,
        tenant_id: uuid.UUID,
        *,
        readonly: bool = False,
        snapshot: bool = True,
        autocommit: bool = False,
        inline: bool = False,
    ) -> AsyncSession:
        """A session scoped to ``tenant_id``; ``readonly`` ones read on the read side.

        Without a transaction around its statements (no BEGIN and COMMIT/ROLLBACK round
        trips; each statement is its own transaction, durable when it returns):
        ``snapshot=False`` for a read-only session whose reads need not agree with each
        other, ``autocommit=True`` for a write session whose every write is **one**
        statement (the screen-pop's audit insert) — never for an ORM flush or several
        writes that must stand or fall together.

        ``inline=True`` (with ``readonly`` and ``snapshot=False``): on SQLite the reads run
        on the event loop's thread (:mod:`.sqlite_inline`) — only for index lookups of a few
        rows, as the loop waits for them; on PostgreSQL it changes nothing."""
        if not isinstance(tenant_id, uuid.UUID):
            raise TenantScopeMissingError("a tenant scope must be a tenant id")
        return self._session(
            {SCOPE_KEY: tenant_id},
            readonly=readonly,
            snapshot=snapshot,
            autocommit=autocommit,
            inline=inline,
        )

    def system(
        self,
        *,
        readonly: bool = False,
        snapshot: bool = True,
        autocommit: bool = False,
        inline: bool = False,
    ) -> AsyncSession:
        """A cross-tenant session. Only infrastructure code (relay, sign-in, loaders) uses this."""
        return self._session(
            {SYSTEM_KEY: True},
            readonly=readonly,
            snapshot=snapshot,
            autocommit=autocommit,
            inline=inline,
        )

    def _session(
        self,
        info: dict[str, Any],
        *,
        readonly: bool,
        snapshot: bool = True,
        autocommit: bool = False,
        inline: bool = False,
    ) -> AsyncSession:
        if not snapshot and not readonly:
            raise ValueError("only a read-only session can do without a snapshot")
        if inline and snapshot:
            raise ValueError("inline reads are read-only sessions without a snapshot")
        bind = self._inline_bind if inline else self._binds[readonly, autocommit or not snapshot]
        return self._factory(
            bind=bind,
            info={
                **info,
                COMMIT_HOOK_KEY: self._after_commit,
                CLOSES_INLINE_KEY: bind in self._closes_inline,
            },
        )

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(OUTBOX_WRITTEN_KEY, False):
            for listener in self._commit_listeners:
                listener()

    async def dispose(self) -> None:
        await self.engine.dispose()
        for engine in (self._reader, self._inline):
            if engine is not None:
                await engine.dispose()


def _drop_closed_connections(engine: Engine) -> None:
    """A pooled PostgreSQL connection the server closed (restart, idle kill) is replaced at
    checkout. asyncpg notices the closed socket on the event loop, so asking it costs
    nothing — unlike ``pool_pre_ping``, a round trip in a transaction on every checkout
    (about a sixth of a request's CPU in the screen-pop profile)."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("the server closed this pooled connection")


def _configure_sqlite(
    engine: Engine,
    *,
    busy_timeout_ms: int = 10_000,
    query_only: bool = False,
    wait_to_begin: bool = False,
) -> None:
    """WAL + synchronous=FULL, and writers take the lock at BEGIN (no deadlocking upgrades);
    ``query_only`` connections refuse every write. ``wait_to_begin`` (the inline writer):
    a ``BEGIN IMMEDIATE`` that finds the database locked by another process is retried
    after an asyncio sleep, for up to ``WRITE_WAIT_S``, instead of SQLite's busy handler
    sleeping on the event loop's thread."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={busy_timeout_ms:d}",
            *(["PRAGMA query_only=ON"] if query_only else []),
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("sqlite_no_begin", False):  # autocommit: each statement on its own
            return
        if options.get("sqlite_readonly", False):
            connection.exec_driver_sql("BEGIN")
        elif wait_to_begin:
            _begin_immediate(connection)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    # A ROLLBACK is a hop to aiosqlite's thread and back; a session's close and the pool's
    # reset on return each send one, also when no transaction is open (the autocommit and
    # snapshot-free sessions, a read that ended): about a third of a screen-pop's hops.
    # SQLite says whether a transaction is open (``in_transaction``); skip it when none is.
    dialect = engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and not driver.in_transaction:
            return
        rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


WRITE_WAIT_S = 10.0
"""How long an inline writer waits for another process's write lock at ``BEGIN``."""


def _begin_immediate(connection: Any) -> None:
    """``BEGIN IMMEDIATE`` on the inline writer: while another process holds the write lock,
    sleep in asyncio (the statement runs in SQLAlchemy's greenlet, so ``await_only`` hands
    the loop back) and try again, with a growing pause, for up to ``WRITE_WAIT_S``. The
    tries go to the driver with the busy timeout off, so none of them sleeps in SQLite."""
    driver = connection.connection.driver_connection
    deadline = time.monotonic() + WRITE_WAIT_S
    # Short pauses: another process's write transactions (the figures projector's child,
    # decision 0012) last milliseconds, and a try costs microseconds.
    pause = 0.001
    driver.execute("PRAGMA busy_timeout=0")
    try:
        while time.monotonic() < deadline:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    raise
            await_only(asyncio.sleep(pause))
            pause = min(pause * 1.5, 0.01)
        # Still locked: the same statement through SQLAlchemy, for its usual error.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
