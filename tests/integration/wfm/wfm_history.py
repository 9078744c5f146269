"""Weeks of figures history for tenant a, written as the projector would write its
15-minute aggregate rows (the projector folds live events only, so a past is seeded)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from testkit import World
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.models import Queue

ZONE = ZoneInfo("Asia/Tokyo")
OPEN_HOUR, CLOSE_HOUR = 9, 17  # local clock
AHT_S = 300


def volume_at(day: date, quarter: int, channel: str) -> int:
    """The pattern: contacts per 15 minutes by weekday, 0 outside 09:00-17:00."""
    hour = quarter // 4
    if not OPEN_HOUR <= hour < CLOSE_HOUR:
        return 0
    base = 12 if channel == "voice" else 3
    return base + day.weekday() + (4 if 10 <= hour < 12 else 0)


async def seed_history(
    database_url: str, world: World, first: date, weeks: int, channels: tuple[str, ...]
) -> uuid.UUID:
    """``weeks`` weeks from ``first`` of queue "sales" for each channel; returns the queue."""
    db = Database(database_url)
    tenant = world.tenants["a"]
    try:
        async with db.scoped(tenant) as session, session.begin():
            queue = Queue(
                code="sales", name_ja="営業", name_en="Sales", created_at=datetime.now(UTC)
            )
            session.add(queue)
            await session.flush()
            for offset in range(weeks * 7):
                day = first + timedelta(days=offset)
                for quarter in range(96):
                    local = datetime.combine(day, datetime.min.time()) + timedelta(
                        minutes=15 * quarter
                    )
                    for channel in channels:
                        n = volume_at(day, quarter, channel)
                        if n == 0:
                            continue
                        session.add(
                            FiguresContactInterval(
                                tenant_id=tenant,
                                interval_start=local.replace(tzinfo=ZONE).astimezone(UTC),
                                local_day=day,
                                local_week=day - timedelta(days=day.weekday()),
                                local_month=day.replace(day=1),
                                queue_id=queue.id,
                                channel=channel,
                                category="",
                                offered=n,
                                answered=n,
                                answered_in_sl=n,
                                talk_ms=n * (AHT_S - 60) * 1000,
                                acw_ms=n * 60 * 1000,
                            )
                        )
        return queue.id
    finally:
        await db.dispose()
