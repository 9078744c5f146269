"""The living demo: the simulated floor creates contacts and callers are identified, so a
communicator who takes one sees the member's record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from testkit import make_settings
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.demo.seed import TENANT_SLUG, live_floor, load_demo
from tsunagi.web.app import build_services


@pytest.mark.slow
async def test_the_demo_floor_brings_known_callers(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", tmp_path)
    await load_demo(settings, customers=300)
    services = build_services(settings)
    await services.bus.start()
    await services.relay.start()
    stop = asyncio.Event()
    floor = asyncio.create_task(live_floor(services, stop))
    try:
        linked = 0
        for _ in range(120):
            await asyncio.sleep(0.25)
            async with services.db.system(readonly=True) as session:
                linked = (
                    await session.scalar(
                        select(func.count())
                        .select_from(ContactParty)
                        .where(ContactParty.customer_id.is_not(None))
                    )
                    or 0
                )
            if linked >= 2:
                break
        assert linked >= 2, "no demo contact was matched to a member"
    finally:
        stop.set()
        await asyncio.wait_for(floor, 10)
        await services.relay.stop()
        await services.bus.stop()
        await services.db.dispose()
    assert TENANT_SLUG == "izumi-coop"
