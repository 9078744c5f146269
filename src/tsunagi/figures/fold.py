"""The fold: routing events in stream order → per-contact records and interval measures.

A contact is followed event by event in a :class:`ContactRecord` (its wait clock, the
current talk/hold/after-call-work phase, and one :class:`Segment` per communicator who
had it). When it ends (``contact.closed`` or ``contact.abandoned``) it contributes once:

* to the *contact* row of the 15-minute interval in which it ended, keyed by the queue it
  was answered in (or waited in last, if never answered), its channel at creation and its
  wrap-up category;
* to one *agent* row per segment, keyed the same way plus the communicator.

Contributions are only ever added, never moved, so a maximum (longest wait) is as exact as
a sum, and the aggregates of a stream are the same however it is cut into batches.

Agent states (``agent.state_changed``) contribute the time spent in the state an event
ends, split over the intervals it covers; the open span of an agent's current state is
added when the next change arrives.

Survey answers (``survey.answered``) add the NPS/CSAT measures once both the answer and its
contact's end are in — in the interval of whichever came later — to the contact's row and
to the communicator whose part closed it (ADR 0504).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from tsunagi.figures.definitions import (
    AGENT_MAXES,
    CONTACT_MAXES,
    Measures,
    add_into,
)
from tsunagi.figures.history import UNKNOWN_COMMUNICATOR, ContactImportedEvent
from tsunagi.figures.intervals import interval_start, split_span
from tsunagi.figures.surveys import SurveyAnsweredEvent, survey_measures
from tsunagi.routing.events import (
    AgentStateChangedEvent,
    ContactAbandonedEvent,
    ContactCallbackScheduledEvent,
    ContactClosedEvent,
    ContactConnectedEvent,
    ContactCreatedEvent,
    ContactEndedEvent,
    ContactEvent,
    ContactHeldEvent,
    ContactQueuedEvent,
    ContactResumedEvent,
    ContactTransferredEvent,
)

DEFAULT_SL_THRESHOLD_S = 20
DEFAULT_SHORT_ABANDON_S = 5
CLOSED_STATES = frozenset({"closed", "abandoned"})

# (interval start, queue, channel, category); queue None and category "" when unknown.
ContactKey = tuple[datetime, UUID | None, str, str]
# (interval start, agent, queue, channel, category)
AgentKey = tuple[datetime, UUID, UUID | None, str, str]
# (interval start, agent, state, reason)
StateKey = tuple[datetime, UUID, str, str]


@dataclass(frozen=True, slots=True)
class QueueTargets:
    """What the fold needs of a queue: its service-level threshold and short-abandon limit."""

    sl_threshold_s: float = DEFAULT_SL_THRESHOLD_S
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S

    @classmethod
    def of(cls, sl_threshold_s: float | None, config: Mapping[str, Any] | None) -> QueueTargets:
        """A queue's: its threshold, and ``config["figures"]["short_abandon_s"]``."""
        figures = (config or {}).get("figures", {})
        return cls(
            sl_threshold_s=float(sl_threshold_s or DEFAULT_SL_THRESHOLD_S),
            short_abandon_s=float(figures.get("short_abandon_s", DEFAULT_SHORT_ABANDON_S)),
        )


def _ms(begin: datetime | None, end: datetime) -> int:
    if begin is None:
        return 0
    return max(0, round((end - begin).total_seconds() * 1000))


@dataclass(slots=True)
class Segment:
    """One communicator's part of a contact: from connecting until transfer or close."""

    agent_id: UUID
    talk_ms: int = 0
    hold_ms: int = 0
    holds: int = 0
    acw_ms: int = 0
    transferred: bool = False


@dataclass(slots=True)
class ContactRecord:
    contact_id: UUID
    version: int = 0
    state: str = "created"
    channel: str = "voice"
    queue_id: UUID | None = None
    created_at: datetime | None = None
    offered_at: datetime | None = None  # first time in a queue
    wait_from: datetime | None = None  # when the wait for the first answer started
    answered_at: datetime | None = None
    answered_by: UUID | None = None
    phase_since: datetime | None = None  # start of the current talk, hold or wrap-up
    ended_at: datetime | None = None
    wait_ms: int | None = None
    callback: bool = False
    transfers: int = 0
    escalations: int = 0
    outcome: str | None = None
    category: str | None = None
    resolved: bool | None = None
    segments: list[Segment] = field(default_factory=list)
    nps: int | None = None  # survey answers (counted once both the answer and the end are in)
    csat: int | None = None
    customer_key: str | None = None  # imported contacts: "kind:keyed hash" (repeat check)

    @property
    def finished(self) -> bool:
        return self.state in CLOSED_STATES


