"""A handled contact of tenant a, made through the routing actions of a running app."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from testkit import World
from tsunagi.actions.routing.agents import do_set_agent_profile, do_set_presence
from tsunagi.actions.routing.contacts import NewContact, do_create_contact
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.routing.agents import AgentProfile, Presence

EVIL = '=HYPERLINK("http://x","click")'


async def one_handled_contact(database_url: str, world: World, category: str) -> uuid.UUID:
    """A contact of tenant a in queue "billing", answered and closed by its communicator."""
    db = Database(database_url)
    tenant = world.tenants["a"]
    agent = world.account("a", "communicator").user_id
    try:
        async with db.scoped(tenant) as session, session.begin():
            queue = Queue(
                code="billing", name_ja="請求", name_en="Billing", created_at=datetime.now(UTC)
            )
            session.add(queue)
        await do_set_agent_profile(
            db,
            tenant_id=tenant,
            agent_id=agent,
            profile=AgentProfile(skills={"billing": 5}),
            actor=None,
        )
        await do_set_presence(
            db, tenant_id=tenant, agent_id=agent, presence=Presence.READY, reason=None, actor=None
        )
        created = await do_create_contact(
            db, tenant_id=tenant, new=NewContact(channel="voice", queue_id=queue.id), actor="t"
        )
        contact_id = created.contact_id
        deadline = time.monotonic() + 15
        while True:  # the app's routing engine makes the offer
            async with db.scoped(tenant, readonly=True) as session:
                state = await session.scalar(
                    select(RoutingContact.state).where(RoutingContact.id == contact_id)
                )
            if state == "offered":
                break
            assert time.monotonic() < deadline, f"no offer (state {state})"
            await asyncio.sleep(0.05)
        kw: dict[str, Any] = {
            "tenant_id": tenant,
            "contact_id": contact_id,
            "agent_id": agent,
            "actor": "t",
        }
        await do_accept_offer(db, **kw)
        await do_end_contact(db, **kw)
        await do_close_contact(db, **kw, category=category, resolved_first_contact=True)
        return queue.id
    finally:
        await db.dispose()
