"""REST API of the routing engine: contacts, offers, agents' states and the floor.

Channel adapters and integrations create contacts (``Idempotency-Key`` header makes a retry
safe) and follow them over ``/ws/events``; communicators answer their offers; supervisors
act on anyone's contacts and states. A communicator's grant on contacts and agents is
``own``: the handlers pass the caller as the acting agent, and the actions refuse a
contact held by someone else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, get, patch, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy import select

from tsunagi.actions.follow_ups import WrapUpCallback as CallbackDraft
from tsunagi.actions.routing import agents as agent_actions
from tsunagi.actions.routing import consult as consult_actions
from tsunagi.actions.routing import contacts as contact_actions
from tsunagi.actions.routing import offers
from tsunagi.actions.routing.floor import floor_snapshot
from tsunagi.adapters.storage.models import Queue, User
from tsunagi.adapters.storage.routing_models import RoutingAgent, RoutingContact
from tsunagi.domain.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from tsunagi.domain.follow_ups import FollowUpDraft
from tsunagi.domain.permissions import Action, Grant, Principal, Resource, grant_for
from tsunagi.routing.agents import AgentProfile, NotReadyReason, Presence
from tsunagi.routing.queues import QueueRouting, routing_settings
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import check, require_principal
from tsunagi.web.routing.engines import create_routed, hint
from tsunagi.web.services import Services, services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["routing"]


class ContactCreate(Input):
    """A new contact. ``customer_ref`` is your system's opaque reference (e.g. a CRM id),
    sent back in events; a phone number or e-mail address there is refused (422) — send
    those with ``PUT /api/v1/contacts/{id}/party``, where they are sealed."""

    channel: Literal["voice", "chat", "email", "sms", "callback"]
    queue_id: UUID
    priority: int = 0
    vip: bool = False
    target_agent_ids: list[UUID] = []  # noqa: RUF012 - msgspec copies defaults
    customer_ref: str | None = None
    source: str | None = None
    callback_at: datetime | None = None


class ContactOut(Output):
    id: UUID
    state: str
    version: int
    channel: str
    queue_id: UUID | None
    agent_id: UUID | None
    priority: int
    vip: bool
    escalated: bool
    created_at: datetime
    ranked_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    waited_s: float | None
    callback_at: datetime | None
    outcome: str | None
    category: str | None
    resolved_first_contact: bool | None
    created: bool = True
    consult_of: UUID | None = None  # a consultation: the customer's contact it is about


class WrapUpFollowUp(Input):
    due_at: datetime
    note: str | None = None
    queue_id: UUID | None = None  # owned by this queue; none = by the communicator


class WrapUpCallback(Input):
    callback_at: datetime
    to_me: bool = True  # offered only to the communicator who booked it


class WrapUp(Input):
    category: str | None = None
    resolved_first_contact: bool | None = None
    sub_reason: str | None = None
    # The categories the desk suggested, best first (for the suggestion hit rate).
    suggested_categories: list[str] = msgspec.field(default_factory=list)
    follow_up: WrapUpFollowUp | None = None
    callback: WrapUpCallback | None = None


class Transfer(Input):
    queue_id: UUID | None = None
    agent_id: UUID | None = None
    escalate: bool = False


class Callback(Input):
    callback_at: str | None = None  # ISO 8601 with offset; none = keep the place in line


class PresenceIn(Input):
    presence: str | None = None  # ready, not_ready (with a reason) or signed_out
    reason: str | None = None


class ProfileIn(Input):
    skills: dict[str, int] = msgspec.field(default_factory=dict)
    capacity: dict[str, int] = msgspec.field(default_factory=lambda: {"voice": 1})


class AgentOut(Output):
    agent_id: UUID
    presence: str
    reason: str | None
    since: datetime
    version: int
    skills: dict[str, int]
    capacity: dict[str, int]


def _out(contact: RoutingContact, *, created: bool = True) -> ContactOut:
    return ContactOut(
        id=contact.id,
        state=contact.state,
        version=contact.version,
        channel=contact.channel,
        queue_id=contact.queue_id,
        agent_id=contact.agent_id,
        priority=contact.priority,
        vip=contact.vip,
        escalated=contact.escalated,
        created_at=contact.created_at,
        ranked_at=contact.ranked_at,
        connected_at=contact.connected_at,
        ended_at=contact.ended_at,
        waited_s=contact.waited_s,
        callback_at=contact.callback_at,
        outcome=contact.outcome,
        category=contact.category,
        resolved_first_contact=contact.resolved_first_contact,
        created=created,
        consult_of=contact.consult_of,
    )


def _agent_out(agent: RoutingAgent) -> AgentOut:
    return AgentOut(
        agent_id=agent.user_id,
        presence=agent.presence,
        reason=agent.reason,
        since=agent.since,
        version=agent.version,
        skills={k: int(v) for k, v in agent.skills.items()},
        capacity={k: int(v) for k, v in agent.capacity.items()},
    )


def acting_agent(principal: Principal, kind: str) -> UUID | None:
    """``None`` (any holder) for a role with an ``all`` grant, else the caller themself."""
    if grant_for(principal.roles, kind, Action.UPDATE) is Grant.ALL:
        return None
    return principal.user_id


async def _require_user(request: AnyRequest, user_id: UUID) -> None:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        if await session.scalar(select(User.id).where(User.id == user_id)) is None:
            raise NotFoundError("agent not found")


async def _load(request: AnyRequest, contact_id: UUID) -> ContactOut:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        contact = await session.scalar(
            select(RoutingContact).where(RoutingContact.id == contact_id)
        )
    if contact is None:
        raise NotFoundError("contact not found")
    return _out(contact)


# Admission limit of the create route (ADR 0207): creates being handled at once in this
# process beyond which a create is answered 503 with ``Retry-After`` at once, so that an
# overload queues at the callers instead of in the server, where the creates would take
# every pooled connection (or SQLite's one writer) ahead of the engine's offers and the
# agents' answers, and offers would stop altogether.
CREATES_IN_FLIGHT_MAX = 16
CREATE_RETRY_AFTER_S = 1


class _Admission:
    in_flight = 0


@post(
    "/api/v1/contacts",
    opt={"authz": ("create", "contact")},
    tags=TAGS,
    status_code=201,
    description=(
        "Create a contact of any channel; it is queued (or scheduled/closed by the queue's "
        "rules). When an agent who fits is free at once, the contact is offered in the same "
        "transaction and the answer's `state` is already `offered`. An `Idempotency-Key` "
        "header makes a retry return the first contact. When "
        f"more than {CREATES_IN_FLIGHT_MAX} creates are being handled at once by the server "
        "process, the answer is **503** with `Retry-After` (seconds) and nothing is "
        "created: send it again after that time (with the same `Idempotency-Key`)."
    ),
)
async def create_contact(
    request: AnyRequest,
    data: JSONBody[ContactCreate],
    idempotency_key: Annotated[
        str | None, HeaderParameter(name="Idempotency-Key", max_length=200)
    ] = None,
) -> ContactOut:
    """Create a contact of any channel; it is queued (or scheduled/closed by the queue's
    rules), or offered at once when the leading engine has a free agent for it."""
    principal = require_principal(request)
    services = services_of(request)
    if _Admission.in_flight >= CREATES_IN_FLIGHT_MAX:
        raise ServiceUnavailableException(
            detail="too many contacts being created at once; try again shortly",
            headers={"Retry-After": str(CREATE_RETRY_AFTER_S)},
        )
    _Admission.in_flight += 1
    try:
        created = await create_routed(
            services,
            tenant_id=principal.tenant_id,
            new=contact_actions.NewContact(
                channel=data.channel,
                queue_id=data.queue_id,
                priority=max(-10, min(10, data.priority)),
                vip=data.vip,
                target_agent_ids=tuple(data.target_agent_ids),
                customer_ref=data.customer_ref,
                source=data.source,
                idempotency_key=idempotency_key,
                callback_at=data.callback_at,
            ),
            actor=principal.actor,
        )
    finally:
        _Admission.in_flight -= 1
    hint(services, principal.tenant_id, contact_id=created.contact_id, contact=created.contact)
    if created.contact is not None:
        return _out(created.contact, created=created.created)
    out = await _load(request, created.contact_id)
    out.created = created.created
    return out


@get("/api/v1/contacts", opt={"authz": ("read", "contact")}, tags=TAGS)
async def list_contacts(
    request: AnyRequest,
    contact_state: Annotated[str | None, QueryParameter(name="state")] = None,
    queue_id: FromQuery[UUID | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> list[ContactOut]:
    principal = require_principal(request)
    query = select(RoutingContact).order_by(RoutingContact.created_at.desc()).limit(limit)
    if contact_state is not None:
        query = query.where(RoutingContact.state == contact_state)
    if queue_id is not None:
        query = query.where(RoutingContact.queue_id == queue_id)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.scalars(query)).all()
    return [_out(row) for row in rows]


@get("/api/v1/contacts/{contact_id:uuid}", opt={"authz": ("read", "contact")}, tags=TAGS)
async def read_contact(request: AnyRequest, contact_id: FromPath[UUID]) -> ContactOut:
    return await _load(request, contact_id)


ContactStep = Callable[[Services, Principal, UUID], Awaitable[object]]


# Steps that leave the agent's load and the waiting contacts as they were: the engine has
# nothing to decide from them, so no hint (the outbox still brings their events).
NOTHING_TO_ROUTE = frozenset({"accept", "hold", "resume"})


def _contact_route(verb: str, step: ContactStep, *, name: str, doc: str) -> Any:
    """A POST route ``/api/v1/contacts/{id}/<verb>`` that runs ``step`` and answers the
    contact as it is now (and tells a local engine what changed)."""

    async def handler(request: AnyRequest, contact_id: FromPath[UUID]) -> ContactOut:
        principal = require_principal(request)
        services = services_of(request)
        await step(services, principal, contact_id)
        out = await _load(request, contact_id)
        if verb not in NOTHING_TO_ROUTE:
            _hint_held(services, principal.tenant_id, out, principal.user_id)
        return out

    handler.__name__ = name
    handler.__doc__ = doc
    path = f"/api/v1/contacts/{{contact_id:uuid}}/{verb}"
    return post(path, opt={"authz": ("update", "contact")}, tags=TAGS, status_code=200)(handler)


def _contact_action(name: str) -> Any:
    """One POST route per held-contact action; the caller acts as agent unless ``all``."""
    action = getattr(offers, f"do_{name}")

    def step(services: Services, principal: Principal, contact_id: UUID) -> Awaitable[object]:
        return action(  # type: ignore[no-any-return]
            services.db,
            tenant_id=principal.tenant_id,
            contact_id=contact_id,
            agent_id=_agent_for(principal, name),
            actor=principal.actor,
        )

    return _contact_route(
        name.split("_")[0],
        step,
        name=f"{name}_contact_route",
        doc=f"``{name.replace('_', ' ')}`` on a contact you hold (supervisors: any).",
    )


def _hint_held(services: Services, tenant_id: UUID, out: ContactOut, caller: UUID) -> None:
    """Let a local engine see at once that the contact and its (last) agent changed."""
    hint(services, tenant_id, contact_id=out.id, agent_id=out.agent_id or caller)


def _require_all(principal: Principal) -> None:
    if acting_agent(principal, "contact") is not None:
        raise PermissionDeniedError("only channel adapters and supervisors may do this")


def _agent_for(principal: Principal, name: str) -> UUID | None:
    if name in ("accept_offer", "reject_offer"):
        return principal.user_id  # only the offered agent answers an offer, supervisors too
    return acting_agent(principal, "contact")


accept = _contact_action("accept_offer")
reject = _contact_action("reject_offer")
hold = _contact_action("hold_contact")
resume = _contact_action("resume_contact")
end = _contact_action("end_contact")


@post(
    "/api/v1/contacts/{contact_id:uuid}/close",
    opt={"authz": ("update", "contact")},
    tags=TAGS,
    status_code=200,
)
async def close_contact(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[WrapUp]
) -> ContactOut:
    """Finish after-call work with the wrap-up form; the queue's wrap-up rules must be met
    (422 naming the missing field, nothing changed). ``follow_up`` leaves a task, due at a
    time; ``callback`` books a callback contact to the customer; both are saved with the
    close or not at all."""
    principal = require_principal(request)
    services = services_of(request)
    await close_with(services, principal, contact_id, data, acting_agent(principal, "contact"))
    out = await _load(request, contact_id)
    _hint_held(services_of(request), principal.tenant_id, out, principal.user_id)
    return out


async def close_with(
    services: Services,
    principal: Principal,
    contact_id: UUID,
    data: WrapUp,
    agent_id: UUID | None,
) -> None:
    """Close a contact in after-call work with the wrap-up form (REST and the desk socket)."""
    await offers.do_close_contact(
        services.db,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        agent_id=agent_id,
        actor=principal.actor,
        category=data.category,
        resolved_first_contact=data.resolved_first_contact,
        sub_reason=data.sub_reason,
        suggested_categories=data.suggested_categories,
        follow_up=None
        if data.follow_up is None
        else FollowUpDraft(
            due_at=data.follow_up.due_at,
            note=data.follow_up.note,
            owner_queue_id=data.follow_up.queue_id,
        ),
        callback=None
        if data.callback is None
        else CallbackDraft(callback_at=data.callback.callback_at, to_me=data.callback.to_me),
        keyring=services.keyring,
        by_user_id=principal.user_id,
    )


@post(
    "/api/v1/contacts/{contact_id:uuid}/transfer",
    opt={"authz": ("update", "contact")},
    tags=TAGS,
    status_code=200,
)
async def transfer_contact(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[Transfer]
) -> ContactOut:
    """Blind transfer to a queue or an agent, or escalation to the supervisors; supervisors
    also use it to move a waiting contact."""
    principal = require_principal(request)
    await contact_actions.do_transfer_contact(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        by_agent_id=acting_agent(principal, "contact"),
        target=contact_actions.TransferTarget(
            queue_id=data.queue_id, agent_id=data.agent_id, escalate=data.escalate
        ),
        actor=principal.actor,
    )
    return await _load(request, contact_id)


class ConsultOut(Output):
    contact: ContactOut
    consult_id: UUID | None = None


@post(
    "/api/v1/contacts/{contact_id:uuid}/consult",
    opt={"authz": ("update", "contact")},
    tags=TAGS,
    status_code=201,
)
async def start_consult(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[Transfer]
) -> ConsultOut:
    """Consult a colleague (``agent_id``), a queue or the supervisors (``escalate``) while
    the customer holds. The consultation is a contact of its own (``consult_of`` in its
    events), offered like any other; then ``…/consult/complete`` hands the customer over
    (consultative transfer) or ``…/consult/cancel`` comes back to the customer."""
    principal = require_principal(request)
    consult_id = await consult_actions.do_start_consult(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        by_agent_id=acting_agent(principal, "contact"),
        target=contact_actions.TransferTarget(
            queue_id=data.queue_id, agent_id=data.agent_id, escalate=data.escalate
        ),
        actor=principal.actor,
    )
    return ConsultOut(contact=await _load(request, contact_id), consult_id=consult_id)


def _consult_step(name: str, summary: str) -> Any:
    """A route that finishes the contact's consultation (``complete`` or ``cancel``)."""
    action = getattr(consult_actions, f"do_{name}_consult")

    def step(services: Services, principal: Principal, contact_id: UUID) -> Awaitable[object]:
        return action(  # type: ignore[no-any-return]
            services.db,
            tenant_id=principal.tenant_id,
            contact_id=contact_id,
            by_agent_id=acting_agent(principal, "contact"),
            actor=principal.actor,
        )

    return _contact_route(f"consult/{name}", step, name=f"{name}_consult_route", doc=summary)


