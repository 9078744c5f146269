"""Web callback booking: booking, cancelling, the staff list and settings (slots and seats:
``booking_slots``).

A booking is one transaction: the queue row is locked (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), the slot's live
bookings are counted against the slot's capacity, and the booking row, the scheduled
routing contact (``callback_scheduled`` at the slot start) and the contact's party (with
the customer's note sealed) are written with their events. Capacity itself is computed
before the lock from the figures history (``tsunagi.channels.booking.slot_capacity``); it
depends on settings and history, never on the bookings, so computing it first is safe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tsunagi.actions.audit import record
from tsunagi.actions.booking_slots import (
    BookingQueue,
    PublicTenant,
    day_seats,
    get_booking_queue,
    history_for,
)
from tsunagi.actions.desktop import do_identify_party
from tsunagi.actions.events import emit
from tsunagi.actions.routing.contacts import NewContact, create_contact_in
from tsunagi.actions.routing.rows import contact_fields, lock_contact, move, utcnow
from tsunagi.adapters.security.crypto import TenantCipher
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import CallbackBooking
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.booking import (
    N_,
    BookingForm,
    BookingSettings,
    BookingSettingsUpdatedEvent,
    CallbackBookingCancelledEvent,
    CallbackBookingCreatedEvent,
    booking_settings,
    check_slot,
    clean_reference,
    japanese_phone,
    new_reference,
)
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal
from tsunagi.routing.events import ContactClosedEvent
from tsunagi.routing.lifecycle import ContactState

TABLE = "callback_bookings"
ACTOR = "system:booking"


class SlotFullError(ConflictError):
    """Every seat of the slot is taken."""


class PhoneLimitError(ConflictError):
    """This phone number has booked as often as a day allows."""


@dataclass(frozen=True, slots=True)
class Booked:
    booking_id: uuid.UUID
    reference: str
    contact_id: uuid.UUID
    slot_start: datetime
    slot_minutes: int
    queue_id: uuid.UUID


# --- booking --------------------------------------------------------------------------------


async def do_book_callback(
    db: Database,
    keyring: KeyRing,
    *,
    tenant: PublicTenant,
    form: BookingForm,
    now: datetime | None = None,
) -> Booked:
    """Book a seat in a slot; raises :class:`SlotFullError` when the last one is gone."""
    at = now or utcnow()
    queue = await get_booking_queue(db, tenant.id, form.queue_id)
    if not queue.settings.enabled:
        raise NotFoundError(N_("This line takes no bookings."))
    check_slot(
        form.slot_start,
        settings=queue.settings,
        routing=queue.routing,
        timezone=tenant.timezone,
        now=at,
    )
    day = form.slot_start.astimezone(ZoneInfo(tenant.timezone)).date()
    history = await history_for(db, tenant, queue, day)
    seats = (await day_seats(tenant, queue, history, day))[form.slot_start]
    cipher = await keyring.cipher(db, tenant.id)
    phone_hash = cipher.lookup_hash("phone", form.phone)
    for _attempt in range(3):  # a reference collision (31⁸ codes) is retried
        try:
            booked = await _book(db, cipher, tenant, queue, form, seats, phone_hash, at)
            break
        except IntegrityError:
            continue
    else:
        raise ConflictError(N_("Please try again."))
    await do_identify_party(
        db,
        keyring,
        tenant_id=tenant.id,
        contact_id=booked.contact_id,
        kind="phone",
        address=form.phone,
    )
    return booked


async def _book(
    db: Database,
    cipher: TenantCipher,
    tenant: PublicTenant,
    queue: BookingQueue,
    form: BookingForm,
    seats: int,
    phone_hash: str,
    at: datetime,
) -> Booked:
    settings = queue.settings
    async with db.scoped(tenant.id) as session, session.begin():
        locked = await session.scalar(select(Queue).where(Queue.id == queue.id).with_for_update())
        if locked is None or not booking_settings(locked.config).enabled:
            raise NotFoundError(N_("This line takes no bookings."))
        taken = await session.scalar(
            select(func.count())
            .select_from(CallbackBooking)
            .where(
                CallbackBooking.queue_id == queue.id,
                CallbackBooking.slot_start == form.slot_start,
                CallbackBooking.cancelled_at.is_(None),
            )
        )
        if (taken or 0) >= seats:
            raise SlotFullError(N_("This time is fully booked. Please choose another."))
        recent = await session.scalar(
            select(func.count())
            .select_from(CallbackBooking)
            .where(
                CallbackBooking.phone_hash == phone_hash,
                CallbackBooking.created_at > at - timedelta(days=1),
            )
        )
        if (recent or 0) >= settings.max_per_phone_per_day:
            raise PhoneLimitError(N_("This phone number has made too many bookings today."))
        reference = new_reference()
        booking_id = uuid.uuid4()
        contact = await create_contact_in(
            session,
            tenant.id,
            NewContact(
                channel="callback",
                queue_id=queue.id,
                callback_at=form.slot_start,
                idempotency_key=f"booking:{reference}",
                source="web_booking",
            ),
            at=at,
            actor=ACTOR,
        )
        session.add(
            CallbackBooking(
                id=booking_id,
                tenant_id=tenant.id,
                contact_id=contact.id,
                queue_id=queue.id,
                slot_start=form.slot_start,
                slot_minutes=settings.slot_minutes,
                reference=reference,
                name_enc=cipher.seal(form.name, table=TABLE, column="name", row_id=booking_id),
                phone_enc=cipher.seal(form.phone, table=TABLE, column="phone", row_id=booking_id),
                phone_hash=phone_hash,
                topic=form.topic,
                note_enc=cipher.seal(
                    _party_note(form), table=TABLE, column="note", row_id=booking_id
                ),
                lang=form.lang,
                created_at=at,
            )
        )
        session.add(
            ContactParty(
                contact_id=contact.id,
                tenant_id=tenant.id,
                notes_enc=cipher.seal(
                    _party_note(form), table="contact_parties", column="notes", row_id=contact.id
                ),
                created_at=at,
            )
        )
        await session.flush()
        emit(
            session,
            CallbackBookingCreatedEvent(
                tenant_id=tenant.id,
                occurred_at=at,
                actor=ACTOR,
                booking_id=booking_id,
                queue_id=queue.id,
                slot_start=form.slot_start,
                contact_id=contact.id,
                slot_minutes=settings.slot_minutes,
            ),
        )
    return Booked(
        booking_id, reference, contact.id, form.slot_start, settings.slot_minutes, queue.id
    )


def _party_note(form: BookingForm) -> str:
    """What the communicator sees with the contact: the customer's own words, labelled."""
    lines = ["Web booking / WEB予約"]
    if form.topic:
        lines.append(f"Topic / 用件: {form.topic}")
    if form.member_no:
        lines.append(f"Member no. / 会員番号: {form.member_no}")
    if form.note:
        lines.append(f"Note / メモ: {form.note}")
    return "\n".join(lines)


