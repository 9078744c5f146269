"""Routing rows read and written by Core statements, for the hot actions (decision 0815).

Accept, hold, resume, end and close run on every contact, several times a second per
tenant under load, and the ORM's loading and unit of work were two thirds of their CPU.
Here a row is read by a Core statement (built once, tenant-scoped by
:func:`~tsunagi.adapters.storage.db.tenant_core`) into an instance of its model that no
session holds, so the code that moves a contact, announces an agent and emits the events
works on it unchanged; :meth:`Rows.write` then writes back, per row, one UPDATE of the
columns that changed. The ORM never sees these instances: never ``session.add`` one.

Locks are the ORM path's: the contact row ``FOR UPDATE`` first, then the agent row
(PostgreSQL); SQLite's ``BEGIN IMMEDIATE`` already holds the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Delete,
    Executable,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy import update as update_statement
from sqlalchemy.engine import Result, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.instrumentation import manager_of_class

from tsunagi.actions.routing.rows import (
    Holdings,
    lock_agent_and_holdings,
    mark_released,
    utcnow,
)
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import (
    SCOPE_KEY,
    SCOPE_PARAM,
    tenant_core,
    tenant_core_of_parts,
    tenant_params,
)
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingAssignment, RoutingContact
from tsunagi.domain.errors import TenantScopeMissingError

M = TypeVar("M", RoutingContact, RoutingAssignment, RoutingAgent, ContactParty)

_CONTACTS: Table = RoutingContact.__table__  # type: ignore[assignment]
_ASSIGNMENTS: Table = RoutingAssignment.__table__  # type: ignore[assignment]
_AGENTS: Table = RoutingAgent.__table__  # type: ignore[assignment]
_PARTIES: Table = ContactParty.__table__  # type: ignore[assignment]
_QUEUES: Table = Queue.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_PREFIX = {RoutingContact: "c_", RoutingAssignment: "a_", RoutingAgent: "g_", ContactParty: "p_"}
"""The label prefix of each model's columns in the statements here (``Rows.take``)."""


def _key(table: Table) -> str:
    """The table's primary key column (one column in every table here)."""
    (column,) = table.primary_key.columns
    return str(column.name)


def _of(table: Table) -> ColumnElement[bool]:
    """``table.tenant_id = :scope_tenant_id``."""
    criterion: ColumnElement[bool] = table.c.tenant_id == bindparam(SCOPE_PARAM)
    return criterion


def _labelled(table: Table, prefix: str) -> list[Any]:
    return [column.label(prefix + column.name) for column in table.c]


def held_statement(*, config: bool = False, party: bool = False) -> Select[Any]:
    """The contact ``:contact_id`` locked (its row only), outer-joined with its assignment
    and, if asked, its queue's ``config`` (``q_config``) and its party row: the Core twin
    of ``rows.locked_contact(assignment=True, …)``."""
    joined: Any = _CONTACTS.outerjoin(
        _ASSIGNMENTS, (_ASSIGNMENTS.c.contact_id == _CONTACTS.c.id) & _of(_ASSIGNMENTS)
    )
    columns = [*_labelled(_CONTACTS, "c_"), *_labelled(_ASSIGNMENTS, "a_")]
    if config:
        joined = joined.outerjoin(_QUEUES, (_QUEUES.c.id == _CONTACTS.c.queue_id) & _of(_QUEUES))
        columns.append(_QUEUES.c.config.label("q_config"))
    if party:
        joined = joined.outerjoin(
            _PARTIES, (_PARTIES.c.contact_id == _CONTACTS.c.id) & _of(_PARTIES)
        )
        columns += _labelled(_PARTIES, "p_")
    statement = (
        select(*columns)
        .select_from(joined)
        .where(_CONTACTS.c.id == bindparam("contact_id"), _of(_CONTACTS))
        .with_for_update(of=_CONTACTS)
    )
    return tenant_core(statement)


