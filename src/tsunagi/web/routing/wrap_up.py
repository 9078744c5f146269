"""Wrap-up rules: administrators set per queue which wrap-up fields are required and the
sub-reasons of each category; the desk reads the rules of the contact it is wrapping up.
The close action (``POST /api/v1/contacts/{id}/close``) enforces them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, get, put
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from tsunagi.adapters.storage.models import Queue
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.errors import NotFoundError
from tsunagi.routing.wrap_up import WrapUpRules, wrap_up_rules
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["routing"]


@get(
    "/api/v1/queues/{queue_id:uuid}/wrap-up",
    opt={"authz": ("read", "routing_settings")},
    tags=TAGS,
)
async def read_queue_wrap_up(request: AnyRequest, queue_id: FromPath[UUID]) -> WrapUpRules:
    """The queue's wrap-up rules (nothing required when none are set)."""
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        found = await session.execute(select(Queue.config).where(Queue.id == queue_id))
        row = found.first()
    if row is None:
        raise NotFoundError("queue not found")
    return wrap_up_rules(row[0])


@put(
    "/api/v1/queues/{queue_id:uuid}/wrap-up",
    opt={"authz": ("update", "routing_settings")},
    tags=TAGS,
)
async def update_queue_wrap_up(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[WrapUpRules]
) -> WrapUpRules:
    """Replace the queue's wrap-up rules: ``required`` fields (category, sub_reason,
    resolved_first_contact) and ``sub_reasons`` per category code."""
    principal = require_principal(request)
    rules = data.validated()
    async with services_of(request).db.scoped(principal.tenant_id) as session, session.begin():
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id).with_for_update())
        if queue is None:
            raise NotFoundError("queue not found")
        queue.config = {**(queue.config or {}), "wrap_up": msgspec.to_builtins(rules)}
    return rules


@get(
    "/api/v1/contacts/{contact_id:uuid}/wrap-up",
    opt={"authz": ("read", "contact")},
    tags=TAGS,
)
async def read_contact_wrap_up(request: AnyRequest, contact_id: FromPath[UUID]) -> WrapUpRules:
    """The wrap-up rules of the contact's queue, for the desk's wrap-up form."""
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        found = await session.execute(
            select(RoutingContact.id, Queue.config)
            .outerjoin(Queue, Queue.id == RoutingContact.queue_id)
            .where(RoutingContact.id == contact_id)
        )
        row = found.first()
    if row is None:
        raise NotFoundError("contact not found")
    return wrap_up_rules(row[1])


ROUTES = [read_queue_wrap_up, update_queue_wrap_up, read_contact_wrap_up]
