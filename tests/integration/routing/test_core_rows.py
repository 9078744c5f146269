"""``core_rows.Rows`` (decision 0815), on both profiles: rows read by Core come back as
model instances, and only what changed — a JSON value changed in place included — is
written back; nothing is written for an untouched row; a row of another tenant is
neither read nor added."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from integration.routing.routing_floor import Floor
from tsunagi.actions import accounts
from tsunagi.actions.routing.core_rows import Rows, held_statement
from tsunagi.adapters.storage.routing_models import RoutingAssignment
from tsunagi.domain.errors import TenantScopeMissingError


def _sent(floor: Floor, starts: tuple[str, ...], needle: str) -> tuple[list[str], Any]:
    """The statements sent to the database that start with one of ``starts`` and name
    ``needle``, whitespace folded (the listener to remove after)."""
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if text.upper().startswith(starts) and needle in text:
            sent.append(text)

    event.listen(floor.db.engine.sync_engine, "before_cursor_execute", keep)
    return sent, keep


def _writes(floor: Floor) -> tuple[list[str], Any]:
    """The writes of the agents' routing rows (the engine's own writes, its lease
    renewals, touch other tables)."""
    return _sent(floor, ("UPDATE ROUTING_AGENTS", "INSERT INTO ROUTING_AGENTS"), "")


async def test_rows_write_back_only_what_changed(floor: Floor) -> None:
    ren = await floor.add_agent("ren", {"billing": 3}, ready=False)  # the engine leaves him be
    sent, keep = _writes(floor)
    try:
        async with floor.db.scoped(floor.tenant_id) as session, session.begin():
            rows = Rows(session)
            agent, name, held = await rows.lock_agent_and_holdings(ren)
            assert (name, held, agent.skills) == ("ren", {}, {"billing": 3})
            agent.skills["mail"] = 2  # in place: must still count as a change
            await rows.write()
        assert len(sent) == 1 and sent[0].startswith("UPDATE routing_agents SET skills=")
        sent.clear()
        async with floor.db.scoped(floor.tenant_id) as session, session.begin():
            rows = Rows(session)
            await rows.lock_agent_and_holdings(ren)
            await rows.write()  # nothing changed: nothing written
        assert sent == []
    finally:
        event.remove(floor.db.engine.sync_engine, "before_cursor_execute", keep)
    assert (await floor.agent("ren")).skills == {"billing": 3, "mail": 2}


async def test_rows_see_and_add_only_their_tenants_rows(floor: Floor) -> None:
    await floor.add_queue("billing")
    contact_id = await floor.create("billing")  # waits: nobody is ready
    other = await accounts.do_create_tenant(floor.db, slug="other-tenant", name="other")
    async with floor.db.scoped(other) as session, session.begin():
        rows = Rows(session)
        assert await rows.held(held_statement(), contact_id) is None
        stranger = RoutingAssignment(
            tenant_id=floor.tenant_id,
            contact_id=contact_id,
            agent_id=uuid.uuid4(),
            channel="voice",
            state="offered",
            offered_at=datetime.now(UTC),
        )
        with pytest.raises(TenantScopeMissingError):
            rows.add(stranger)
    async with floor.db.scoped(floor.tenant_id) as session, session.begin():
        found = await Rows(session).held(held_statement(config=True), contact_id)
        assert found is not None
        contact, assignment, row = found
        assert (contact.id, contact.state, assignment) == (contact_id, "queued", None)
        assert row["q_config"] == {}


async def test_an_actions_row_writes_are_one_statement_on_postgresql(floor: Floor) -> None:
    """Accept, end and close change several rows (contact, assignment, agent; close deletes
    the assignment). On PostgreSQL ``Rows.write`` sends them as one statement (data-
    modifying CTEs: one round trip), on SQLite one statement a row; either way every row
    ends as the actions say."""
    from tsunagi.actions.routing.offers import (
        do_accept_offer,
        do_close_contact,
        do_end_contact,
    )
    from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingContact

    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    tenant, aiko = floor.tenant_id, floor.agents["aiko"]
    routing_tables = ("routing_contacts", "routing_assignments", "routing_agents")
    sent, keep = _sent(floor, ("UPDATE", "DELETE", "WITH", "INSERT"), "routing_")
    try:
        # The offer (the engine's): the assignment inserted, the contact and agent updated.
        contact_id = await floor.create("billing")
        await floor.wait_state(contact_id, "offered")
        offer = [w for w in sent if "INSERT INTO routing_assignments" in w]
        if floor.db.is_sqlite:
            assert len(offer) == 1 and offer[0].startswith("INSERT"), offer
        else:
            assert len(offer) == 1 and offer[0].startswith("WITH w0 AS"), offer
            assert "UPDATE routing_contacts" in offer[0] and "UPDATE routing_agents" in offer[0]
        # The engine's own writes (lease renewals, sweeps) would mix in: stopped from here.
        await floor.engine.stop()
        per_action: list[list[str]] = []
        for step in (do_accept_offer, do_end_contact):
            sent.clear()
            await step(floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=aiko, actor="t")
            per_action.append(list(sent))
        sent.clear()
        await do_close_contact(
            floor.db, tenant_id=tenant, contact_id=contact_id, agent_id=aiko, actor="t"
        )
        per_action.append(list(sent))
    finally:
        event.remove(floor.db.engine.sync_engine, "before_cursor_execute", keep)

    for writes in per_action:
        if floor.db.is_sqlite:
            assert len(writes) >= 2 and not any(w.startswith("WITH") for w in writes), writes
        else:
            assert len(writes) == 1 and writes[0].startswith("WITH w0 AS"), writes
            assert all(f"{table}.tenant_id = $" in writes[0] for table in routing_tables[:2])
    assert any("DELETE FROM routing_assignments" in w for w in per_action[2])
    closed = await floor.contact(contact_id)
    assert (closed.state, closed.agent_id, closed.last_agent_id) == ("closed", None, aiko)
    async with floor.db.scoped(tenant, readonly=True) as session:
        assert await session.get(RoutingAssignment, contact_id) is None
        agent = await session.get(RoutingAgent, aiko)
        assert agent is not None and agent.presence == "ready"
        assert await session.get(RoutingContact, contact_id) is not None


async def test_rows_write_once_what_changed_in_several_rows(floor: Floor) -> None:
    """Two rows changed: written by one statement on PostgreSQL (a data-modifying CTE), by
    two on SQLite, and a second ``write`` sends nothing."""
    await floor.add_queue("billing")
    ren = await floor.add_agent("ren", {"billing": 3}, ready=False)
    contact_id = await floor.create("billing")  # waits: nobody is ready
    sent, keep = _sent(floor, ("UPDATE", "WITH"), "routing_")
    try:
        async with floor.db.scoped(floor.tenant_id) as session, session.begin():
            rows = Rows(session)
            found = await rows.held(held_statement(), contact_id)
            assert found is not None
            contact = found[0]
            agent, _name, _held = await rows.lock_agent_and_holdings(ren)
            contact.priority = 7
            agent.skills = {"billing": 4}
            await rows.write()
            written = list(sent)
            await rows.write()
    finally:
        event.remove(floor.db.engine.sync_engine, "before_cursor_execute", keep)
    assert sent == written
    if floor.db.is_sqlite:
        assert [w.split(" SET ")[0] for w in written] == [
            "UPDATE routing_contacts",
            "UPDATE routing_agents",
        ]
    else:
        assert len(written) == 1 and written[0].startswith("WITH w0 AS (UPDATE routing_contacts")
    assert (await floor.contact(contact_id)).priority == 7
    assert (await floor.agent("ren")).skills == {"billing": 4}
