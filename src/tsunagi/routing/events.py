"""Routing events: every contact transition and every agent state change.

Contact events share :class:`ContactEvent`'s fields — the contact's state *after* the
change and its ``version`` (one more per change) — so a consumer can keep a copy of every
contact without reading the database and can ignore a repeated (at-least-once) event.
``agent.state_changed`` carries the agent's whole routing state for the same reason.
Wait, talk, hold, wrap-up and abandon times are all derived from these timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

import msgspec

from tsunagi.domain.events import Event


class ContactEvent(Event, frozen=True, kw_only=True, tag=False):
    resource: ClassVar[str] = "contact"
    contact_id: UUID
    version: int
    state: str
    channel: str
    queue_id: UUID | None = None
    agent_id: UUID | None = None
    last_agent_id: UUID | None = None  # who held it most recently (for their desk)
    # A consultation (an agent asking a colleague while the customer holds) is a contact
    # of its own, linked to the customer's: figures leave it out.
    consult_of: UUID | None = None


class ContactCreatedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.created"):
    vip: bool = False
    customer_ref: str | None = None
    source: str | None = None


class ContactQueuedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.queued"):
    """The contact waits (again): what it needs and where it ranks."""

    skill: str
    extra_skills: list[str] = msgspec.field(default_factory=list)
    target_agent_ids: list[UUID] = msgspec.field(default_factory=list)
    priority: int = 0
    ranked_at: datetime
    reason: str = "new"  # new, requeued, transfer, overflow, moved, callback_due, escalated


class ContactOfferedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.offered"):
    offer_expires_at: datetime


class ContactOfferDeclinedEvent(
    ContactEvent, frozen=True, kw_only=True, tag="contact.offer_declined"
):
    """An offer ended without acceptance: ``rejected``, ``timeout`` or ``lease_lost``."""

    declined_by: UUID
    reason: str


class ContactSelfServiceStartedEvent(
    ContactEvent, frozen=True, kw_only=True, tag="contact.self_service_started"
):
    """The contact is served by a bot or IVR first (state ``ivr``); it is not waiting yet.

    It leaves by ``contact.queued`` (handed to a communicator, ``reason="handover"``) or
    ``contact.closed`` with ``outcome="self_service"`` (the bot or IVR resolved it)."""

    by: str = "bot"  # bot | ivr


class ContactConnectedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.connected"):
    waited_s: float | None = None


class ContactHeldEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.held"):
    pass


class ContactResumedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.resumed"):
    pass


class ContactEndedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.ended"):
    """The conversation ended; after-call work runs until ``wrap_up_until`` at the latest."""

    wrap_up_until: datetime


class ContactClosedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.closed"):
    outcome: str = "handled"  # handled, acw_timeout, closed_hours, voicemail, full, self_service
    category: str | None = None
    resolved_first_contact: bool | None = None
    # The wrap-up's sub-reason (a code from the queue's list, not free text).
    sub_reason: str | None = None
    # The categories the desk suggested at wrap-up, best first (at most 3; empty when none
    # were shown): the suggestion hit rate is counted from these and ``category``.
    suggested_categories: list[str] = msgspec.field(default_factory=list)


class ContactAbandonedEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.abandoned"):
    waited_s: float | None = None


class ContactTransferredEvent(ContactEvent, frozen=True, kw_only=True, tag="contact.transferred"):
    from_agent_id: UUID | None = None
    to_queue_id: UUID | None = None
    to_agent_id: UUID | None = None
    escalated: bool = False
    mode: str = "blind"


class ContactCallbackScheduledEvent(
    ContactEvent, frozen=True, kw_only=True, tag="contact.callback_scheduled"
):
    callback_at: datetime
    kept_place: bool = False


class AgentStateChangedEvent(Event, frozen=True, kw_only=True, tag="agent.state_changed"):
    resource: ClassVar[str] = "agent"
    agent_id: UUID
    version: int
    state: str
    presence: str
    reason: str | None = None
    since: datetime
    idle_since: datetime
    load: dict[str, int] = msgspec.field(default_factory=dict)
    capacity: dict[str, int] = msgspec.field(default_factory=dict)
    skills: dict[str, int] = msgspec.field(default_factory=dict)
    display_name: str = ""
