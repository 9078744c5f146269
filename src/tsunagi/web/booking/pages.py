"""The public booking pages (no sign-in): choose a queue, a day and a slot; book; cancel.

Plain server-rendered forms (no script needed): the day and queue are links and a GET
form, the slot a radio group. Forms are same-origin ``PUBLIC`` posts whose CSRF token is
bound to the anonymous cookie set on the first page. Every route counts against the
``booking`` rate limit of the caller's address (in the guard, before the body is read);
cancelling also against the reference.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from tsunagi.actions import booking as actions
from tsunagi.actions import booking_slots
from tsunagi.adapters.security.tokens import new_secret
from tsunagi.channels.booking import SlotView, bookable_days, checked_form
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.web.auth import ANON_COOKIE, LANG_COOKIE, PUBLIC, csrf_for
from tsunagi.web.i18n import LANGUAGES, N_, current_locale
from tsunagi.web.public import limit_public
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
# Counted by the app-wide guard before the form is read or checked (``web/public.py``).
PAGE = {"authz": PUBLIC, "page": True, "rate_limit": "booking"}


class BookForm(msgspec.Struct, forbid_unknown_fields=True):
    queue: str = ""
    slot: str = ""
    name: str = ""
    phone: str = ""
    member_no: str = ""
    note: str = ""
    topic: str = ""
    consent: str = ""
    day: str = ""
    csrf: str = msgspec.field(default="", name="_csrf")


class CancelForm(msgspec.Struct, forbid_unknown_fields=True):
    reference: str = ""
    phone: str = ""
    csrf: str = msgspec.field(default="", name="_csrf")


async def _tenant(request: AnyRequest, slug: str) -> booking_slots.PublicTenant:
    tenant = await booking_slots.find_public_tenant(services_of(request).db, slug)
    if tenant is None:
        raise NotFoundError("no booking page here")
    return tenant


def _language(request: AnyRequest, tenant: booking_slots.PublicTenant, asked: str | None) -> str:
    """``?lang=`` first, then the visitor's cookie, then the center's language."""
    cookie = request.cookies.get(LANG_COOKIE)
    for candidate in (asked, cookie, tenant.default_locale):
        if candidate in LANGUAGES:
            current_locale.set(candidate)
            return candidate
    return current_locale.get()


def _render(
    request: AnyRequest,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> Response[Any]:
    anon = request.cookies.get(ANON_COOKIE)
    cookies = []
    if not anon:
        anon = new_secret()
        cookies.append(_cookie(request, ANON_COOKIE, anon, None))
    if request.query_params.get("lang") in LANGUAGES:  # a link's language choice sticks
        cookies.append(_cookie(request, LANG_COOKIE, current_locale.get(), 365 * 24 * 3600))
    return Template(
        template_name=template,
        context={
            "csrf": csrf_for(request, anon_value=anon),
            "lang": current_locale.get(),
            **context,
        },
        status_code=status,
        cookies=cookies,
    )


def _cookie(request: AnyRequest, key: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=services_of(request).settings.secure_cookies,
        path="/",
    )


def _parse_day(text: str | None, days: list[date]) -> date:
    if text:
        try:
            chosen = date.fromisoformat(text)
        except ValueError:
            return days[0]
        if chosen in days:
            return chosen
    return days[0]


async def _form_page(
    request: AnyRequest,
    tenant: booking_slots.PublicTenant,
    *,
    queue_id: str | None,
    day_text: str | None,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    db = services_of(request).db
    queues = await booking_slots.booking_queues(db, tenant.id)
    now = datetime.now(UTC)
    chosen = next((q for q in queues if str(q.id) == queue_id), queues[0] if queues else None)
    days: list[date] = []
    slots: list[SlotView] = []
    day = None
    if chosen is not None:
        days = bookable_days(now, days_ahead=chosen.settings.days_ahead, timezone=tenant.timezone)
        day = _parse_day(day_text, days)
        slots = await booking_slots.availability(db, tenant, chosen, day, now=now)
        # No day asked for and nothing left today (late in the evening): the form opens on
        # the first day with a time that can still be booked.
        if day_text is None:
            for later in days[1:]:
                if any(slot.bookable and not slot.full for slot in slots):
                    break
                day = later
                slots = await booking_slots.availability(db, tenant, chosen, day, now=now)
    return _render(
        request,
        "booking/book.html",
        {
            "tenant": tenant,
            "queues": queues,
            "queue": chosen,
            "days": days,
            "day": day,
            "slots": slots,
            "values": values or {},
            "error": error,
        },
        status=status,
    )


@get("/book/{slug:str}", opt=PAGE, name="booking-page")
async def booking_page(
    request: AnyRequest,
    slug: FromPath[str],
    queue: FromQuery[str | None] = None,
    day: FromQuery[str | None] = None,
    lang: FromQuery[str | None] = None,
) -> Response[Any]:
    """The booking form of a center: queues, the days ahead, a day's slots."""
    tenant = await _tenant(request, slug)
    _language(request, tenant, lang)
    return await _form_page(request, tenant, queue_id=queue, day_text=day)


