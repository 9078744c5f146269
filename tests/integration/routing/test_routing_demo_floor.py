"""The demo floor drives simulated customers and communicators through the real engine."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from sqlalchemy import func, select

from integration.routing.routing_floor import Floor
from tsunagi.adapters.storage.models import Category
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingContact
from tsunagi.demo.floor import FloorPlan, run_floor


async def test_the_demo_floor_comes_alive(floor: Floor) -> None:
    await floor.add_queue("delivery")
    await floor.add_queue("billing")
    async with floor.db.scoped(floor.tenant_id) as session, session.begin():
        session.add(Category(code="delivery-missing", name_ja="配送", name_en="Delivery"))
    for name in ("op10", "op11", "op12", "op01"):
        await floor.add_agent(name, {}, ready=False)
    plan = FloorPlan(
        arrivals_per_minute=600,
        ring_s=(0.05, 0.1),
        talk_mean_s=0.2,
        wrap_mean_s=0.1,
        patience_mean_s=30,
        break_probability=0.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_floor(SimpleNamespace(db=floor.db), floor.tenant_id, stop_event=stop, plan=plan)
    )

    async def some_closed() -> bool:
        async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
            closed = await session.scalar(
                select(func.count())
                .select_from(RoutingContact)
                .where(RoutingContact.state == "closed", RoutingContact.category.is_not(None))
            )
        return (closed or 0) >= 5

    try:
        await floor.until(some_closed, timeout=20, what="the demo to handle contacts")
    finally:
        stop.set()
        await task
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        ready = (await session.scalars(select(RoutingAgent.presence))).all()
    assert "ready" in ready