@dataclass(slots=True)
class AgentRecord:
    agent_id: UUID
    version: int = 0
    state: str = "signed_out"
    reason: str | None = None
    since: datetime | None = None  # when the current state started (event time)


TargetLookup = Callable[[UUID | None], QueueTargets]


def default_targets(_queue_id: UUID | None) -> QueueTargets:
    return QueueTargets()


@dataclass
class Fold:
    """Folds events into records (kept) and interval measures (added up since creation).

    The projector loads the records a batch touches, folds the batch, writes the records
    back and *adds* the measures to the stored rows; a rebuild folds every event into an
    empty Fold. Both give the same rows because contributions only add.
    """

    targets: TargetLookup = default_targets
    contacts: dict[UUID, ContactRecord] = field(default_factory=dict)
    agents: dict[UUID, AgentRecord] = field(default_factory=dict)
    contact_rows: dict[ContactKey, Measures] = field(default_factory=dict)
    agent_rows: dict[AgentKey, Measures] = field(default_factory=dict)
    state_rows: dict[StateKey, Measures] = field(default_factory=dict)
    touched_contacts: set[UUID] = field(default_factory=set)
    touched_agents: set[UUID] = field(default_factory=set)
    finished: list[ContactRecord] = field(default_factory=list)

    def apply(self, event: object) -> None:
        if isinstance(event, AgentStateChangedEvent):
            self._agent(event)
        elif isinstance(event, ContactEvent):
            self._contact(event)
        elif isinstance(event, ContactImportedEvent):
            self._imported(event)
        elif isinstance(event, SurveyAnsweredEvent):
            self._survey(event)

    # ------------------------------------------------------------------ agents
    def _agent(self, event: AgentStateChangedEvent) -> None:
        record = self.agents.get(event.agent_id)
        if record is None:
            record = self.agents[event.agent_id] = AgentRecord(event.agent_id)
        if event.version <= record.version:
            return  # a repeat or an older state
        at = event.occurred_at
        if record.since is not None and record.state != "signed_out":
            reason = record.reason if record.state == "not_ready" else None
            for start, seconds in split_span(record.since, at):
                key = (start, record.agent_id, record.state, reason or "")
                add_into(self.state_rows.setdefault(key, {}), {"state_ms": round(seconds * 1000)})
        record.since = at  # the span up to here is counted; the next one starts now
        record.state = event.state
        record.reason = event.reason
        record.version = event.version
        self.touched_agents.add(record.agent_id)

    # ---------------------------------------------------------------- contacts
    def _contact(self, event: ContactEvent) -> None:
        if event.consult_of is not None:
            return  # a consultation between agents: the customer's contact counts its time
        record = self.contacts.get(event.contact_id)
        if record is None:
            record = self.contacts[event.contact_id] = ContactRecord(
                event.contact_id, channel=event.channel, queue_id=event.queue_id
            )
        if record.finished or event.version < record.version:
            return
        at = event.occurred_at
        before = record.state
        if isinstance(event, ContactCreatedEvent):
            record.created_at = at
            record.channel = event.channel
        elif isinstance(event, ContactQueuedEvent):
            self._queued(record, event, at)
        elif isinstance(event, ContactCallbackScheduledEvent):
            record.callback = True
            if record.answered_at is None:
                record.wait_from = None  # the wait starts again when the callback is due
        elif isinstance(event, ContactConnectedEvent):
            self._connected(record, event, at)
        elif isinstance(event, ContactHeldEvent | ContactResumedEvent | ContactEndedEvent):
            self._close_phase(record, before, at)
            if isinstance(event, ContactHeldEvent) and record.segments:
                record.segments[-1].holds += 1
        elif isinstance(event, ContactTransferredEvent):
            self._transferred(record, event, before, at)
        elif isinstance(event, ContactClosedEvent):
            self._close_phase(record, before, at)
            record.outcome = event.outcome
            record.category = event.category
            record.resolved = event.resolved_first_contact
            record.ended_at = at
        elif isinstance(event, ContactAbandonedEvent):
            if record.offered_at is not None and record.answered_at is None:
                record.wait_ms = _ms(record.wait_from or record.offered_at, at)
            record.outcome = "abandoned"
            record.ended_at = at
        record.state = event.state
        record.version = max(record.version, event.version)
        self.touched_contacts.add(record.contact_id)
        if event.state in CLOSED_STATES:
            self._contribute(record)

    def _queued(self, record: ContactRecord, event: ContactQueuedEvent, at: datetime) -> None:
        if record.offered_at is None:
            record.offered_at = at
        if record.answered_at is None:
            record.queue_id = event.queue_id
            if record.wait_from is None:
                record.wait_from = at
        if event.channel == "callback":
            record.callback = True

    def _connected(self, record: ContactRecord, event: ContactConnectedEvent, at: datetime) -> None:
        if record.answered_at is None:
            record.answered_at = at
            record.answered_by = event.agent_id
            record.queue_id = event.queue_id
            record.wait_ms = _ms(record.wait_from or record.offered_at, at)
        if event.agent_id is not None:
            record.segments.append(Segment(event.agent_id))
        record.phase_since = at

    def _transferred(
        self, record: ContactRecord, event: ContactTransferredEvent, before: str, at: datetime
    ) -> None:
        if before not in ("connected", "on_hold"):
            return  # a waiting contact moved between queues: not a transfer by an agent
        self._close_phase(record, before, at)
        record.transfers += 1
        if event.escalated:
            record.escalations += 1
        if record.segments:
            record.segments[-1].transferred = True

    @staticmethod
    def _close_phase(record: ContactRecord, before: str, at: datetime) -> None:
        """Add the time since the last change to the phase the contact was in."""
        if record.segments and record.phase_since is not None:
            segment = record.segments[-1]
            spent = _ms(record.phase_since, at)
            if before == "connected":
                segment.talk_ms += spent
            elif before == "on_hold":
                segment.hold_ms += spent
            elif before == "wrap_up":
                segment.acw_ms += spent
        record.phase_since = at

    # ----------------------------------------------------------------- surveys
    def _survey(self, event: SurveyAnsweredEvent) -> None:
        """An answer counts once its contact has ended: now if it has, else when it ends
        (in that interval). A score of a kind the record already holds is a repeat."""
        record = self.contacts.get(event.contact_id)
        if record is None:
            # No contact events for it (e.g. made before figures existed): count it under
            # the dimensions the answer carries, in the interval it arrived.
            key: ContactKey = (
                interval_start(event.occurred_at),
                event.queue_id,
                event.contact_channel,
                "",
            )
            add_into(self.contact_rows.setdefault(key, {}), survey_measures(event.nps, event.csat))
            return
        nps = event.nps if record.nps is None else None
        csat = event.csat if record.csat is None else None
        if nps is None and csat is None:
            return
        record.nps = record.nps if nps is None else nps
        record.csat = record.csat if csat is None else csat
        self.touched_contacts.add(record.contact_id)
        if record.finished:
            self._add_survey(record, interval_start(event.occurred_at), nps, csat)

    def _add_survey(
        self, record: ContactRecord, start: datetime, nps: int | None, csat: int | None
    ) -> None:
        """Survey measures to the contact's row and to the communicator who closed it."""
        measures = survey_measures(nps, csat)
        category = record.category or ""
        key: ContactKey = (start, record.queue_id, record.channel, category)
        add_into(self.contact_rows.setdefault(key, {}), measures)
        if record.segments:
            agent = record.segments[-1].agent_id
            agent_key: AgentKey = (start, agent, record.queue_id, record.channel, category)
            add_into(self.agent_rows.setdefault(agent_key, {}), measures)

    # ---------------------------------------------------------------- history
    def _imported(self, event: ContactImportedEvent) -> None:
        """A historical contact arrives whole: its record is built at once and contributes
        like a live contact that ended at ``ended_at`` (once: a known id is a repeat)."""
        if event.contact_id in self.contacts:
            return
        answered = event.outcome == "answered"
        segments = [
            Segment(
                event.agent_id or UNKNOWN_COMMUNICATOR,
                talk_ms=event.talk_ms,
                hold_ms=event.hold_ms,
                holds=event.holds,
                acw_ms=event.acw_ms,
            )
            for _ in range(answered)
        ]
        record = self.contacts[event.contact_id] = ContactRecord(
            event.contact_id,
            version=1,
            state="abandoned" if event.outcome == "abandoned" else "closed",
            channel=event.channel,
            queue_id=event.queue_id,
            created_at=event.arrived_at,
            offered_at=event.queued_at,
            wait_from=event.queued_at,
            answered_at=event.answered_at if answered else None,
            answered_by=segments[0].agent_id if segments else None,
            ended_at=event.ended_at,
            wait_ms=event.wait_ms if event.queued_at is not None else None,
            callback=event.callback,
            transfers=event.transfers,
            escalations=event.escalations,
            outcome={"answered": "handled"}.get(event.outcome, event.outcome),
            category=event.category,
            resolved=event.resolved_first_contact,
            segments=segments,
            customer_key=(
                f"{event.customer_kind}:{event.customer_key}" if event.customer_key else None
            ),
        )
        self.touched_contacts.add(record.contact_id)
        self._contribute(record)

    # ------------------------------------------------------------ contributions
    def _contribute(self, record: ContactRecord) -> None:
        assert record.ended_at is not None
        start = interval_start(record.ended_at)
        category = record.category or ""
        key: ContactKey = (start, record.queue_id, record.channel, category)
        measures = contact_measures(record, self.targets(record.queue_id))
        add_into(self.contact_rows.setdefault(key, {}), measures, CONTACT_MAXES)
        for index, segment in enumerate(record.segments):
            last = index == len(record.segments) - 1
            agent_key: AgentKey = (
                start,
                segment.agent_id,
                record.queue_id,
                record.channel,
                category,
            )
            add_into(
                self.agent_rows.setdefault(agent_key, {}),
                segment_measures(segment, record.resolved if last else None),
                AGENT_MAXES,
            )
        if record.nps is not None or record.csat is not None:
            self._add_survey(record, start, record.nps, record.csat)  # answered before the end
        self.finished.append(record)


