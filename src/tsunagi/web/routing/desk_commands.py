"""Commands an agent sends over their open desk socket: accept, reject, end, close.

A desk keeps ``/ws/routing/desk`` open anyway; answering offers over it spares four
authenticated HTTP requests per contact (decision 0205). Each command runs the same
``do_*`` action as its REST route, as the socket's principal and on the principal's own
contacts only, with the same authorization (``update`` on ``contact``; a denial is
audited like the REST guard's) and the same errors, returned as a frame.

Client → server::

    {"op": "accept" | "reject" | "end" | "close", "contact_id": "<uuid>",
     "ref": <string or number, echoed>, "wrap_up": {<the close route's body>}}

Server → client: ``{"kind": "done", "op", "contact_id", "ref", "repeated"}`` or
``{"kind": "error", "op", "contact_id", "ref", "status", "detail"}`` (status as the REST
route would answer: 403, 404, 409, 422). A command repeated after it took effect (a
retry after a lost reply) answers ``done`` with ``repeated: true`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal
from uuid import UUID

import msgspec
from sqlalchemy import select

from tsunagi.actions.audit import do_record_denial
from tsunagi.actions.events import collecting
from tsunagi.actions.routing import offers
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tsunagi.domain.permissions import Action, Principal, Resource, authorize
from tsunagi.routing.lifecycle import ContactState
from tsunagi.web.routing.api import NOTHING_TO_ROUTE, WrapUp, close_with
from tsunagi.web.routing.engines import hint
from tsunagi.web.services import Services

S = ContactState
MAX_COMMAND_BYTES = 64 * 1024
PATH = "/ws/routing/desk"

Op = Literal["accept", "reject", "end", "close"]


class DeskCommand(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    op: Op
    contact_id: UUID
    ref: str | int | None = None
    wrap_up: WrapUp | None = None


Step = Callable[[Services, Principal, DeskCommand], Awaitable[object]]


def _plain(name: str) -> Step:
    action = getattr(offers, f"do_{name}")

    def step(services: Services, principal: Principal, command: DeskCommand) -> Awaitable[object]:
        return action(  # type: ignore[no-any-return]
            services.db,
            tenant_id=principal.tenant_id,
            contact_id=command.contact_id,
            agent_id=principal.user_id,
            actor=principal.actor,
        )

    return step


def _close(services: Services, principal: Principal, command: DeskCommand) -> Awaitable[None]:
    data = command.wrap_up or WrapUp()
    return close_with(services, principal, command.contact_id, data, principal.user_id)


STEPS: dict[str, Step] = {
    "accept": _plain("accept_offer"),
    "reject": _plain("reject_offer"),
    "end": _plain("end_contact"),
    "close": _close,
}

_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (PermissionDeniedError, 403),
)


async def run_command(
    services: Services, principal: Principal, raw: str, client_ip: str | None
) -> dict[str, Any]:
    """Decode, authorize and carry out one command; the answer frame (never raises for a
    bad command: a wrong one changes nothing and is answered with an error frame)."""
    if len(raw) > MAX_COMMAND_BYTES:
        return _error(None, 413, "command too large")
    try:
        command = msgspec.json.decode(raw, type=DeskCommand)
    except msgspec.DecodeError as exc:
        return _error(None, 422, f"not a command: {exc}", ref=_ref_of(raw))
    try:
        authorize(principal, Action.UPDATE, Resource(kind="contact", tenant_id=principal.tenant_id))
    except PermissionDeniedError as exc:
        await do_record_denial(
            services.db,
            tenant_id=principal.tenant_id,
            actor_user_id=principal.user_id,
            resource_type="contact",
            action=Action.UPDATE,
            reason=str(exc),
            ip=client_ip,
            path=PATH,
        )
        return _error(command, 403, str(exc))
    try:
        with collecting() as events:
            await STEPS[command.op](services, principal, command)
    except ConflictError as exc:
        if await _already_done(services, principal, command):
            return _done(command, repeated=True)
        return _error(command, 409, str(exc))
    except (NotFoundError, InvalidInputError, PermissionDeniedError) as exc:
        status = next(code for kind, code in _STATUS if isinstance(exc, kind))
        return _error(command, status, str(exc))
    if command.op not in NOTHING_TO_ROUTE:
        # The events the action committed carry the contact's and the agent's new routing
        # state: the local engine applies them without reading the rows again.
        hint(services, principal.tenant_id, events=events)
    return _done(command, repeated=False)


async def _already_done(services: Services, principal: Principal, command: DeskCommand) -> bool:
    """Whether the contact is where this agent's command would have brought it: the command
    was carried out before (a retry) and, being refused now, changed nothing."""
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(
                    RoutingContact.state,
                    RoutingContact.agent_id,
                    RoutingContact.last_agent_id,
                    RoutingContact.connected_at,
                    RoutingContact.outcome,
                ).where(RoutingContact.id == command.contact_id)
            )
        ).first()
    if row is None:
        return False
    state, holder, last, connected_at, outcome = row
    me = principal.user_id
    if command.op == "accept":
        return holder == me and state in (S.CONNECTED, S.ON_HOLD, S.WRAP_UP)
    if command.op == "end":
        return (holder == me and state == S.WRAP_UP) or (
            state == S.CLOSED and last == me and connected_at is not None
        )
    if command.op == "close":
        return state == S.CLOSED and last == me and outcome == "handled"
    # reject: the offer was declined by (or taken back from) this agent, never answered.
    return holder != me and last == me and connected_at is None


def _done(command: DeskCommand, *, repeated: bool) -> dict[str, Any]:
    return {
        "kind": "done",
        "op": command.op,
        "contact_id": str(command.contact_id),
        "ref": command.ref,
        "repeated": repeated,
    }


def _error(
    command: DeskCommand | None, status: int, detail: str, *, ref: Any = None
) -> dict[str, Any]:
    return {
        "kind": "error",
        "op": command.op if command else None,
        "contact_id": str(command.contact_id) if command else None,
        "ref": command.ref if command else ref,
        "status": status,
        "detail": detail,
    }


def _ref_of(raw: str) -> str | int | None:
    """The ``ref`` of an undecodable command, if it has one, so the client can match the error."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    ref = value.get("ref") if isinstance(value, dict) else None
    return ref if isinstance(ref, str | int) and not isinstance(ref, bool) else None