_AGENT_AND_HOLDINGS = tenant_core(
    select(
        *_labelled(_AGENTS, "g_"),
        _USERS.c.display_name,
        _ASSIGNMENTS.c.contact_id.label("h_contact_id"),
        _ASSIGNMENTS.c.channel.label("h_channel"),
        _ASSIGNMENTS.c.state.label("h_state"),
    )
    .select_from(
        _AGENTS.join(_USERS, (_USERS.c.id == _AGENTS.c.user_id) & _of(_USERS)).outerjoin(
            _ASSIGNMENTS, (_ASSIGNMENTS.c.agent_id == _AGENTS.c.user_id) & _of(_ASSIGNMENTS)
        )
    )
    .where(_AGENTS.c.user_id == bindparam("agent_id"), _of(_AGENTS))
    .with_for_update(of=_AGENTS)
)

Change = tuple[str, str, tuple[str, ...]]
"""A write of :meth:`Rows.write`: ``("insert", table, ())`` (every column, the tenant's
being the session's), ``("update", table, columns set)`` or ``("delete", table, ())``; an
update or delete finds its row by its key, ``:row_key``."""

_TABLES = {table.name: table for table in (_CONTACTS, _ASSIGNMENTS, _AGENTS, _PARTIES)}
_WRITES: dict[tuple[Change, ...], Insert | Update | Delete] = {}


def _write_part(change: Change, prefix: str) -> Insert | Update | Delete:
    kind, name, columns = change
    table = _TABLES[name]
    if kind == "insert":
        values: dict[str, Any] = {
            column.name: bindparam(prefix + "v_" + column.name)
            for column in table.c
            if column.name != "tenant_id"
        }
        return insert(table).values(tenant_id=bindparam(SCOPE_PARAM), **values)
    where = (table.c[_key(table)] == bindparam(prefix + "row_key"), _of(table))
    if kind == "delete":
        return delete(table).where(*where)
    return (
        update_statement(table)
        .where(*where)
        .values({column: bindparam(prefix + "v_" + column) for column in columns})
    )


def _writes(changes: tuple[Change, ...]) -> Insert | Update | Delete:
    """One statement for ``changes``, built once per combination (an action changes the
    same few columns every time). One change: its statement, parameters as named.
    Several (PostgreSQL only): all but the last as data-modifying CTEs of the last, the
    parameters of change *i* prefixed ``p<i>_`` — one round trip instead of one per row.
    They touch different rows, each already locked or new, and a foreign key is checked
    at the end of the statement, so the order PostgreSQL runs them in does not matter."""
    statement = _WRITES.get(changes)
    if statement is None:
        if len(changes) == 1:
            statement = tenant_core(_write_part(changes[0], ""))
        else:
            parts = [_write_part(change, f"p{i}_") for i, change in enumerate(changes)]
            *first, last = parts
            combined = last.add_cte(*(part.cte(f"w{i}") for i, part in enumerate(first)))
            statement = tenant_core_of_parts(combined, parts)
        _WRITES[changes] = statement
    return statement


