"""``contact.closed`` gained ``sub_reason`` and ``suggested_categories``: old events (without
them) still decode, new ones round-trip, and the figures fold counts a contact the same
whether or not they are present. The rules of a follow-up and of the suggested list are
checked here too (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import decode_event, encode_event
from tsunagi.domain.follow_ups import DueState, FollowUpDraft, check_draft, due_state
from tsunagi.figures.fold import Fold, QueueTargets
from tsunagi.knowledge.suggest import hit_rate
from tsunagi.routing.events import ContactClosedEvent
from tsunagi.routing.wrap_up import check_suggested
from unit.figures.figures_events import AIKO, Story, at

OLD_CLOSE = (
    '{"type":"contact.closed","tenant_id":"00000000-0000-4000-8000-00000000000a",'
    '"occurred_at":"2026-12-01T01:05:00Z","actor":null,'
    '"contact_id":"00000000-0000-4000-8000-0000000000c1","version":6,"state":"closed",'
    '"channel":"voice","queue_id":null,"agent_id":null,"last_agent_id":null,'
    '"outcome":"handled","category":"billing","resolved_first_contact":true}'
)


def test_an_old_close_event_decodes_with_the_new_fields_empty() -> None:
    event = decode_event(OLD_CLOSE)
    assert isinstance(event, ContactClosedEvent)
    assert (event.category, event.sub_reason, event.suggested_categories) == ("billing", None, [])


def test_a_new_close_event_round_trips() -> None:
    old = decode_event(OLD_CLOSE)
    assert isinstance(old, ContactClosedEvent)
    new = msgspec.structs.replace(
        old, sub_reason="late", suggested_categories=["billing", "delivery-time"]
    )
    again = decode_event(encode_event(new))
    assert again == new
    assert b'"suggested_categories":["billing","delivery-time"]' in encode_event(new)


def folded(with_new_fields: bool) -> dict[tuple[object, ...], dict[str, int]]:
    story = Story().created(at(0)).queued(at(0)).connected(at(0, 12), AIKO).ended(at(3))
    story.closed(at(4), category="billing", resolved=True)
    if with_new_fields:
        last = story.events[-1]
        assert isinstance(last, ContactClosedEvent)
        story.events[-1] = msgspec.structs.replace(
            last, sub_reason="late", suggested_categories=["delivery-time", "billing"]
        )
    result = Fold(targets=lambda _queue: QueueTargets())
    for event in story.events:
        result.apply(event)
    return {key[1:]: dict(measures) for key, measures in result.contact_rows.items()}


def test_the_fold_counts_the_same_with_or_without_the_new_fields() -> None:
    before, after = folded(False), folded(True)
    assert before == after
    [(key, measures)] = after.items()
    assert key[-1] == "billing" and measures["fcr_yes"] == 1


def test_suggested_categories_rules() -> None:
    assert check_suggested(["a", "b", "c"]) == ["a", "b", "c"]
    assert check_suggested([]) == []
    for bad in (["a", "b", "c", "d"], ["a", "a"], [""], ["x" * 64]):
        with pytest.raises(InvalidInputError, match="suggested_categories"):
            check_suggested(bad)
    rate = hit_rate([(["a", "b"], "a"), (["a", "b"], "b"), (["a"], "c")])
    assert (rate.total, rate.top1, rate.top3) == (3, 1, 2)


def test_follow_up_rules_and_due_states() -> None:
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
    tokyo = ZoneInfo("Asia/Tokyo")
    assert check_draft(FollowUpDraft(due_at=now + timedelta(hours=1), note="  x "), now) == "x"
    assert check_draft(FollowUpDraft(due_at=now - timedelta(minutes=4)), now) is None
    with pytest.raises(InvalidInputError, match=r"^follow_up\.due_at"):
        check_draft(FollowUpDraft(due_at=now - timedelta(minutes=6)), now)
    with pytest.raises(InvalidInputError, match=r"^due_at"):
        check_draft(FollowUpDraft(due_at=now.replace(tzinfo=None)), now, field="")
    today = date(2026, 12, 2)

    def state(due: datetime) -> DueState:
        return due_state(due, now, today, local=due.astimezone(tokyo))

    assert state(now - timedelta(seconds=1)) is DueState.OVERDUE
    assert state(now + timedelta(hours=11)) is DueState.TODAY  # 23:00 in Tokyo
    assert state(now + timedelta(hours=13)) is DueState.LATER  # 01:00 tomorrow in Tokyo