@post("/book/{slug:str}", opt=PAGE)
async def book(
    request: AnyRequest,
    slug: FromPath[str],
    data: Annotated[BookForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    tenant = await _tenant(request, slug)
    lang = _language(request, tenant, None)
    services = services_of(request)
    values = {
        "name": data.name,
        "phone": data.phone,
        "member_no": data.member_no,
        "note": data.note,
        "topic": data.topic,
        "slot": data.slot,
    }
    try:
        queue_id = UUID(data.queue)
        queue = await booking_slots.get_booking_queue(services.db, tenant.id, queue_id)
        slot_start = datetime.fromisoformat(data.slot) if data.slot else None
        if slot_start is None:
            raise InvalidInputError("please choose a time")
        form = checked_form(
            queue_id=queue_id,
            slot_start=slot_start,
            name=data.name,
            phone=data.phone,
            member_no=data.member_no,
            note=data.note,
            topic=data.topic,
            lang=lang,
            consent=data.consent == "yes",
            topics=queue.settings.topics,
        )
        booked = await actions.do_book_callback(
            services.db, services.keyring, tenant=tenant, form=form
        )
    except (ValueError, InvalidInputError, ConflictError, NotFoundError) as exc:
        status = (
            409
            if isinstance(exc, ConflictError)
            else 404
            if isinstance(exc, NotFoundError)
            else 422
        )
        message = (
            str(exc)
            if isinstance(exc, (InvalidInputError, ConflictError, NotFoundError))
            else N_("Please check the form.")
        )
        return await _form_page(
            request,
            tenant,
            queue_id=data.queue,
            day_text=data.day,
            values=values,
            error=message,
            status=status,
        )
    return Redirect(
        path=f"/book/{tenant.slug}/booked/{booked.reference}", status_code=HTTP_303_SEE_OTHER
    )


@get("/book/{slug:str}/booked/{reference:str}", opt=PAGE)
async def booked_page(
    request: AnyRequest, slug: FromPath[str], reference: FromPath[str]
) -> Response[Any]:
    """The confirmation: reference, queue and time — no name or number is shown."""
    tenant = await _tenant(request, slug)
    _language(request, tenant, None)
    db = services_of(request).db
    found = await actions.find_booking_by_reference(db, tenant.id, reference)
    if found is None:
        raise NotFoundError("no booking with this reference")
    queue = await booking_slots.get_booking_queue(db, tenant.id, found.queue_id)
    return _render(
        request, "booking/booked.html", {"tenant": tenant, "booking": found, "queue": queue}
    )


@get("/book/{slug:str}/cancel", opt=PAGE)
async def cancel_page(
    request: AnyRequest, slug: FromPath[str], reference: FromQuery[str | None] = None
) -> Response[Any]:
    tenant = await _tenant(request, slug)
    _language(request, tenant, None)
    return _render(
        request,
        "booking/cancel.html",
        {"tenant": tenant, "values": {"reference": reference or ""}, "error": None, "done": False},
    )


@post("/book/{slug:str}/cancel", opt=PAGE)
async def cancel(
    request: AnyRequest,
    slug: FromPath[str],
    data: Annotated[CancelForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    tenant = await _tenant(request, slug)
    _language(request, tenant, None)
    # A few tries per reference: guessing the phone number of a known reference is slow.
    reference_key = data.reference.strip().upper()[:16] or "none"
    await limit_public(request, "booking-cancel", key=f"{tenant.id}:{reference_key}", per_minute=5)
    services = services_of(request)
    try:
        await actions.do_cancel_booking(
            services.db,
            services.keyring,
            tenant_id=tenant.id,
            reference=data.reference,
            phone=data.phone,
            actor="customer:web",
        )
    except (InvalidInputError, ConflictError, NotFoundError) as exc:
        status = (
            409
            if isinstance(exc, ConflictError)
            else 404
            if isinstance(exc, NotFoundError)
            else 422
        )
        return _render(
            request,
            "booking/cancel.html",
            {
                "tenant": tenant,
                "values": {"reference": data.reference, "phone": data.phone},
                "error": str(exc),
                "done": False,
            },
            status=status,
        )
    return _render(
        request,
        "booking/cancel.html",
        {"tenant": tenant, "values": {}, "error": None, "done": True},
    )


ROUTES = [booking_page, book, booked_page, cancel_page, cancel]