def contact_measures(record: ContactRecord, targets: QueueTargets) -> Measures:
    """What one ended contact adds to its interval (see docs/figures.md)."""
    offered = record.offered_at is not None
    answered = record.answered_at is not None
    abandoned = offered and not answered and record.outcome == "abandoned"
    wait = record.wait_ms or 0
    short = abandoned and wait < targets.short_abandon_s * 1000
    segments = record.segments
    callback = record.callback and record.outcome != "cancelled"
    return {
        "offered": int(offered),
        "answered": int(answered),
        "abandoned": int(abandoned),
        "short_abandoned": int(short),
        "answered_in_sl": int(answered and wait <= targets.sl_threshold_s * 1000),
        "unqueued": int(not offered),
        "wait_answered_ms": wait if answered else 0,
        "wait_abandoned_ms": wait if abandoned else 0,
        "wait_max_ms": wait if offered else 0,
        "talk_ms": sum(s.talk_ms for s in segments),
        "hold_ms": sum(s.hold_ms for s in segments),
        "holds": sum(s.holds for s in segments),
        "acw_ms": sum(s.acw_ms for s in segments),
        "transfers": record.transfers,
        "escalations": record.escalations,
        "fcr_yes": int(answered and record.resolved is True),
        "fcr_no": int(answered and record.resolved is False),
        # A callback the customer cancelled (a booking withdrawn) was neither kept nor missed.
        "callbacks": int(callback),
        "callbacks_kept": int(callback and answered),
        "callbacks_missed": int(callback and not answered),
    }


def segment_measures(segment: Segment, resolved: bool | None) -> Measures:
    """One communicator's part: a transferred part counts as not resolved by them."""
    fcr_no = segment.transferred or resolved is False
    return {
        "handled": 1,
        "talk_ms": segment.talk_ms,
        "hold_ms": segment.hold_ms,
        "holds": segment.holds,
        "acw_ms": segment.acw_ms,
        "transfers_out": int(segment.transferred),
        "fcr_yes": int(not segment.transferred and resolved is True),
        "fcr_no": int(fcr_no),
    }