complete_consult = _consult_step(
    "complete", "Hand the customer to the colleague who answered the consultation (409 until then)."
)
cancel_consult = _consult_step(
    "cancel", "End the consultation wherever it is and resume the customer."
)


@post(
    "/api/v1/contacts/{contact_id:uuid}/abandon",
    opt={"authz": ("update", "contact")},
    tags=TAGS,
    status_code=200,
)
async def abandon_contact(request: AnyRequest, contact_id: FromPath[UUID]) -> ContactOut:
    """The customer left (channel adapters; requires the ``all`` grant)."""
    principal = require_principal(request)
    await _load(request, contact_id)  # 404 before 403: another tenant's contact is not there
    _require_all(principal)
    await contact_actions.do_abandon_contact(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        actor=principal.actor,
    )
    return await _load(request, contact_id)


@post(
    "/api/v1/contacts/{contact_id:uuid}/callback",
    opt={"authz": ("update", "contact")},
    tags=TAGS,
    status_code=200,
)
async def request_callback(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[Callback]
) -> ContactOut:
    """A waiting customer keeps their place as a callback, or books a time."""
    principal = require_principal(request)
    await _load(request, contact_id)
    _require_all(principal)
    await contact_actions.do_request_callback(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        callback_at=_parse_time(data.callback_at),
        actor=principal.actor,
    )
    return await _load(request, contact_id)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError("callback_at must be an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise InvalidInputError("callback_at needs a UTC offset (e.g. +09:00)")
    return parsed


@get("/api/v1/agents", opt={"authz": ("read", "agent")}, tags=TAGS)
async def list_agents(request: AnyRequest) -> list[AgentOut]:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.scalars(select(RoutingAgent))).all()
    return [_agent_out(row) for row in rows]


