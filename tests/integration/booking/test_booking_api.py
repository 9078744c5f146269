"""Web callback booking through the live app, on SQLite and on PostgreSQL + Redis: the
public form books a seat and creates a scheduled callback contact; staff list it; the
customer cancels; bad input, full slots, past and closed times change nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from integration.booking.conftest import Visitor, make_queue, reference_of, slot_after
from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.conversation_models import CallbackBooking
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact


def slug_of(database_url: str, tenant_id: uuid.UUID) -> str:
    async def read() -> str:
        db = Database(database_url)
        try:
            async with db.system(readonly=True) as session:
                slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
            assert slug is not None
            return slug
        finally:
            await db.dispose()

    return run(read)


def state(database_url: str, tenant_id: uuid.UUID) -> dict[str, Any]:
    """Bookings and contacts of the tenant, as plain tuples."""

    async def read() -> dict[str, Any]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                bookings = (await session.scalars(select(CallbackBooking))).all()
                contacts = (await session.scalars(select(RoutingContact))).all()
                parties = (await session.scalars(select(ContactParty))).all()
            return {
                "bookings": {b.reference: b for b in bookings},
                "contacts": {c.id: c for c in contacts},
                "parties": {p.contact_id: p for p in parties},
            }
        finally:
            await db.dispose()

    return run(read)


def counts(database_url: str, tenant_id: uuid.UUID) -> tuple[int, int]:
    found = state(database_url, tenant_id)
    return len(found["bookings"]), len(found["contacts"])


@pytest.fixture
def visitor(server: LiveServer, world: World, database_url: str) -> Iterator[Visitor]:
    client = Visitor(server.url, slug_of(database_url, world.tenants["a"]))
    yield client
    client.close()


def staff(server: LiveServer, world: World, role: str) -> Browserless:
    client = Browserless(server.url)
    client.sign_in(world.account("a", role).username)
    return client


def test_book_list_and_cancel(
    server: LiveServer, world: World, database_url: str, visitor: Visitor
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id)
    slot = slot_after(3)
    page = visitor.page(queue=str(queue_id), day=(slot + timedelta(hours=9)).date().isoformat())
    assert page.status_code == 200
    assert f'value="{slot.isoformat()}"' in page.text

    reference = reference_of(visitor.book(queue_id, slot))
    confirmation = visitor.http.get(f"/book/{visitor.slug}/booked/{reference}")
    assert confirmation.status_code == 200
    assert reference in confirmation.text
    assert "山田" not in confirmation.text and "5678" not in confirmation.text

    found = state(database_url, tenant_id)
    booking = found["bookings"][reference]
    contact = found["contacts"][booking.contact_id]
    assert (contact.state, contact.channel, contact.callback_at) == (
        "callback_scheduled",
        "callback",
        slot,
    )
    assert contact.idempotency_key == f"booking:{reference}"
    party = found["parties"][contact.id]
    assert party.kind == "phone" and party.address_hash == booking.phone_hash
    assert b"5678" not in (booking.phone_enc or b"") and booking.name_enc

    supervisor = staff(server, world, "supervisor")
    day = (slot + timedelta(hours=9)).date().isoformat()
    listed = supervisor.request("GET", "/api/v1/bookings", params={"day": day}).json()
    mine = next(row for row in listed if row["reference"] == reference)
    assert mine["name"] == "山田 花子" and mine["phone"] == "09012345678"
    assert "M-1001" in mine["note"] and "請求書" in mine["note"]
    assert mine["contact_state"] == "callback_scheduled"
    communicator = staff(server, world, "communicator")
    assert communicator.request("GET", "/api/v1/bookings").status_code == 403
    other = Browserless(server.url)
    other.sign_in(world.account("b", "supervisor").username)
    assert other.request("GET", "/api/v1/bookings", params={"day": day}).json() == []

    wrong = visitor.cancel(reference, phone="090-9999-9999")
    assert wrong.status_code == 404
    assert state(database_url, tenant_id)["bookings"][reference].cancelled_at is None
    done = visitor.cancel(reference.lower())
    assert done.status_code == 200, done.text
    assert 'data-testid="cancel-done"' in done.text
    after = state(database_url, tenant_id)
    assert after["bookings"][reference].cancelled_at is not None
    closed = after["contacts"][booking.contact_id]
    assert (closed.state, closed.outcome) == ("closed", "cancelled")
    assert visitor.cancel(reference).status_code == 200  # twice is fine
    for client in (supervisor, communicator, other):
        client.close()


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"phone": "12-34"}, 422, "Japanese phone number"),
        ({"phone": "090-1234-567"}, 422, "too few or too many digits"),
        ({"consent": ""}, 422, "agree"),
        ({"name": ""}, 422, "your name"),
        ({"note": "x" * 501}, 422, "at most 500"),
        ({"queue": str(uuid.uuid4())}, 404, "queue not found"),
        ({"queue": "not-a-uuid"}, 422, "check the form"),
        ({"slot": "yesterday"}, 422, "check the form"),
        ({"slot": ""}, 422, "choose a time"),
    ],
)
def test_bad_forms_change_nothing(
    world: World,
    database_url: str,
    visitor: Visitor,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id)
    before = counts(database_url, tenant_id)
    response = visitor.book(queue_id, slot_after(3), **fields)
    assert response.status_code == status, response.text
    assert message in response.text
    assert counts(database_url, tenant_id) == before


def test_times_that_cannot_be_booked(world: World, database_url: str, visitor: Visitor) -> None:
    tenant_id = world.tenants["a"]
    # Open 09:00–10:00 Tokyo every day: 00:00–01:00 UTC.
    every_day = {d: [["09:00", "10:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    queue_id = make_queue(database_url, tenant_id, routing={"business_hours": every_day})
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    # The day after tomorrow (UTC) opens a day or more from now, well past the hour's
    # notice at any time of day; tomorrow's 09:00 Tokyo is under an hour away after
    # 23:00 UTC, where "too soon" would answer first.
    later = tomorrow + timedelta(days=1)
    cases = [
        (tomorrow - timedelta(days=2), "passed"),  # in the past
        (datetime.now(UTC).replace(second=0, microsecond=0), "passed"),  # now: no notice
        (later + timedelta(hours=2), "closed"),  # 11:00 Tokyo
        (later + timedelta(minutes=15), "from the list"),  # off the 30-minute grid
        (later + timedelta(days=20), "too far"),
    ]
    before = counts(database_url, tenant_id)
    for slot, message in cases:
        response = visitor.book(queue_id, slot)
        assert response.status_code == 422, (slot, response.text)
        assert message in response.text, (slot, message)
    assert counts(database_url, tenant_id) == before
    assert visitor.book(queue_id, later + timedelta(minutes=30)).status_code == 303
    # Without the form's token nothing is booked.
    stolen = visitor.http.post(
        f"/book/{visitor.slug}", data={"queue": str(queue_id), "slot": tomorrow.isoformat()}
    )
    assert stolen.status_code == 403


def test_the_form_opens_on_the_first_day_with_a_free_time(
    world: World, database_url: str, visitor: Visitor
) -> None:
    """Late in the evening nothing is left today: without a day asked for, the form opens on
    the first day that has a time to book (a day's notice stands for "late in the day", so
    the test does not depend on the clock). A day asked for is shown as asked."""
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id, booking={"min_notice_minutes": 24 * 60})
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()  # the tenants' (default) time zone
    page = visitor.page(queue=str(queue_id))
    assert page.status_code == 200
    shown = date.fromisoformat(re.findall(r'name="day" value="([0-9-]+)"', page.text)[0])
    assert shown > today
    assert 'data-testid="booking-no-slots"' not in page.text
    assert re.search(r'<input type="radio" name="slot" value="[^"]+" required\s+>', page.text)
    asked = visitor.page(queue=str(queue_id), day=today.isoformat())
    assert f'name="day" value="{today.isoformat()}"' in asked.text
    assert 'data-testid="booking-no-slots"' in asked.text


def test_a_full_slot_is_shown_full_and_refused(
    world: World, database_url: str, visitor: Visitor
) -> None:
    tenant_id = world.tenants["a"]
    # 2 planned agents, no inbound, half their time, 600 s a callback: ⌊0.5·2·1800/600⌋ = 3.
    queue_id = make_queue(database_url, tenant_id, booking={"callback_handle_s": 600})
    slot = slot_after(3)
    for n in range(3):
        reference_of(visitor.book(queue_id, slot, phone=f"090-0000-000{n}"))
    day = (slot + timedelta(hours=9)).date().isoformat()
    page = visitor.page(queue=str(queue_id), day=day)
    assert f'value="{slot.isoformat()}" required disabled' in page.text
    before = counts(database_url, tenant_id)
    full = visitor.book(queue_id, slot, phone="090-0000-0009")
    assert full.status_code == 409
    assert "fully booked" in full.text
    assert counts(database_url, tenant_id) == before
    # A cancellation frees the seat again.
    first = next(iter(state(database_url, tenant_id)["bookings"]))
    assert visitor.cancel(first, phone="090-0000-0000").status_code == 200
    assert visitor.book(queue_id, slot, phone="090-0000-0009").status_code == 303


def test_one_phone_number_books_a_few_times_a_day(
    world: World, database_url: str, visitor: Visitor
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id, booking={"max_per_phone_per_day": 2})
    reference_of(visitor.book(queue_id, slot_after(3)))
    reference_of(visitor.book(queue_id, slot_after(4), phone="+81 90 1234 5678"))
    refused = visitor.book(queue_id, slot_after(5), phone="０９０１２３４５６７８")
    assert refused.status_code == 409
    assert "too many bookings" in refused.text


def test_booking_settings_api(server: LiveServer, world: World, database_url: str) -> None:
    queue_id = make_queue(database_url, world.tenants["a"], booking={"enabled": False})
    manager = staff(server, world, "manager")
    supervisor = staff(server, world, "supervisor")
    path = f"/api/v1/queues/{queue_id}/booking"
    assert supervisor.request("GET", path).json()["enabled"] is False
    assert supervisor.request("PUT", path, json={"enabled": True}).status_code == 403
    for bad in ({"slot_minutes": 7}, {"spare_share": 2}, {"enabled": "yes"}, {"nope": 1}):
        response = manager.request("PUT", path, json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"]
    assert manager.request("GET", path).json()["enabled"] is False
    body = {
        "enabled": True,
        "slot_minutes": 60,
        "planned_agents": 3,
        "expected_per_slot": 0,
        "callback_handle_s": 400,
        "spare_share": 0.4,
    }
    saved = manager.request("PUT", path, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["slot_minutes"] == 60
    slots = supervisor.request("GET", f"{path}/slots").json()
    assert slots, "a queue open 24/7 has slots today or the slot list is wrong"
    assert {s["seats"] for s in slots} == {10}  # ⌊0.4 · 3 · 3600 / 400⌋ = 10
    other = Browserless(server.url)
    other.sign_in(world.account("b", "manager").username)
    assert other.request("GET", path).status_code == 404
    for client in (manager, supervisor, other):
        client.close()


def test_unknown_center_and_disabled_queue(
    server: LiveServer, world: World, database_url: str, visitor: Visitor
) -> None:
    nowhere = Visitor(server.url, "no-such-center")
    assert nowhere.page().status_code == 404
    nowhere.close()
    queue_id = make_queue(database_url, world.tenants["a"], booking={"enabled": False})
    page = visitor.page()
    assert 'data-testid="booking-unavailable"' in page.text
    response = visitor.book(queue_id, slot_after(3))
    assert response.status_code == 404


def test_japanese_and_english_pages(world: World, database_url: str, visitor: Visitor) -> None:
    make_queue(database_url, world.tenants["a"])
    japanese = visitor.page(lang="ja")
    assert '<html lang="ja">' in japanese.text and "お問い合わせ" in japanese.text
    english = visitor.page(lang="en")
    assert '<html lang="en">' in english.text and "Book a callback" in english.text


def test_count_of_bookings_in_a_slot_uses_live_rows_only(
    world: World, database_url: str, visitor: Visitor
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id, booking={"max_per_slot": 1})
    slot = slot_after(3)
    reference = reference_of(visitor.book(queue_id, slot))
    assert visitor.book(queue_id, slot, phone="03-1234-5678").status_code == 409
    assert visitor.cancel(reference).status_code == 200

    async def live() -> int:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                return int(
                    await session.scalar(
                        select(func.count())
                        .select_from(CallbackBooking)
                        .where(CallbackBooking.cancelled_at.is_(None))
                    )
                    or 0
                )
        finally:
            await db.dispose()

    assert run(live) == 0
    assert visitor.book(queue_id, slot, phone="03-1234-5678").status_code == 303


def test_guessing_the_phone_of_a_reference_is_throttled(
    world: World, database_url: str, visitor: Visitor
) -> None:
    tenant_id = world.tenants["a"]
    queue_id = make_queue(database_url, tenant_id)
    reference = reference_of(visitor.book(queue_id, slot_after(3)))
    guesses = [visitor.cancel(reference, phone=f"090-5555-000{n}") for n in range(6)]
    assert [r.status_code for r in guesses] == [404] * 5 + [429]
    assert int(guesses[-1].headers["retry-after"]) >= 1
    assert state(database_url, tenant_id)["bookings"][reference].cancelled_at is None
