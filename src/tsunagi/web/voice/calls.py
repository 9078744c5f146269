"""``POST /api/v1/calls``: place an outbound call (click-to-call, or a dialer's request);
``POST /api/v1/contacts/{id}/recording/pause|resume``: payment details off the record."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, post
from litestar.params import FromPath, JSONBody

from tsunagi.actions.calls import (
    do_place_call,
    do_request_monitor,
    do_request_recording_pause,
)
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.routing.engines import hint
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


class CallIn(Input):
    queue_id: UUID
    """The queue the call belongs to (its caller id, figures and wrap-up rules)."""
    number: str
    """The customer's phone number, as dialled through the trunk."""
    agent_id: UUID | None = None
    """Who talks (default: you). Supervisors and systems may name any communicator."""


class CallOut(Output):
    contact_id: UUID
    state: str
    matched_customers: int


@post("/api/v1/calls", opt={"authz": ("create", "call")}, tags=["voice"], status_code=201)
async def place_call(request: AnyRequest, data: JSONBody[CallIn]) -> CallOut:
    """Place a call: it is offered to the communicator when they have room, their phone
    rings, and on answer the customer is dialled (the contact follows it like any call)."""
    principal = require_principal(request)
    services = services_of(request)
    placed = await do_place_call(
        services.db,
        services.keyring,
        principal=principal,
        queue_id=data.queue_id,
        number=data.number,
        agent_id=data.agent_id,
    )
    hint(services, principal.tenant_id, contact_id=placed.contact_id)
    return CallOut(
        contact_id=placed.contact_id, state=placed.state, matched_customers=placed.matched_customers
    )


@post(
    "/api/v1/contacts/{contact_id:uuid}/recording/pause",
    opt={"authz": ("update", "call")},
    tags=["voice"],
    status_code=202,
)
async def pause_recording(request: AnyRequest, contact_id: FromPath[UUID]) -> None:
    """Pause the call's recording while payment details are read out (audited by the
    voice worker; the paused span is silence in the file)."""
    await do_request_recording_pause(
        services_of(request).db,
        principal=require_principal(request),
        contact_id=contact_id,
        paused=True,
    )


@post(
    "/api/v1/contacts/{contact_id:uuid}/recording/resume",
    opt={"authz": ("update", "call")},
    tags=["voice"],
    status_code=202,
)
async def resume_recording(request: AnyRequest, contact_id: FromPath[UUID]) -> None:
    """Record the call again after a pause."""
    await do_request_recording_pause(
        services_of(request).db,
        principal=require_principal(request),
        contact_id=contact_id,
        paused=False,
    )


class MonitorIn(Input):
    mode: str
    """``listen`` (hear both, unheard), ``whisper`` (the communicator hears you, the
    customer does not) or ``barge`` (three-way)."""


@post(
    "/api/v1/contacts/{contact_id:uuid}/monitor",
    opt={"authz": ("create", "call_monitor")},
    tags=["voice"],
    status_code=202,
)
async def monitor_call(
    request: AnyRequest, contact_id: FromPath[UUID], data: JSONBody[MonitorIn]
) -> None:
    """Join a live call from your phone (it rings; answer to listen, whisper or barge)."""
    await do_request_monitor(
        services_of(request).db,
        principal=require_principal(request),
        contact_id=contact_id,
        mode=data.mode,
    )


ROUTES = [place_call, pause_recording, resume_recording, monitor_call]