@patch("/api/v1/agents/{agent_id:uuid}/presence", opt={"authz": ("update", "agent")}, tags=TAGS)
async def set_presence(
    request: AnyRequest, agent_id: FromPath[UUID], data: JSONBody[PresenceIn]
) -> AgentOut:
    """Ready, not ready with a reason code, or signed out (yourself; supervisors: anyone)."""
    principal = require_principal(request)
    await _require_user(request, agent_id)
    check(principal, Action.UPDATE, Resource("agent", principal.tenant_id, owner_id=agent_id))
    try:
        presence = Presence(data.presence or "")
    except ValueError as exc:
        known = ", ".join(p.value for p in Presence)
        raise InvalidInputError(f"presence must be one of: {known}") from exc
    try:
        reason = NotReadyReason(data.reason) if data.reason else None
    except ValueError as exc:
        known = ", ".join(r.value for r in NotReadyReason)
        raise InvalidInputError(f"unknown reason code; known: {known}") from exc
    services = services_of(request)
    await agent_actions.do_set_presence(
        services.db,
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        presence=presence,
        reason=reason,
        actor=principal.actor,
    )
    hint(services, principal.tenant_id, agent_id=agent_id)
    found = await agent_actions.find_agent(services.db, principal.tenant_id, agent_id)
    assert found is not None
    return _agent_out(found)


