"""Lifecycle transitions, agent states and queue settings."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.routing.agents import AgentProfile, AgentState, Presence, state_of
from tsunagi.routing.lifecycle import TERMINAL, TRANSITIONS, ContactState, check_transition
from tsunagi.routing.queues import Admission, OverflowAction, admit, is_open, routing_settings

S = ContactState


def test_happy_path_is_allowed_and_terminal_states_are_final() -> None:
    path = [
        S.CREATED,
        S.IVR,
        S.QUEUED,
        S.OFFERED,
        S.CONNECTED,
        S.ON_HOLD,
        S.CONNECTED,
        S.WRAP_UP,
        S.CLOSED,
    ]
    for current, target in itertools.pairwise(path):
        assert check_transition(current, target) is target
    for state in TERMINAL:
        assert TRANSITIONS[state] == frozenset()


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CLOSED, S.QUEUED),
        (S.ABANDONED, S.OFFERED),
        (S.QUEUED, S.CONNECTED),
        (S.WRAP_UP, S.CONNECTED),
        (S.CONNECTED, S.ABANDONED),
        (S.CREATED, S.OFFERED),
    ],
)
def test_illegal_transitions_raise(current: ContactState, target: ContactState) -> None:
    with pytest.raises(ConflictError):
        check_transition(current, target)


def test_every_state_is_reachable_from_created() -> None:
    seen, frontier = {S.CREATED}, [S.CREATED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(ContactState)


def test_agent_state_is_derived_from_presence_and_contacts() -> None:
    assert state_of(Presence.READY, engaged=0, wrapping=0) is AgentState.AVAILABLE
    assert state_of(Presence.READY, engaged=1, wrapping=1) is AgentState.ON_CONTACT
    assert state_of(Presence.READY, engaged=0, wrapping=1) is AgentState.AFTER_CALL_WORK
    assert state_of(Presence.NOT_READY, engaged=1, wrapping=0) is AgentState.NOT_READY
    assert state_of(Presence.SIGNED_OUT, engaged=0, wrapping=0) is AgentState.SIGNED_OUT


def test_agent_profile_validation() -> None:
    AgentProfile(skills={"gas": 10}, capacity={"chat": 3}).validated()
    with pytest.raises(InvalidInputError):
        AgentProfile(skills={"gas": 11}).validated()
    with pytest.raises(InvalidInputError):
        AgentProfile(capacity={"fax": 1}).validated()


def test_queue_settings_defaults_and_validation() -> None:
    settings = routing_settings({})
    assert settings.routing_skill("billing") == "billing"
    vip = routing_settings({"routing": {"vip_skill": "vip-desk"}})
    assert vip.routing_skill("billing", vip=True) == "vip-desk"
    with pytest.raises(InvalidInputError):
        routing_settings({"routing": {"overflow_action": "queue"}})
    with pytest.raises(InvalidInputError):
        routing_settings({"routing": {"business_hours": {"mon": [["18:00", "09:00"]]}}})
    with pytest.raises(InvalidInputError):
        routing_settings({"routing": {"no_such_field": 1}})


def test_business_hours_holidays_and_size_in_the_center_time_zone() -> None:
    settings = routing_settings(
        {
            "routing": {
                "business_hours": {"mon": [["09:00", "18:00"]]},
                "holidays": ["2026-01-12"],
                "max_size": 2,
                "closed_action": "callback",
            }
        }
    )
    monday_10_jst = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    monday_19_jst = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert is_open(settings, monday_10_jst, "Asia/Tokyo")
    assert not is_open(settings, monday_19_jst, "Asia/Tokyo")
    assert not is_open(settings, datetime(2026, 1, 12, 1, 0, tzinfo=UTC), "Asia/Tokyo")
    assert settings.holidays == [date(2026, 1, 12)]
    assert settings.closed_action is OverflowAction.CALLBACK
    assert admit(settings, at=monday_10_jst, timezone="Asia/Tokyo", waiting=1) is Admission.ADMIT
    assert admit(settings, at=monday_10_jst, timezone="Asia/Tokyo", waiting=2) is Admission.FULL
    assert admit(settings, at=monday_19_jst, timezone="Asia/Tokyo", waiting=0) is Admission.CLOSED
