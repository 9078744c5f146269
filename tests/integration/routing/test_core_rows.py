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


def _writes(floor: Floor) -> tuple[list[str], Any]:
    """The writes of the agents' routing rows sent to the database (the listener to remove
    after; the engine's own writes, its lease renewals, touch other tables)."""
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if (
            statement.lstrip()
            .upper()
            .startswith(("UPDATE ROUTING_AGENTS", "INSERT INTO ROUTING_AGENTS"))
        ):
            sent.append(" ".join(statement.split()))

    event.listen(floor.db.engine.sync_engine, "before_cursor_execute", keep)
    return sent, keep


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