# --- cancelling -------------------------------------------------------------------------------


async def do_cancel_booking(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: uuid.UUID,
    reference: str | None = None,
    phone: str | None = None,
    booking_id: uuid.UUID | None = None,
    actor: str,
    now: datetime | None = None,
) -> uuid.UUID:
    """Cancel a booking and close its scheduled contact (outcome ``cancelled``).

    A customer names it by reference and phone number (a wrong pair is "not found", so the
    answer tells nothing about which part was wrong); staff by id. Cancelling twice is a
    no-op; a booking whose callback is already due or made cannot be cancelled.
    """
    at = now or utcnow()
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id) as session, session.begin():
        query = select(CallbackBooking).with_for_update()
        if booking_id is not None:
            query = query.where(CallbackBooking.id == booking_id)
        else:
            code = clean_reference(reference or "")
            phone_hash = cipher.lookup_hash("phone", japanese_phone(phone or ""))
            query = query.where(
                CallbackBooking.reference == code, CallbackBooking.phone_hash == phone_hash
            )
        booking = await session.scalar(query)
        if booking is None:
            raise NotFoundError(N_("No booking has this reference and phone number."))
        if booking.cancelled_at is not None:
            return booking.id
        if booking.contact_id is not None:
            contact = await lock_contact(session, booking.contact_id)
            if contact.state != ContactState.CALLBACK_SCHEDULED:
                raise ConflictError(
                    N_("The callback is already due and can no longer be cancelled.")
                )
            move(contact, ContactState.CLOSED, at)
            contact.outcome = "cancelled"
            contact.ended_at = at
            emit(
                session,
                ContactClosedEvent(**contact_fields(contact, at, actor), outcome="cancelled"),
            )
        booking.cancelled_at = at
        emit(
            session,
            CallbackBookingCancelledEvent(
                tenant_id=tenant_id,
                occurred_at=at,
                actor=actor,
                booking_id=booking.id,
                queue_id=booking.queue_id,
                slot_start=booking.slot_start,
                contact_id=booking.contact_id,
                by="staff" if booking_id is not None else "customer",
            ),
        )
        return booking.id


