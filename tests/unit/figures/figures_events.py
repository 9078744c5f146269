"""Routing events for figure tests, built by hand with explicit times (UTC)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tsunagi.domain.events import Event
from tsunagi.routing import events as ev

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
QUEUE = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
OTHER_QUEUE = uuid.UUID("00000000-0000-4000-8000-0000000000a2")
AIKO = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
BUNTA = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
DAY = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return DAY + timedelta(minutes=minutes, seconds=seconds)


@dataclass
class Story:
    """One contact's events, each a version higher than the last."""

    channel: str = "voice"
    queue_id: uuid.UUID = QUEUE
    contact_id: uuid.UUID = field(default_factory=uuid.uuid4)
    version: int = 0
    agent_id: uuid.UUID | None = None
    events: list[Event] = field(default_factory=list)

    def _common(self, when: datetime, state: str) -> dict[str, Any]:
        self.version += 1
        return {
            "tenant_id": TENANT,
            "occurred_at": when,
            "contact_id": self.contact_id,
            "version": self.version,
            "state": state,
            "channel": self.channel,
            "queue_id": self.queue_id,
            "agent_id": self.agent_id,
        }

    def created(self, when: datetime) -> Story:
        self.events.append(ev.ContactCreatedEvent(**self._common(when, "created")))
        return self

    def queued(self, when: datetime, *, reason: str = "new") -> Story:
        self.events.append(
            ev.ContactQueuedEvent(
                **self._common(when, "queued"), skill="s", ranked_at=when, reason=reason
            )
        )
        return self

    def offered(self, when: datetime, agent: uuid.UUID) -> Story:
        self.agent_id = agent
        self.events.append(
            ev.ContactOfferedEvent(**self._common(when, "offered"), offer_expires_at=when)
        )
        return self

    def declined(self, when: datetime) -> Story:
        declined_by = self.agent_id
        assert declined_by is not None
        self.agent_id = None
        self.events.append(
            ev.ContactOfferDeclinedEvent(
                **self._common(when, "queued"), declined_by=declined_by, reason="rejected"
            )
        )
        self.version -= 1  # the re-queue that follows carries the same version
        return self.queued(when, reason="requeued")

    def connected(self, when: datetime, agent: uuid.UUID | None = None) -> Story:
        self.agent_id = agent or self.agent_id
        self.events.append(ev.ContactConnectedEvent(**self._common(when, "connected")))
        return self

    def held(self, when: datetime) -> Story:
        self.events.append(ev.ContactHeldEvent(**self._common(when, "on_hold")))
        return self

    def resumed(self, when: datetime) -> Story:
        self.events.append(ev.ContactResumedEvent(**self._common(when, "connected")))
        return self

    def ended(self, when: datetime) -> Story:
        self.events.append(
            ev.ContactEndedEvent(**self._common(when, "wrap_up"), wrap_up_until=when)
        )
        return self

    def closed(
        self,
        when: datetime,
        *,
        category: str | None = None,
        resolved: bool | None = None,
        outcome: str = "handled",
    ) -> Story:
        self.agent_id = None
        self.events.append(
            ev.ContactClosedEvent(
                **self._common(when, "closed"),
                outcome=outcome,
                category=category,
                resolved_first_contact=resolved,
            )
        )
        return self

    def abandoned(self, when: datetime) -> Story:
        self.agent_id = None
        self.events.append(ev.ContactAbandonedEvent(**self._common(when, "abandoned")))
        return self

    def transferred(
        self, when: datetime, *, escalated: bool = False, to_queue: uuid.UUID | None = None
    ) -> Story:
        from_agent = self.agent_id
        self.agent_id = None
        self.version -= 1  # the transfer is announced at the current version…
        state = "connected"
        self.events.append(
            ev.ContactTransferredEvent(
                **self._common(when, state),
                from_agent_id=from_agent,
                to_queue_id=to_queue,
                escalated=escalated,
            )
        )
        if to_queue is not None:
            self.queue_id = to_queue
        return self.queued(when, reason="escalated" if escalated else "transfer")  # …then queued

    def callback_scheduled(self, when: datetime, callback_at: datetime) -> Story:
        self.events.append(
            ev.ContactCallbackScheduledEvent(
                **self._common(when, "callback_scheduled"), callback_at=callback_at
            )
        )
        return self


@dataclass
class AgentLog:
    agent_id: uuid.UUID
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def state(self, when: datetime, state: str, reason: str | None = None) -> AgentLog:
        self.version += 1
        presence = {"signed_out": "signed_out", "not_ready": "not_ready"}.get(state, "ready")
        self.events.append(
            ev.AgentStateChangedEvent(
                tenant_id=TENANT,
                occurred_at=when,
                agent_id=self.agent_id,
                version=self.version,
                state=state,
                presence=presence,
                reason=reason,
                since=when,
                idle_since=when,
            )
        )
        return self
