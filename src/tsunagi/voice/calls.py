"""The voice channel's ports and per-call state, shared by the call center and adapters.

* :class:`CallContacts` — what a call asks of the contact system (routing's and the
  desk's actions behind it); :class:`RecordingSink` — where finished recordings go.
* :class:`Call` — one conversation's legs and what the call center knows of its contact.

Pure: no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from tsunagi.ports.telephony import TelephonyEvent
from tsunagi.routing.lifecycle import ContactState
from tsunagi.voice.plan import NumberRoute
from tsunagi.voice.runner import IvrRun


@dataclass(frozen=True, slots=True)
class ContactView:
    """What a call needs to know of its contact (a snapshot of the row)."""

    contact_id: UUID
    state: ContactState
    agent_id: UUID | None
    version: int


@dataclass(frozen=True, slots=True)
class OpenedContact:
    tenant_id: UUID
    view: ContactView


class CallContacts(Protocol):
    """The platform side of the voice channel: contacts through routing's actions.

    Methods raise ``ConflictError`` when the contact is no longer in the state the
    call assumed (the caller re-reads it) and ``NotFoundError`` for unknown tenants,
    queues or contacts.
    """

    async def open(
        self, *, tenant: str, queue: str, key: str, source: str, caller: str
    ) -> OpenedContact:
        """Create (idempotently, by ``key``) and queue the call's contact; record and
        match the caller's number for the desk's screen-pop."""
        ...

    async def look(
        self, tenant_id: UUID, contact_ids: Collection[UUID]
    ) -> dict[UUID, ContactView]: ...

    async def accept(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None: ...

    async def decline(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None: ...

    async def requeue(self, tenant_id: UUID, contact_id: UUID) -> None:
        """Back to its queue, keeping its place (the agent's phone was lost)."""
        ...

    async def customer_left(self, tenant_id: UUID, contact_id: UUID, *, keep_place: bool) -> None:
        """The caller's leg ended: abandon a waiting contact (or keep its place as a
        callback), end a conversation (after-call work starts)."""
        ...

    async def keep_place(self, tenant_id: UUID, contact_id: UUID) -> None:
        """The waiting caller asked to be called back: the contact keeps its place."""
        ...

    async def agent_left(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None:
        """The agent's phone hung up during the conversation: end it."""
        ...

    async def agent_name(self, tenant_id: UUID, agent_id: UUID) -> str | None: ...

    async def release_orphans(self, *, tenant: str, source: str, keep_place: bool) -> int:
        """Contacts of ``source`` still waiting or in conversation whose calls are gone
        (the voice worker was restarted): treat each as its caller having hung up."""
        ...

    async def changed(self, timeout_s: float) -> None:
        """Return when contacts may have changed, or after ``timeout_s``."""
        ...

    async def requests(self, *, tenant: str) -> list[CallRequest]:
        """Requests from the web for live calls (pause a recording…) written since the
        last call; the first call only sets the starting point (older ones are stale)."""
        ...

    async def position(self, tenant_id: UUID, contact_id: UUID) -> int | None:
        """The waiting contact's place in line (1 = next) by routing's rank key among
        the contacts waiting for the same skill; None when it is not waiting."""
        ...

    async def consults(
        self, tenant_id: UUID, contact_ids: Collection[UUID]
    ) -> dict[UUID, ContactView]:
        """The latest consultation (any state) of each of the contacts that has one, by the
        consulted contact's id."""
        ...

    async def callbacks(
        self, *, tenant: str, known: Collection[UUID]
    ) -> list[tuple[UUID, ContactView, str, str | None]]:
        """Callback contacts offered to or accepted by an agent, other than ``known``:
        (tenant id, contact, the customer's phone number to dial, the queue's code)."""
        ...


class RecordingSink(Protocol):
    """Where finished recordings go (sealed storage) and where pausing is audited."""

    async def store(
        self, tenant_id: UUID, contact_id: UUID, recording_id: str, location: str
    ) -> object: ...

    async def audit_pause(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        recording_id: str,
        *,
        paused: bool,
        actor_user_id: UUID | None,
    ) -> None: ...


class IvrFinished:
    """Inbox marker: the call's IVR run ended (by a digit, a prompt or a timer)."""


IVR_FINISHED = IvrFinished()


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A request for a live call, from the web through the outbox."""

    tenant_id: UUID
    contact_id: UUID
    kind: str  # "pause_recording" | "resume_recording" | "monitor"
    requested_by: UUID
    mode: str | None = None  # monitor: "listen" | "whisper" | "barge"


@dataclass(frozen=True, slots=True)
class ConsultChanged:
    """Inbox item: the call's consultation (a contact of its own) has a newer row."""

    view: ContactView


class AnnounceDue:
    """Inbox marker: time to tell the waiting caller their place in line."""


ANNOUNCE_DUE = AnnounceDue()
CallItem = TelephonyEvent | ContactView | IvrFinished | AnnounceDue | CallRequest | ConsultChanged


@dataclass(eq=False, slots=True)
class Call:
    """One conversation: the customer's leg (inbound, or dialled for a callback) and the
    agent's leg, following one contact."""

    leg_id: str | None
    """The customer's leg; None for a callback until the agent has accepted it."""
    route: NumberRoute | None
    caller: str
    key: str
    dial: str | None = None
    """A callback: the customer's number, dialled once the agent has accepted."""
    customer_up: bool = True
    inbox: asyncio.Queue[CallItem] = field(default_factory=asyncio.Queue)
    ivr: IvrRun | None = None
    queue: str | None = None
    tenant_id: UUID | None = None
    contact: ContactView | None = None
    agent_leg: str | None = None
    agent_id: UUID | None = None
    agent_up: bool = False
    bridge_id: str | None = None
    playing: str | None = None
    talked: bool = False
    closing: str | None = None
    """The playback id of the goodbye prompt; the call ends when it is done."""
    recording: str | None = None
    monitors: dict[str, tuple[str, UUID]] = field(default_factory=dict)
    """Supervisors' legs on this call: leg id → (mode, supervisor id)."""
    announcing: str | None = None
    """The playback id of a place-in-line announcement under way (music is paused)."""
    waiting_since: float | None = None
    """Monotonic time of the last announcement, or of joining the queue."""
    consult: ContactView | None = None
    """The agent's consultation with a colleague about this call, while it lasts."""
    consult_leg: str | None = None
    consult_agent: UUID | None = None
    consult_up: bool = False
    consult_bridge: str | None = None
    """The bridge of the agent's leg with the colleague's (the customer holds)."""
    ended: bool = False