class Rows:
    """The routing rows one transaction read with Core, and what it does to them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._connection: AsyncConnection | None = None
        self._added: list[Any] = []
        self._taken: list[tuple[Any, dict[str, Any]]] = []
        self._deleted: list[RoutingAssignment] = []

    async def _execute(self, statement: Executable, params: Mapping[str, Any]) -> Result[Any]:
        bound = tenant_params(self.session, statement, params)
        if self._connection is None:
            self._connection = await self.session.connection()
        return await self._connection.execute(statement, bound)

    def take(self, model: type[M], row: RowMapping) -> M | None:
        """The ``model`` instance in ``row`` (its columns under the model's prefix), or
        None where an outer join found no row."""
        table: Table = model.__table__  # type: ignore[assignment]
        prefix = _PREFIX[model]
        values = {column.name: row[prefix + column.name] for column in table.c}
        if values[_key(table)] is None:
            return None
        # As the ORM loads a row: an instance made without __init__, its values set in its
        # __dict__ (the instrumented attributes read them there and record later changes).
        instance: M = manager_of_class(model).new_instance()
        instance.__dict__.update(values)
        # The values as read; a JSON list or dict copied, so a change in place shows.
        read = {k: v.copy() if isinstance(v, list | dict) else v for k, v in values.items()}
        self._taken.append((instance, read))
        return instance

    async def held(
        self, statement: Select[Any], contact_id: UUID
    ) -> tuple[RoutingContact, RoutingAssignment | None, RowMapping] | None:
        """A :func:`held_statement`'s contact and assignment, and the row for the rest;
        None if there is no such contact."""
        result = await self._execute(statement, {"contact_id": contact_id})
        row = result.mappings().first()
        if row is None:
            return None
        contact = self.take(RoutingContact, row)
        assert contact is not None
        return contact, self.take(RoutingAssignment, row), row

    async def lock_agent_and_holdings(
        self, agent_id: UUID
    ) -> tuple[RoutingAgent, str | None, Holdings]:
        """``rows.lock_agent_and_holdings`` by Core: the agent row locked, its name and the
        contacts it holds, read before the caller changes anything."""
        result = await self._execute(_AGENT_AND_HOLDINGS, {"agent_id": agent_id})
        found: Sequence[RowMapping] = result.mappings().all()
        if not found:  # no routing row yet: the ORM path makes it (signed out)
            return await lock_agent_and_holdings(self.session, agent_id, at=utcnow())
        agent = self.take(RoutingAgent, found[0])
        assert agent is not None
        held = {
            row["h_contact_id"]: (row["h_channel"], row["h_state"])
            for row in found
            if row["h_contact_id"] is not None
        }
        return agent, found[0]["display_name"], held

    def add(self, instance: RoutingContact | RoutingAssignment) -> None:
        """Insert a new row (at :meth:`write`, as it is then), in the session's tenant."""
        if instance.tenant_id not in (None, self.session.info.get(SCOPE_KEY)):
            raise TenantScopeMissingError("writing another tenant's row in a scoped session")
        self._added.append(instance)

    async def release_for_good(
        self, contact: RoutingContact, assignment: RoutingAssignment, *, at: datetime
    ) -> tuple[RoutingAgent, str | None, Holdings]:
        """``rows.release_for_good`` by Core, for a contact and assignment taken here: the
        agent locked with its name and what else it holds, the assignment deleted (at
        :meth:`write`), the contact released (``rows.mark_released``)."""
        agent, name, held = await self.lock_agent_and_holdings(assignment.agent_id)
        self._taken = [(taken, values) for taken, values in self._taken if taken is not assignment]
        self._deleted.append(assignment)
        mark_released(contact, agent, at=at, held=held)
        return agent, name, held

    async def write(self) -> None:
        """Insert the rows added (in order), write back what changed in the rows taken (in
        the order taken), then delete. Call once, at the end of the transaction's work."""
        changes: list[tuple[Change, dict[str, Any]]] = []
        for instance in self._added:
            table: Table = instance.__table__
            params = {
                "v_" + column.name: getattr(instance, column.name)
                for column in table.c
                if column.name != "tenant_id"
            }
            changes.append((("insert", table.name, ()), params))
        for instance, values in self._taken:
            table = instance.__table__
            names = tuple(name for name, old in values.items() if getattr(instance, name) != old)
            if not names:
                continue
            params = {"v_" + name: getattr(instance, name) for name in names}
            params["row_key"] = values[_key(table)]
            changes.append((("update", table.name, names), params))
        for assignment in self._deleted:
            changes.append((("delete", _ASSIGNMENTS.name, ()), {"row_key": assignment.contact_id}))
        if len(changes) > 1 and self.session.get_bind().dialect.name == "postgresql":
            # One round trip for the lot (``_writes``); SQLite runs in process, where a
            # statement each costs no round trip (and has no data-modifying CTEs).
            merged = {
                f"p{i}_{name}": value
                for i, (_change, params) in enumerate(changes)
                for name, value in params.items()
            }
            await self._execute(_writes(tuple(change for change, _ in changes)), merged)
        else:
            for change, params in changes:
                await self._execute(_writes((change,)), params)
        self._added, self._taken, self._deleted = [], [], []