@patch(
    "/api/v1/agents/{agent_id:uuid}/profile",
    opt={"authz": ("update", "routing_settings")},
    tags=TAGS,
)
async def set_profile(
    request: AnyRequest, agent_id: FromPath[UUID], data: JSONBody[ProfileIn]
) -> AgentOut:
    """Skills with proficiency 1-10 and channel capacities."""
    principal = require_principal(request)
    services = services_of(request)
    await agent_actions.do_set_agent_profile(
        services.db,
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        profile=AgentProfile(skills=data.skills, capacity=data.capacity),
        actor=principal.actor,
    )
    found = await agent_actions.find_agent(services.db, principal.tenant_id, agent_id)
    assert found is not None
    return _agent_out(found)


@get("/api/v1/floor", opt={"authz": ("read", "floor")}, tags=TAGS)
async def read_floor(request: AnyRequest) -> dict[str, Any]:
    """The live floor now: queues with waiting contacts and today's outcomes, agents' states."""
    principal = require_principal(request)
    return await floor_snapshot(
        services_of(request).db, principal.tenant_id, viewer=principal.user_id
    )


@get(
    "/api/v1/queues/{queue_id:uuid}/routing",
    opt={"authz": ("read", "routing_settings")},
    tags=TAGS,
)
async def read_queue_routing(request: AnyRequest, queue_id: FromPath[UUID]) -> QueueRouting:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        config = await session.scalar(select(Queue.config).where(Queue.id == queue_id))
    if config is None:
        raise NotFoundError("queue not found")
    return routing_settings(config)


@patch(
    "/api/v1/queues/{queue_id:uuid}/routing",
    opt={"authz": ("update", "routing_settings")},
    tags=TAGS,
)
async def update_queue_routing(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[QueueRouting]
) -> QueueRouting:
    """Skills, offer timeout, ACW maximum, hours, holidays, limits and overflow of a queue."""
    principal = require_principal(request)
    settings = data.validated()
    async with services_of(request).db.scoped(principal.tenant_id) as session, session.begin():
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id).with_for_update())
        if queue is None:
            raise NotFoundError("queue not found")
        queue.config = {**(queue.config or {}), "routing": msgspec.to_builtins(settings)}
    return settings


ROUTES = [
    create_contact,
    list_contacts,
    read_contact,
    accept,
    reject,
    hold,
    resume,
    end,
    close_contact,
    transfer_contact,
    start_consult,
    complete_consult,
    cancel_consult,
    abandon_contact,
    request_callback,
    list_agents,
    set_presence,
    set_profile,
    read_floor,
    read_queue_routing,
    update_queue_routing,
]
