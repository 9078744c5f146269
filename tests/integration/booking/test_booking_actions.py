"""Booking actions on both profiles: the race for the last seats never overbooks, capacity
follows the queue's figures history, and a booked callback is released into the queue
when its slot comes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from integration.booking.conftest import make_queue, slot_after
from testkit import World
from tsunagi.actions import booking as actions
from tsunagi.actions import booking_slots
from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.desktop import do_save_notes
from tsunagi.actions.routing.contacts import do_release_due_callbacks
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import CallbackBooking
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.booking import BookingForm
from tsunagi.domain.errors import ConflictError
from tsunagi.domain.permissions import Principal, Role


def form(queue_id: uuid.UUID, slot: datetime, n: int) -> BookingForm:
    return BookingForm(
        queue_id=queue_id,
        slot_start=slot,
        name=f"Customer {n}",
        phone=f"0901234{n:04d}",
        member_no=None,
        note=None,
        topic=None,
        lang="ja",
    )


async def tenant_of(db: Database, tenant_id: uuid.UUID) -> booking_slots.PublicTenant:
    row = await get_tenant(db, tenant_id)
    found = await booking_slots.find_public_tenant(db, row.slug)
    assert found is not None
    return found


async def live_bookings(db: Database, tenant_id: uuid.UUID, slot: datetime) -> int:
    async with db.scoped(tenant_id, readonly=True) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(CallbackBooking)
            .where(CallbackBooking.slot_start == slot, CallbackBooking.cancelled_at.is_(None))
        )
    return int(count or 0)


async def test_the_race_for_the_last_seats_never_overbooks(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    """Three processes' worth of connections fire 24 bookings at a slot with 3 seats at once."""
    tenant_id = world.tenants["a"]
    # ⌊0.5 · 2 · 1800 / 600⌋ = 3 seats.
    queue_id = make_queue(database_url, tenant_id, booking={"callback_handle_s": 600})
    slot = slot_after(3)
    databases = [Database(database_url) for _ in range(3)]
    try:
        tenant = await tenant_of(databases[0], tenant_id)

        async def attempt(n: int) -> str:
            db = databases[n % len(databases)]
            try:
                await actions.do_book_callback(
                    db, keyring, tenant=tenant, form=form(queue_id, slot, n)
                )
            except actions.SlotFullError:
                return "full"
            return "booked"

        results = await asyncio.gather(*(attempt(n) for n in range(24)))
        assert results.count("booked") == 3
        assert results.count("full") == 21
        assert await live_bookings(databases[0], tenant_id, slot) == 3
        async with databases[0].scoped(tenant_id, readonly=True) as session:
            scheduled = await session.scalar(
                select(func.count())
                .select_from(RoutingContact)
                .where(RoutingContact.state == "callback_scheduled")
            )
        assert scheduled == 3  # a refused booking leaves no contact behind
    finally:
        for db in databases:
            await db.dispose()


async def test_capacity_follows_the_figures_history(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    """Six weeks of 40 calls in the same half hour at 180 s (4 Erlangs, 7 agents for 80/20)
    leave 3 of 10 planned agents spare: ⌊0.5 · 3 · 1800 / 180⌋ = 15 seats, against 50 seats
    with no history."""
    tenant_id = world.tenants["a"]
    queue_id = make_queue(
        database_url,
        tenant_id,
        booking={"expected_per_slot": None, "planned_agents": 10, "callback_handle_s": 180},
    )
    db = Database(database_url)
    try:
        tenant = await tenant_of(db, tenant_id)
        queue = await booking_slots.get_booking_queue(db, tenant_id, queue_id)
        day = (datetime.now(UTC) + timedelta(days=2, hours=9)).date()
        empty = await booking_slots.availability(db, tenant, queue, day, now=datetime.now(UTC))
        assert {s.seats for s in empty} == {50}

        target = empty[20].start  # some half hour of that day
        async with db.scoped(tenant_id) as session, session.begin():
            for week in range(1, 7):
                start = target - timedelta(weeks=week)
                local = (start + timedelta(hours=9)).date()
                session.add(
                    FiguresContactInterval(
                        interval_start=start,
                        local_day=local,
                        local_week=local,
                        local_month=local.replace(day=1),
                        queue_id=queue_id,
                        channel="voice",
                        category="",
                        offered=40,
                        answered=40,
                        talk_ms=40 * 150_000,
                        acw_ms=40 * 30_000,
                    )
                )
        slots = await booking_slots.availability(db, tenant, queue, day, now=datetime.now(UTC))
        seats = {s.start: s.seats for s in slots}
        assert seats[target] == 15
        assert all(n == 50 for start, n in seats.items() if start != target)
    finally:
        await db.dispose()


async def test_a_booked_callback_is_queued_when_its_slot_comes(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id)
    slot = slot_after(3)
    db = Database(database_url)
    try:
        tenant = await tenant_of(db, tenant_id)
        booked = await actions.do_book_callback(
            db, keyring, tenant=tenant, form=form(queue_id, slot, 1)
        )
        assert (
            await do_release_due_callbacks(db, tenant_id=tenant_id, now=slot - timedelta(seconds=1))
            == 0
        )
        assert await do_release_due_callbacks(db, tenant_id=tenant_id, now=slot) == 1
        async with db.scoped(tenant_id, readonly=True) as session:
            contact = await session.get(RoutingContact, booked.contact_id)
        assert contact is not None
        assert (contact.state, contact.channel) == ("queued", "callback")
        # Once due, the customer can no longer cancel it.
        with pytest.raises(ConflictError, match="already due"):
            await actions.do_cancel_booking(
                db,
                keyring,
                tenant_id=tenant_id,
                reference=booked.reference,
                phone="090-1234-0001",
                actor="customer:web",
            )
    finally:
        await db.dispose()


async def test_the_customers_note_stays_with_the_booking(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    """The communicator's wrap-up notes replace the contact's notes, never the booking's."""
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id)
    slot = slot_after(3)
    db = Database(database_url)
    try:
        tenant = await tenant_of(db, tenant_id)
        written = BookingForm(
            queue_id=queue_id, slot_start=slot, name="山田", phone="09012340099",
            member_no="12345678", note="夕方以降にお願いします", topic=None, lang="ja",
        )  # fmt: skip
        booked = await actions.do_book_callback(db, keyring, tenant=tenant, form=written)
        supervisor = world.account("a", "supervisor")
        principal = Principal(
            user_id=supervisor.user_id, tenant_id=tenant_id, roles=frozenset({Role.SUPERVISOR})
        )
        await do_save_notes(
            db, keyring, principal=principal, contact_id=booked.contact_id,
            notes="折り返し済み", sub_reason=None,
        )  # fmt: skip
        zone = (await get_tenant(db, tenant_id)).timezone
        (row,) = await actions.list_bookings(
            db, keyring, principal=principal, day=slot.astimezone(ZoneInfo(zone)).date(),
            queue_id=queue_id, timezone=zone,
        )  # fmt: skip
        assert row.note is not None
        assert "夕方以降にお願いします" in row.note and "12345678" in row.note
    finally:
        await db.dispose()