async def find_booking_by_reference(
    db: Database, tenant_id: uuid.UUID, reference: str
) -> CallbackBooking | None:
    """The booking of a reference (for the confirmation page: no personal data is opened)."""
    try:
        code = clean_reference(reference)
    except InvalidInputError:
        return None
    async with db.scoped(tenant_id, readonly=True) as session:
        found: CallbackBooking | None = await session.scalar(
            select(CallbackBooking).where(CallbackBooking.reference == code)
        )
        return found


# --- staff ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingRow:
    id: uuid.UUID
    reference: str
    queue_id: uuid.UUID
    slot_start: datetime
    slot_minutes: int
    name: str | None
    phone: str | None
    topic: str | None
    lang: str
    note: str | None
    contact_id: uuid.UUID | None
    contact_state: str | None
    created_at: datetime
    cancelled_at: datetime | None


async def list_bookings(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    day: date,
    queue_id: uuid.UUID | None,
    timezone: str,
    ip: str | None = None,
) -> list[BookingRow]:
    """Bookings of a local day (optionally one queue), names and numbers opened — audited."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    cipher = await keyring.cipher(db, principal.tenant_id)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        query = (
            select(CallbackBooking, RoutingContact.state)
            .outerjoin(RoutingContact, RoutingContact.id == CallbackBooking.contact_id)
            .where(CallbackBooking.slot_start >= start, CallbackBooking.slot_start < end)
            .order_by(CallbackBooking.slot_start, CallbackBooking.created_at)
        )
        if queue_id is not None:
            query = query.where(CallbackBooking.queue_id == queue_id)
        rows = (await session.execute(query)).all()
        if rows:
            record(
                session,
                tenant_id=principal.tenant_id,
                action="callback_booking.list_read",
                resource_type="callback_booking",
                outcome="ok",
                actor_user_id=principal.user_id,
                resource_id=str(queue_id) if queue_id else None,
                ip=ip,
                reason=f"bookings of {day.isoformat()}",
                detail={"count": len(rows)},
            )
    return [_row(cipher, booking, state) for booking, state in rows]


def _row(cipher: TenantCipher, b: CallbackBooking, state: str | None) -> BookingRow:
    note = cipher.open(b.note_enc, table=TABLE, column="note", row_id=b.id)
    return BookingRow(
        id=b.id,
        reference=b.reference,
        queue_id=b.queue_id,
        slot_start=b.slot_start,
        slot_minutes=b.slot_minutes,
        name=cipher.open(b.name_enc, table=TABLE, column="name", row_id=b.id),
        phone=cipher.open(b.phone_enc, table=TABLE, column="phone", row_id=b.id),
        topic=b.topic,
        lang=b.lang,
        note=note,
        contact_id=b.contact_id,
        contact_state=state,
        created_at=b.created_at,
        cancelled_at=b.cancelled_at,
    )


async def do_update_booking_settings(
    db: Database,
    *,
    tenant_id: uuid.UUID,
    queue_id: uuid.UUID,
    settings: BookingSettings,
    actor: str,
) -> BookingSettings:
    checked = settings.validated()
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id).with_for_update())
        if queue is None:
            raise NotFoundError("queue not found")
        queue.config = {**(queue.config or {}), "booking": msgspec.to_builtins(checked)}
        emit(
            session,
            BookingSettingsUpdatedEvent(
                tenant_id=tenant_id,
                occurred_at=at,
                actor=actor,
                queue_id=queue_id,
                enabled=checked.enabled,
            ),
        )
    return checked
