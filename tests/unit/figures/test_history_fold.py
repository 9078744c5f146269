"""``contact.imported`` in the fold: the same rows a live contact gives, counted once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tsunagi.domain.events import Event
from tsunagi.figures.fold import Fold, QueueTargets
from tsunagi.figures.history import UNKNOWN_COMMUNICATOR, ContactImportedEvent
from tsunagi.figures.intervals import interval_start
from unit.figures.figures_events import AIKO, QUEUE, TENANT, Story, at


def fold(*events: Event) -> Fold:
    result = Fold(targets=lambda _queue: QueueTargets(sl_threshold_s=20, short_abandon_s=5))
    for event in events:
        result.apply(event)
    return result


def imported(
    *,
    outcome: str = "answered",
    arrived: datetime | None = None,
    queued: datetime | None = None,
    answered: datetime | None = None,
    ended: datetime,
    **more: Any,
) -> ContactImportedEvent:
    return ContactImportedEvent(
        tenant_id=TENANT,
        occurred_at=at(600),
        contact_id=more.pop("contact_id", uuid.uuid4()),
        batch_id=uuid.uuid4(),
        source_key="k",
        queue_id=QUEUE,
        channel="voice",
        arrived_at=arrived or at(0),
        queued_at=queued,
        answered_at=answered,
        ended_at=ended,
        outcome=outcome,
        **more,
    )


def test_an_imported_call_gives_the_rows_of_the_same_live_call() -> None:
    """Waits 12 s, talks 60 s, 30 s of after-call work, resolved, category billing."""
    live = (
        Story()
        .created(at(0))
        .queued(at(0))
        .offered(at(0, 10), AIKO)
        .connected(at(0, 12))
        .ended(at(1, 12))
        .closed(at(1, 42), category="billing", resolved=True)
    )
    past = imported(
        queued=at(0),
        answered=at(0, 12),
        ended=at(1, 42),
        wait_ms=12_000,
        talk_ms=60_000,
        acw_ms=30_000,
        agent_id=AIKO,
        category="billing",
        resolved_first_contact=True,
    )
    from_live, from_file = fold(*live.events), fold(past)
    assert from_file.contact_rows == from_live.contact_rows
    assert from_file.agent_rows == from_live.agent_rows
    ((key, measures),) = from_file.contact_rows.items()
    assert key == (interval_start(at(1, 42)), QUEUE, "voice", "billing")
    assert {n: v for n, v in measures.items() if v} == {
        "offered": 1,
        "answered": 1,
        "answered_in_sl": 1,
        "wait_answered_ms": 12_000,
        "wait_max_ms": 12_000,
        "talk_ms": 60_000,
        "acw_ms": 30_000,
        "fcr_yes": 1,
    }
    record = from_file.contacts[past.contact_id]
    assert (record.state, record.outcome, record.answered_by) == ("closed", "handled", AIKO)


def test_abandons_short_and_long_and_a_contact_that_never_queued() -> None:
    short = imported(outcome="abandoned", queued=at(0), ended=at(0, 3), wait_ms=3_000)
    long = imported(outcome="abandoned", queued=at(0), ended=at(0, 30), wait_ms=30_000)
    vru = imported(outcome="unqueued", ended=at(0, 40))
    ((_, measures),) = fold(short, long, vru).contact_rows.items()
    assert {n: v for n, v in measures.items() if v} == {
        "offered": 2,
        "abandoned": 2,
        "short_abandoned": 1,
        "unqueued": 1,
        "wait_abandoned_ms": 33_000,
        "wait_max_ms": 30_000,
    }


def test_an_import_counts_in_the_interval_it_ended_and_once() -> None:
    contact_id = uuid.uuid4()
    first = imported(
        contact_id=contact_id, queued=at(0), answered=at(0, 25), ended=at(20), wait_ms=25_000
    )
    again = imported(
        contact_id=contact_id, queued=at(0), answered=at(0, 25), ended=at(20), wait_ms=25_000
    )
    once = fold(first, again)
    ((key, measures),) = once.contact_rows.items()
    assert key[0] == interval_start(at(20))
    assert (measures["answered"], measures["answered_in_sl"]) == (1, 0)  # 25 s > 20 s
    # In a later batch the projector loads the record first: still a repeat.
    later = Fold(contacts={contact_id: once.contacts[contact_id]})
    later.apply(again)
    assert later.contact_rows == {}


def test_an_answered_call_without_a_named_communicator() -> None:
    past = imported(queued=at(0), answered=at(0, 5), ended=at(2), wait_ms=5_000, talk_ms=115_000)
    rows = fold(past).agent_rows
    ((key, measures),) = rows.items()
    assert key[1] == UNKNOWN_COMMUNICATOR
    assert (measures["handled"], measures["talk_ms"]) == (1, 115_000)


def test_the_routing_engine_ignores_imported_contacts() -> None:
    from tsunagi.actions.figures.projector import FOLDED_TYPES
    from tsunagi.actions.routing.engine import ROUTING_TYPES, concerns_routing
    from tsunagi.domain.events import encode_event

    past = imported(outcome="unqueued", ended=at(1))
    envelope = b'{"seq":1,"event_id":"x","event":' + encode_event(past) + b"}"
    assert "contact.imported" not in ROUTING_TYPES
    assert not concerns_routing(envelope)
    assert "contact.imported" in FOLDED_TYPES
