"""The fold and the figure definitions on small cases computed by hand."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.domain.events import Event
from tsunagi.figures.definitions import (
    AGENT_MAXES,
    CONTACT_MAXES,
    FigureOptions,
    Measures,
    add_into,
    agent_figures,
    contact_figures,
)
from tsunagi.figures.fold import Fold, QueueTargets, contact_measures
from tsunagi.figures.intervals import calendar_of, interval_start, split_span
from unit.figures.figures_events import AIKO, BUNTA, OTHER_QUEUE, QUEUE, AgentLog, Story, at

TEN = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
QUARTER = datetime(2026, 12, 1, 1, 15, tzinfo=UTC)


def fold(*events: Event, targets: QueueTargets | None = None) -> Fold:
    chosen = targets or QueueTargets()
    result = Fold(targets=lambda _queue: chosen)
    for event in events:
        result.apply(event)
    return result


def one_row(rows: dict[tuple[object, ...], Measures]) -> tuple[tuple[object, ...], Measures]:
    assert len(rows) == 1, rows
    return next(iter(rows.items()))


def handled_call() -> Story:
    """Waits 12 s, talks 60 s, holds 30 s, talks 120 s more, 30 s of after-call work."""
    return (
        Story()
        .created(at(0))
        .queued(at(0))
        .offered(at(0, 5), AIKO)
        .connected(at(0, 12))
        .held(at(1, 12))
        .resumed(at(1, 42))
        .ended(at(3, 42))
        .closed(at(4, 12), category="billing", resolved=True)
    )


def test_a_handled_call_gives_wait_talk_hold_and_after_call_work() -> None:
    result = fold(*handled_call().events)
    key, m = one_row(result.contact_rows)  # type: ignore[arg-type]
    assert key == (TEN, QUEUE, "voice", "billing")
    assert m["offered"] == m["answered"] == m["answered_in_sl"] == 1
    assert m["wait_answered_ms"] == m["wait_max_ms"] == 12_000
    assert m["talk_ms"] == 180_000
    assert m["hold_ms"] == 30_000
    assert m["holds"] == 1
    assert m["acw_ms"] == 30_000
    assert m["fcr_yes"] == 1 and m["fcr_no"] == 0
    figures = contact_figures(m, FigureOptions())
    assert figures["asa_s"] == 12
    assert figures["aht_s"] == 240  # 180 talk + 30 hold + 30 after-call work
    assert figures["avg_acw_s"] == 30
    assert figures["service_level"] == 1
    assert figures["fcr_rate"] == 1
    agent_key, agent = one_row(result.agent_rows)  # type: ignore[arg-type]
    assert agent_key == (TEN, AIKO, QUEUE, "voice", "billing")
    assert (agent["handled"], agent["talk_ms"], agent["acw_ms"]) == (1, 180_000, 30_000)


def test_an_open_contact_contributes_nothing_until_it_ends() -> None:
    story = handled_call()
    result = fold(*story.events[:-1])
    assert result.contact_rows == {}
    assert result.contacts[story.contact_id].state == "wrap_up"


def test_short_abandons_are_left_out_of_offered_and_service_level_when_asked() -> None:
    short = Story().created(at(1)).queued(at(1)).abandoned(at(1, 3))
    late = Story().created(at(2)).queued(at(2)).abandoned(at(2, 40))
    quick = Story().created(at(3)).queued(at(3)).offered(at(3, 1), AIKO).connected(at(3, 10))
    quick.ended(at(5)).closed(at(6), category="billing")
    result = fold(*short.events, *late.events, *quick.events)
    total: Measures = {}
    for measures in result.contact_rows.values():
        add_into(total, measures, CONTACT_MAXES)
    assert (total["offered"], total["abandoned"], total["short_abandoned"]) == (3, 2, 1)
    excluded = contact_figures(total, FigureOptions(exclude_short_abandons=True))
    assert excluded["offered"] == 2
    assert excluded["service_level"] == 0.5
    assert excluded["abandon_rate"] == 0.5
    included = contact_figures(total, FigureOptions(exclude_short_abandons=False))
    assert included["offered"] == 3
    assert included["abandon_rate"] == pytest.approx(2 / 3)
    assert total["wait_max_ms"] == 40_000
    assert total["wait_abandoned_ms"] == 43_000


def test_service_level_uses_the_queue_threshold() -> None:
    story = Story().created(at(0)).queued(at(0)).offered(at(0, 1), AIKO).connected(at(0, 15))
    story.ended(at(1)).closed(at(2))
    _key, strict = one_row(fold(*story.events, targets=QueueTargets(10, 5)).contact_rows)  # type: ignore[arg-type]
    _key, loose = one_row(fold(*story.events, targets=QueueTargets(20, 5)).contact_rows)  # type: ignore[arg-type]
    assert strict["answered_in_sl"] == 0
    assert loose["answered_in_sl"] == 1


def test_a_transfer_splits_the_contact_between_two_communicators() -> None:
    story = Story().created(at(0)).queued(at(0)).offered(at(0, 2), AIKO).connected(at(0, 8))
    story.transferred(at(1, 8), escalated=True, to_queue=OTHER_QUEUE)
    story.offered(at(1, 12), BUNTA).connected(at(1, 18)).ended(at(1, 48))
    story.closed(at(2, 8), category="complaint", resolved=True)
    result = fold(*story.events)
    key, m = one_row(result.contact_rows)  # type: ignore[arg-type]
    assert key == (TEN, QUEUE, "voice", "complaint")  # counted where it was answered
    assert (m["transfers"], m["escalations"]) == (1, 1)
    assert m["wait_answered_ms"] == 8_000  # the first wait only
    assert m["talk_ms"] == 90_000
    assert m["acw_ms"] == 20_000
    aiko = result.agent_rows[(TEN, AIKO, QUEUE, "voice", "complaint")]
    bunta = result.agent_rows[(TEN, BUNTA, QUEUE, "voice", "complaint")]
    assert (aiko["talk_ms"], aiko["transfers_out"], aiko["fcr_yes"], aiko["fcr_no"]) == (
        60_000,
        1,
        0,
        1,
    )
    assert (bunta["talk_ms"], bunta["acw_ms"], bunta["fcr_yes"], bunta["fcr_no"]) == (
        30_000,
        20_000,
        1,
        0,
    )


def test_a_declined_offer_keeps_the_wait_running() -> None:
    story = Story().created(at(0)).queued(at(0)).offered(at(0, 2), AIKO).declined(at(0, 10))
    story.offered(at(0, 11), BUNTA).connected(at(0, 25)).ended(at(1)).closed(at(1, 5))
    _key, m = one_row(fold(*story.events).contact_rows)  # type: ignore[arg-type]
    assert m["wait_answered_ms"] == 25_000
    assert m["answered_in_sl"] == 0


def test_a_contact_is_counted_in_the_interval_it_ended() -> None:
    story = Story().created(at(14, 50)).queued(at(14, 50)).offered(at(14, 52), AIKO)
    story.connected(at(14, 55)).ended(at(15, 30)).closed(at(16))
    key, _m = one_row(fold(*story.events).contact_rows)  # type: ignore[arg-type]
    assert key[0] == QUARTER


def test_callbacks_wait_from_when_they_are_due_and_are_kept_or_missed() -> None:
    kept = Story(channel="callback").created(at(0))
    kept.callback_scheduled(at(0), at(60)).queued(at(60), reason="callback_due")
    kept.offered(at(60, 10), AIKO).connected(at(60, 30)).ended(at(62)).closed(at(62, 10))
    missed = Story(channel="callback").created(at(1))
    missed.callback_scheduled(at(1), at(61)).queued(at(61), reason="callback_due")
    missed.abandoned(at(61, 20))
    withdrawn = Story(channel="callback").created(at(2))  # a web booking the customer cancelled
    withdrawn.callback_scheduled(at(2), at(90)).closed(at(30), outcome="cancelled")
    result = fold(*kept.events, *missed.events, *withdrawn.events)
    total: Measures = {}
    for measures in result.contact_rows.values():
        add_into(total, measures, CONTACT_MAXES)
    assert (total["callbacks"], total["callbacks_kept"], total["callbacks_missed"]) == (2, 1, 1)
    assert total["wait_answered_ms"] == 30_000


def test_closed_outside_hours_is_not_offered() -> None:
    story = Story().created(at(0)).closed(at(0), outcome="closed_hours")
    _key, m = one_row(fold(*story.events).contact_rows)  # type: ignore[arg-type]
    assert (m["offered"], m["unqueued"], m["wait_max_ms"]) == (0, 1, 0)


def test_agent_states_give_occupancy_and_utilisation() -> None:
    log = AgentLog(AIKO)
    log.state(at(0), "available").state(at(10), "on_contact").state(at(20), "after_call_work")
    log.state(at(25), "available").state(at(40), "not_ready", "break")
    log.state(at(50), "signed_out").state(at(70), "available")
    result = fold(*log.events)
    states: dict[str, int] = {}
    per_interval: dict[datetime, int] = {}
    for (start, agent, state, _reason), measures in result.state_rows.items():
        assert agent == AIKO
        states[state] = states.get(state, 0) + measures["state_ms"]
        per_interval[start] = per_interval.get(start, 0) + measures["state_ms"]
    assert states == {
        "available": 1_500_000,
        "on_contact": 600_000,
        "after_call_work": 300_000,
        "not_ready": 600_000,
    }
    assert per_interval[TEN] == 900_000  # 10:00-10:15 fully signed in
    assert result.state_rows[(QUARTER, AIKO, "on_contact", "")]["state_ms"] == 300_000
    figures = agent_figures({"handled": 3}, states)
    assert figures["occupancy"] == 0.375  # 900 s busy of 2,400 s staffed
    assert figures["utilisation"] == 0.3  # of 3,000 s signed in
    assert figures["contacts_per_hour"] == pytest.approx(3 / (3000 / 3600))


def test_a_repeated_agent_event_counts_once() -> None:
    log = AgentLog(AIKO).state(at(0), "available").state(at(5), "not_ready", "break")
    repeated = [*log.events, log.events[1]]
    log.state(at(6), "available")
    once = fold(*log.events)
    twice = fold(*repeated, log.events[-1])
    assert once.state_rows == twice.state_rows


def test_empty_figures_have_no_rates() -> None:
    figures = contact_figures({}, FigureOptions())
    assert figures["service_level"] is None and figures["asa_s"] is None
    assert agent_figures({}, None)["occupancy"] is None


def test_intervals_and_local_calendar() -> None:
    assert interval_start(at(14, 59)) == TEN
    assert interval_start(at(44), 30) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert interval_start(at(44), 60) == TEN
    late = datetime(2026, 11, 30, 15, 15, tzinfo=UTC)  # 00:15 on 1 December in Tokyo
    calendar = calendar_of(late, "Asia/Tokyo")
    assert calendar.day == date(2026, 12, 1)
    assert calendar.week == date(2026, 11, 30)  # a Monday
    assert calendar.month == date(2026, 12, 1)
    assert calendar_of(late, "UTC").day == date(2026, 11, 30)
    assert list(split_span(at(10), at(31))) == [
        (TEN, 300.0),
        (QUARTER, 900.0),
        (datetime(2026, 12, 1, 1, 30, tzinfo=UTC), 60.0),
    ]


# --- properties -----------------------------------------------------------------------


def random_day(seed: int, contacts: int) -> list[Event]:
    """A small random floor: contacts with random paths, two agents changing state."""
    import random

    rng = random.Random(seed)
    stories: list[Story] = []
    for index in range(contacts):
        start = at(rng.randint(0, 300), rng.randint(0, 59))
        story = Story(channel=rng.choice(["voice", "chat"])).created(start).queued(start)
        t = rng.uniform(0, 90)
        if rng.random() < 0.2:
            stories.append(story.abandoned(at(0, (start - at(0)).total_seconds() + t)))
            continue
        clock = (start - at(0)).total_seconds() + t
        agent = AIKO if index % 2 else BUNTA
        story.offered(at(0, clock), agent)
        clock += rng.uniform(1, 10)
        story.connected(at(0, clock))
        if rng.random() < 0.3:
            clock += rng.uniform(5, 60)
            story.held(at(0, clock))
            clock += rng.uniform(5, 60)
            story.resumed(at(0, clock))
        if rng.random() < 0.15:
            clock += rng.uniform(5, 60)
            story.transferred(at(0, clock), escalated=rng.random() < 0.5)
            clock += rng.uniform(1, 30)
            story.offered(at(0, clock), AIKO if agent == BUNTA else BUNTA)
            clock += 2
            story.connected(at(0, clock))
        clock += rng.uniform(30, 600)
        story.ended(at(0, clock))
        clock += rng.uniform(0, 120)
        story.closed(
            at(0, clock),
            category=rng.choice(["billing", "delivery", None]),
            resolved=rng.choice([True, False, None]),
        )
        stories.append(story)
    events: list[Event] = [e for story in stories for e in story.events]
    for agent in (AIKO, BUNTA):
        log = AgentLog(agent)
        for minute in range(0, 400, 7):
            log.state(at(minute, rng.randint(0, 59)), rng.choice(["available", "on_contact"]))
        events += log.events
    events.sort(key=lambda e: e.occurred_at)
    return events


def fold_in_batches(events: list[Event], cuts: list[int]) -> Fold:
    """What the projector does: a fresh Fold per batch over records kept in between (copied,
    as a database round trip would), with the batches' rows added together."""
    total = Fold()
    contacts: dict[uuid.UUID, object] = {}
    agents: dict[uuid.UUID, object] = {}
    bounds = [0, *sorted(set(cuts)), len(events)]
    for begin, end in itertools.pairwise(bounds):
        batch = Fold(contacts=copy.deepcopy(contacts), agents=copy.deepcopy(agents))  # type: ignore[arg-type]
        for event in events[begin:end]:
            batch.apply(event)
        contacts, agents = batch.contacts, batch.agents  # type: ignore[assignment]
        for key, m in batch.contact_rows.items():
            add_into(total.contact_rows.setdefault(key, {}), m, CONTACT_MAXES)
        for agent_key, m in batch.agent_rows.items():
            add_into(total.agent_rows.setdefault(agent_key, {}), m, AGENT_MAXES)
        for state_key, m in batch.state_rows.items():
            add_into(total.state_rows.setdefault(state_key, {}), m)
    return total


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(0, 2_000), max_size=8),
)
def test_batches_give_the_same_rows_as_one_pass(seed: int, cuts: list[int]) -> None:
    events = random_day(seed, 40)
    whole = fold(*events)
    parts = fold_in_batches(events, [c % (len(events) + 1) for c in cuts])
    assert parts.contact_rows == whole.contact_rows
    assert parts.agent_rows == whole.agent_rows
    assert parts.state_rows == whole.state_rows


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_sums_over_intervals_equal_the_sums_over_contacts(seed: int) -> None:
    result = fold(*random_day(seed, 60))
    by_interval: Measures = {}
    for measures in result.contact_rows.values():
        add_into(by_interval, measures, CONTACT_MAXES)
    by_contact: Measures = {}
    for record in result.finished:
        add_into(by_contact, contact_measures(record, QueueTargets()), CONTACT_MAXES)
    assert by_interval == by_contact
    assert by_interval["offered"] == by_interval["answered"] + by_interval["abandoned"]
    handled: Measures = {}
    for measures in result.agent_rows.values():
        add_into(handled, measures, AGENT_MAXES)
    # Every communicator part is counted: one per answer plus one per transfer.
    assert handled["handled"] == by_interval["answered"] + by_interval["transfers"]
    assert handled["talk_ms"] == by_interval["talk_ms"]
    assert handled["acw_ms"] == by_interval["acw_ms"]
