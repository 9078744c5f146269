"""The desk's follow-up tasks and the suggestion hit rate (REST).

* ``GET /api/v1/follow-ups`` — follow-ups, soonest due first (``owner`` me | team | all,
  ``state``, ``due_before``, ``customer_id``, ``queue_id``); notes are opened, so each
  listing is audited.
* ``POST /api/v1/contacts/{id}/follow-ups`` — a follow-up for a contact (the wrap-up form
  sends its follow-up with the close instead, in the same transaction).
* ``POST /api/v1/follow-ups/{id}/complete`` and ``…/cancel`` with the ``version`` seen:
  an older version is a 409.
* ``GET /api/v1/customers/{id}/follow-ups`` — the customer's open follow-ups.
* ``GET /api/v1/figures/suggestion-hit-rate`` — top-1/top-3 hits of the wrap-up category
  suggestion over a period, from ``contact.closed`` events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tsunagi.actions import follow_ups
from tsunagi.actions.suggestion_hits import suggestion_hit_rate
from tsunagi.domain.follow_ups import FollowUpDraft, FollowUpState
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["desktop"]


class FollowUpIn(Input):
    due_at: datetime
    note: str | None = None  # at most NOTE_MAX characters (422 naming ``note``)
    queue_id: UUID | None = None  # owned by this queue; none = by me


class VersionIn(Input):
    version: int


class FollowUpOut(Output):
    id: UUID
    contact_id: UUID
    customer_id: UUID | None
    customer_name: str | None
    owner_user_id: UUID | None
    owner_queue_id: UUID | None
    owner_name: str | None
    due_at: datetime
    due: str | None  # overdue | today | later while open
    note: str | None
    state: str
    version: int
    category: str | None
    created_at: datetime
    closed_at: datetime | None


class CreatedOut(Output):
    id: UUID


class VersionOut(Output):
    id: UUID
    state: str
    version: int


class HitRateOut(Output):
    since: datetime
    until: datetime
    count: int
    top1: int
    top3: int
    top1_rate: float
    top3_rate: float


def follow_up_out(view: follow_ups.FollowUpView) -> FollowUpOut:
    return FollowUpOut(
        id=view.id,
        contact_id=view.contact_id,
        customer_id=view.customer_id,
        customer_name=view.customer_name,
        owner_user_id=view.owner_user_id,
        owner_queue_id=view.owner_queue_id,
        owner_name=view.owner_name,
        due_at=view.due_at,
        due=view.due.value if view.due is not None else None,
        note=view.note,
        state=view.state,
        version=view.version,
        category=view.category,
        created_at=view.created_at,
        closed_at=view.closed_at,
    )


def draft_of(data: FollowUpIn) -> FollowUpDraft:
    return FollowUpDraft(due_at=data.due_at, note=data.note, owner_queue_id=data.queue_id)


@get("/api/v1/follow-ups", opt={"authz": ("read", "follow_up")}, tags=TAGS)
async def list_follow_ups(
    request: AnyRequest,
    owner: FromQuery[Literal["me", "team", "all"]] = "me",
    wanted: Annotated[
        Literal["open", "done", "cancelled", "any"], QueryParameter(name="state")
    ] = "open",
    due_before: FromQuery[datetime | None] = None,
    customer_id: FromQuery[UUID | None] = None,
    queue_id: FromQuery[UUID | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=follow_ups.LIST_MAX)] = 50,
) -> list[FollowUpOut]:
    """Follow-ups, soonest due first: ``owner=me`` mine, ``team`` mine and the queues',
    ``all`` anyone's (supervisors). ``due_before=<now>`` gives the overdue ones."""
    views = await follow_ups.list_follow_ups(
        services_of(request).db,
        services_of(request).keyring,
        principal=require_principal(request),
        owner=owner,
        state=None if wanted == "any" else FollowUpState(wanted),
        due_before=due_before,
        customer_id=customer_id,
        queue_id=queue_id,
        limit=limit,
    )
    return [follow_up_out(view) for view in views]


@post(
    "/api/v1/contacts/{contact_id:uuid}/follow-ups",
    opt={"authz": ("create", "follow_up")},
    tags=TAGS,
    status_code=201,
)
async def create_follow_up(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[FollowUpIn]
) -> CreatedOut:
    """A follow-up task for the contact, due at ``due_at``, owned by me or by ``queue_id``."""
    services = services_of(request)
    created = await follow_ups.do_create_follow_up(
        services.db,
        services.keyring,
        principal=require_principal(request),
        contact_id=contact_id,
        draft=draft_of(data),
    )
    return CreatedOut(id=created)


@post(
    [
        "/api/v1/follow-ups/{follow_up_id:uuid}/complete",
        "/api/v1/follow-ups/{follow_up_id:uuid}/cancel",
    ],
    opt={"authz": ("update", "follow_up")},
    tags=TAGS,
    status_code=200,
)
async def finish_follow_up(
    request: AnyRequest, follow_up_id: FromPath[UUID], data: JSONBody[VersionIn]
) -> VersionOut:
    """Mark the follow-up done (``…/complete``) or no longer needed (``…/cancel``); 409 if
    it changed since ``version`` or is already closed."""
    done = request.url.path.endswith("/complete")
    action = follow_ups.do_complete_follow_up if done else follow_ups.do_cancel_follow_up
    new_version = await action(
        services_of(request).db,
        principal=require_principal(request),
        follow_up_id=follow_up_id,
        version=data.version,
    )
    state = FollowUpState.DONE if done else FollowUpState.CANCELLED
    return VersionOut(id=follow_up_id, state=state.value, version=new_version)


@get(
    "/api/v1/customers/{customer_id:uuid}/follow-ups",
    opt={"authz": ("read", "customer")},
    tags=TAGS,
)
async def customer_follow_ups(
    request: AnyRequest,
    customer_id: FromPath[UUID],
    reason: Annotated[str, QueryParameter(min_length=1, max_length=300)],
) -> list[FollowUpOut]:
    """The customer's open follow-ups, whoever owns them (audited with ``reason``)."""
    views = await follow_ups.open_follow_ups_of_customer(
        services_of(request).db,
        services_of(request).keyring,
        principal=require_principal(request),
        customer_id=customer_id,
        reason=reason,
    )
    return [follow_up_out(view) for view in views]


@get(
    "/api/v1/figures/suggestion-hit-rate",
    opt={"authz": ("read", "figures")},
    tags=["figures"],
)
async def hit_rate(
    request: AnyRequest,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
) -> HitRateOut:
    """How often the category chosen at wrap-up was the desk's first suggestion (top-1) or
    among its three (top-3), over ``[since, until)`` (default: the last 7 days; at most 92).
    Counts wrap-ups saved with a category while suggestions were shown."""
    end = until or datetime.now(UTC)
    start = since or end - timedelta(days=7)
    found = await suggestion_hit_rate(
        services_of(request).db, principal=require_principal(request), since=start, until=end
    )
    return HitRateOut(
        since=start,
        until=end,
        count=found.total,
        top1=found.top1,
        top3=found.top3,
        top1_rate=round(found.top1_rate, 4),
        top3_rate=round(found.top3_rate, 4),
    )


ROUTES = [
    list_follow_ups,
    create_follow_up,
    finish_follow_up,
    customer_follow_ups,
    hit_rate,
]
