"""SQLite read connections used on the event loop's own thread, for short indexed reads.

aiosqlite runs every cursor, execute, fetch and close on the connection's thread: each is
a hand-over to that thread and back (a queue put, a wake-up, the GIL, a self-pipe write),
four per statement. For a read of a few rows through an index — a session cookie, a
caller's number, a page of history — the hand-overs cost more than the read, and on a
busy machine each one waits for the scheduler. This dialect is SQLAlchemy's own pysqlite
dialect declared ``is_async``: ``AsyncSession`` runs its statements in the greenlet as
usual, and as the driver never awaits, a statement runs to its end without leaving the
event loop.

The price is that the loop waits for the read. So :meth:`Database.scoped` hands these
connections out only to read-only sessions without a snapshot that ask for them
(``inline=True``), for statements that are index lookups of a few rows; reports, exports
and anything that scans stay on aiosqlite. In WAL mode a reader never waits for a writer;
the busy timeout is short all the same, so a rare wait (recovery after a crash) costs at
most that much.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_only

DRIVER = "tsunagi_inline"
BUSY_TIMEOUT_MS = 200


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    driver = DRIVER
    supports_statement_cache = True
    is_async = True  # the driver is synchronous and never awaits: see the module's text

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    # ``AsyncConnection.execute`` (unlike ``AsyncSession``) insists that the driver awaited
    # (``_require_await``): each statement first awaits a coroutine that finishes at once —
    # two greenlet switches, no trip through the loop.
    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        await_only(_done())
        super().do_execute(cursor, statement, parameters, context)  # type: ignore[no-untyped-call]

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        await_only(_done())
        super().do_execute_no_params(cursor, statement, context)  # type: ignore[no-untyped-call]

    def do_executemany(
        self, cursor: Any, statement: Any, parameters: Any, context: Any = None
    ) -> None:
        await_only(_done())
        super().do_executemany(cursor, statement, parameters, context)  # type: ignore[no-untyped-call]

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # Opened, used and closed on the event loop's thread; the check is left off as
        # aiosqlite leaves it off, so a pool disposed from another thread can close them.
        kwargs["check_same_thread"] = False
        kwargs["factory"] = _InlineConnection
        return args, kwargs


class _InlineCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What ``AsyncConnection`` calls on a result's cursor (rows are fetched already)."""


class _InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _InlineCursor) -> Any:
        return super().cursor(factory)


async def _done() -> None:
    return None


registry.register(f"sqlite.{DRIVER}", __name__, "InlineSQLiteDialect")


def inline_url(url: str) -> URL:
    """The URL of the same SQLite file through this dialect."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername=f"sqlite+{DRIVER}")
