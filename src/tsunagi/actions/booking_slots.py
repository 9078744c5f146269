"""Booking slots and their seats: the public tenant, booking queues, the inbound history
from the figures, the forecast, the capacity of each slot and a day's availability.

Read-only: nothing here writes. The seats come from ``channels.booking.slot_capacity``
(the formula is in ``docs/architecture/booking.md``); the forecast and Erlang C run in a
worker thread and a day's seats are remembered by everything they depend on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import msgspec
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.conversation_models import CallbackBooking
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.models import Queue, Tenant
from tsunagi.channels.booking import (
    BookingSettings,
    CapacityInput,
    SlotView,
    bookable_days,
    booking_settings,
    day_slots,
    slot_capacity,
    slot_views,
)
from tsunagi.domain.errors import NotFoundError
from tsunagi.routing.queues import QueueRouting, routing_settings
from tsunagi.wfm.forecast import Calendar, forecast_intervals, to_intervals


@dataclass(frozen=True, slots=True)
class PublicTenant:
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    default_locale: str


@dataclass(frozen=True, slots=True)
class BookingQueue:
    id: uuid.UUID
    code: str
    name_ja: str
    name_en: str
    settings: BookingSettings
    routing: QueueRouting
    sl_target_pct: int
    sl_threshold_s: int


async def find_public_tenant(db: Database, slug: str) -> PublicTenant | None:
    """The tenant of a public booking page (a cross-tenant lookup by slug, like sign-in)."""
    async with db.system(readonly=True) as session:
        row = await session.scalar(select(Tenant).where(Tenant.slug == slug[:63]))
    if row is None:
        return None
    return PublicTenant(row.id, row.slug, row.name, row.timezone, row.default_locale)


def _booking_queue(queue: Queue) -> BookingQueue:
    return BookingQueue(
        queue.id,
        queue.code,
        queue.name_ja,
        queue.name_en,
        booking_settings(queue.config),
        routing_settings(queue.config),
        queue.sl_target_pct,
        queue.sl_threshold_s,
    )


async def booking_queues(
    db: Database, tenant_id: uuid.UUID, *, enabled_only: bool = True
) -> list[BookingQueue]:
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (await session.scalars(select(Queue).order_by(Queue.code))).all()
    queues = [_booking_queue(row) for row in rows]
    return [q for q in queues if q.settings.enabled or not enabled_only]


async def get_booking_queue(
    db: Database, tenant_id: uuid.UUID, queue_id: uuid.UUID
) -> BookingQueue:
    async with db.scoped(tenant_id, readonly=True) as session:
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id))
    if queue is None:
        raise NotFoundError("queue not found")
    return _booking_queue(queue)


@dataclass(frozen=True, slots=True)
class InboundHistory:
    """Offered inbound contacts per 15-minute interval (local clock) and their handle time."""

    volume: pd.Series
    aht_s: float | None


async def inbound_history(
    db: Database, tenant_id: uuid.UUID, queue_id: uuid.UUID, *, days: Sequence[date], timezone: str
) -> InboundHistory:
    """The queue's offered contacts on local ``days`` from the figures intervals; callbacks
    are left out so bookings do not feed their own forecast."""
    model = FiguresContactInterval
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(
                    model.interval_start,
                    func.sum(model.offered),
                    func.sum(model.answered),
                    func.sum(model.talk_ms + model.hold_ms + model.acw_ms),
                )
                .where(
                    model.queue_id == queue_id,
                    model.channel != "callback",
                    model.local_day.in_(list(days)),
                )
                .group_by(model.interval_start)
                .order_by(model.interval_start)
            )
        ).all()
    zone = ZoneInfo(timezone)
    index = [start.astimezone(zone).replace(tzinfo=None) for start, *_ in rows]
    volume = pd.Series([float(offered or 0) for _, offered, _, _ in rows], index=index)
    answered = sum(int(a or 0) for _, _, a, _ in rows)
    handle_ms = sum(int(h or 0) for _, _, _, h in rows)
    return InboundHistory(volume, handle_ms / 1000 / answered if answered else None)


def forecast_volumes(
    history: InboundHistory, queue: BookingQueue, day: date, starts: Sequence[datetime], zone: str
) -> list[float]:
    """Forecast inbound contacts of each slot: the configured figure, else the WFM
    ``profile`` forecast (same-weekday daily mean × intraday profile) of the history; no
    usable history means no inbound load."""
    settings = queue.settings
    if settings.expected_per_slot is not None:
        return [settings.expected_per_slot] * len(starts)
    series = history.volume[history.volume > 0]
    if series.empty:
        return [0.0] * len(starts)
    holidays = frozenset(queue.routing.holidays)
    calendar = Calendar(is_holiday=lambda d: d in holidays)
    try:
        forecast = forecast_intervals(
            to_intervals(series, settings.slot_minutes),
            [day],
            method="profile",
            calendar=calendar,
            weeks=settings.history_weeks,
        )
    except ValueError:
        return [0.0] * len(starts)
    tz = ZoneInfo(zone)
    values = {pd.Timestamp(str(ts)).to_pydatetime(): float(v) for ts, v in forecast.items()}
    return [values.get(start.astimezone(tz).replace(tzinfo=None), 0.0) for start in starts]


def capacities(
    queue: BookingQueue, history: InboundHistory, day: date, starts: Sequence[datetime], zone: str
) -> list[int]:
    settings = queue.settings
    aht = history.aht_s or float(settings.aht_s)
    volumes = forecast_volumes(history, queue, day, starts, zone)
    return [
        slot_capacity(
            CapacityInput(
                inbound_volume=volume,
                inbound_aht_s=aht,
                planned_agents=settings.agents_on(day),
                slot_minutes=settings.slot_minutes,
                callback_handle_s=float(settings.callback_handle_s or aht),
                spare_share=settings.spare_share,
                service_level=Fraction(min(queue.sl_target_pct, 99), 100),
                service_seconds=float(queue.sl_threshold_s),
                max_per_slot=settings.max_per_slot,
            )
        ).seats
        for volume in volumes
    ]


# Seats of a day by everything they depend on (the history itself included, so a cached
# answer is never stale): a burst of page views and bookings forecasts a day once.
_SEATS: dict[tuple[object, ...], list[int]] = {}
_SEATS_MAX = 512


def _seats_key(
    queue: BookingQueue, history: InboundHistory, day: date, starts: Sequence[datetime]
) -> tuple[object, ...]:
    return (
        queue.id,
        day,
        tuple(starts),
        msgspec.json.encode(queue.settings),
        tuple(queue.routing.holidays),
        queue.sl_target_pct,
        queue.sl_threshold_s,
        history.aht_s,
        tuple(history.volume.index),
        tuple(history.volume.to_numpy().tolist()),
    )


async def day_seats(
    tenant: PublicTenant, queue: BookingQueue, history: InboundHistory, day: date
) -> dict[datetime, int]:
    """Seats of every slot of a local day (computed in a worker thread, remembered)."""
    starts = day_slots(
        day,
        slot_minutes=queue.settings.slot_minutes,
        routing=queue.routing,
        timezone=tenant.timezone,
    )
    key = _seats_key(queue, history, day, starts)
    seats = _SEATS.get(key)
    if seats is None:
        # The forecast and Erlang C are CPU work (~20 ms a day): off the event loop.
        seats = await asyncio.to_thread(capacities, queue, history, day, starts, tenant.timezone)
        if len(_SEATS) >= _SEATS_MAX:
            _SEATS.clear()
        _SEATS[key] = seats
    return dict(zip(starts, seats, strict=True))


async def history_for(
    db: Database, tenant: PublicTenant, queue: BookingQueue, day: date
) -> InboundHistory:
    """The same weekday of the last ``history_weeks`` weeks: all the ``profile`` forecast of
    ``day`` uses (its daily mean and intraday profile are per weekday)."""
    if queue.settings.expected_per_slot is not None:
        return InboundHistory(pd.Series(dtype=float), None)
    days = [day - timedelta(weeks=k) for k in range(1, queue.settings.history_weeks + 1)]
    return await inbound_history(db, tenant.id, queue.id, days=days, timezone=tenant.timezone)


async def _booked_counts(
    session: AsyncSession, queue_id: uuid.UUID, start: datetime, end: datetime
) -> dict[datetime, int]:
    rows = await session.execute(
        select(CallbackBooking.slot_start, func.count())
        .where(
            CallbackBooking.queue_id == queue_id,
            CallbackBooking.slot_start >= start,
            CallbackBooking.slot_start < end,
            CallbackBooking.cancelled_at.is_(None),
        )
        .group_by(CallbackBooking.slot_start)
    )
    return {slot: int(count) for slot, count in rows.all()}


async def availability(
    db: Database, tenant: PublicTenant, queue: BookingQueue, day: date, *, now: datetime
) -> list[SlotView]:
    """The slots of a local day with their seats and bookings (empty outside the horizon)."""
    settings = queue.settings
    if day not in bookable_days(now, days_ahead=settings.days_ahead, timezone=tenant.timezone):
        return []
    starts = day_slots(
        day, slot_minutes=settings.slot_minutes, routing=queue.routing, timezone=tenant.timezone
    )
    if not starts:
        return []
    history = await history_for(db, tenant, queue, day)
    by_start = await day_seats(tenant, queue, history, day)
    seats = [by_start[start] for start in starts]
    async with db.scoped(tenant.id, readonly=True) as session:
        booked = await _booked_counts(
            session, queue.id, starts[0], starts[-1] + timedelta(minutes=1)
        )
    earliest = now + timedelta(minutes=settings.min_notice_minutes)
    return slot_views(starts, seats, booked, earliest=earliest)
