"""The IVR model and its interpreter, driven the way the voice worker drives them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.voice.interpreter import (
    HangUp,
    IvrSession,
    PlayPrompt,
    StartTimer,
    StopPrompt,
    TransferToQueue,
    branch_for,
)
from tsunagi.voice.ivr import (
    Flow,
    Hangup,
    Menu,
    OpeningHours,
    Play,
    TimeSwitch,
    ToQueue,
    flow_problems,
    parse_flow,
)

# 2026-12-02 is a Wednesday; 01:00 UTC = 10:00 in Tokyo.
WEDNESDAY_10_JST = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)

FLOW_JSON = b"""{
  "name": "main",
  "start": "hours",
  "nodes": {
    "hours": {"kind": "time_switch", "timezone": "Asia/Tokyo",
              "hours": [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}],
              "holidays": ["2026-12-31"],
              "open": "welcome", "closed": "closed", "holiday": "holiday"},
    "welcome": {"kind": "play", "prompts": ["welcome", "recorded"], "next": "menu"},
    "menu": {"kind": "menu", "prompt": "menu", "options": {"1": "orders", "2": "billing"},
             "timeout_s": 5, "max_attempts": 3, "invalid_prompt": "invalid",
             "on_failure": "orders"},
    "orders": {"kind": "to_queue", "queue": "orders"},
    "billing": {"kind": "to_queue", "queue": "billing"},
    "closed": {"kind": "hangup", "prompt": "closed"},
    "holiday": {"kind": "hangup", "prompt": "holiday"}
  }
}"""


@pytest.fixture
def flow() -> Flow:
    return parse_flow(FLOW_JSON)


def test_caller_presses_2_during_the_menu_prompt(flow: Flow) -> None:
    now = WEDNESDAY_10_JST
    ivr = IvrSession(flow)
    assert ivr.start(now) == [PlayPrompt("welcome")]
    assert ivr.digit("2", now) == []  # digits during announcements are ignored
    assert ivr.prompt_done(now) == [PlayPrompt("recorded")]
    assert ivr.prompt_done(now) == [PlayPrompt("menu")]
    assert ivr.digit("2", now) == [StopPrompt(), TransferToQueue("billing")]
    assert ivr.finished and ivr.outcome == TransferToQueue("billing")
    assert [(step.node, step.digit) for step in ivr.path] == [
        ("hours", None),
        ("welcome", None),
        ("menu", None),
        ("menu", "2"),
        ("billing", None),
    ]
    assert ivr.digits == ["2"]


def test_timeout_then_wrong_digit_then_right_one(flow: Flow) -> None:
    now = WEDNESDAY_10_JST
    ivr = IvrSession(flow)
    ivr.start(now)
    ivr.prompt_done(now)
    ivr.prompt_done(now)
    (timer,) = ivr.prompt_done(now)  # the menu prompt ended: wait for a digit
    assert isinstance(timer, StartTimer) and timer.seconds == 5
    assert ivr.timer_fired(timer.token, now) == [PlayPrompt("menu")]  # no timeout prompt
    (timer2,) = ivr.prompt_done(now)
    assert isinstance(timer2, StartTimer)
    assert ivr.timer_fired(timer.token, now) == []  # a stale timer does nothing
    assert ivr.digit("9", now) == [PlayPrompt("invalid")]
    assert ivr.timer_fired(timer2.token, now) == []  # the digit cancelled it
    assert ivr.prompt_done(now) == [PlayPrompt("menu")]
    assert ivr.digit("1", now) == [StopPrompt(), TransferToQueue("orders")]


def test_attempts_run_out_to_on_failure(flow: Flow) -> None:
    now = WEDNESDAY_10_JST
    ivr = IvrSession(flow)
    ivr.start(now)
    ivr.prompt_done(now)
    ivr.prompt_done(now)
    actions: list[object] = []
    for _ in range(3):
        (timer,) = ivr.prompt_done(now)
        assert isinstance(timer, StartTimer)
        actions = list(ivr.timer_fired(timer.token, now))
    assert actions == [TransferToQueue("orders")]


@pytest.mark.parametrize(
    ("moment", "branch"),
    [
        (WEDNESDAY_10_JST, "welcome"),
        (WEDNESDAY_10_JST + timedelta(hours=8), "closed"),  # 18:00 JST: closed (exclusive)
        (WEDNESDAY_10_JST + timedelta(hours=8) - timedelta(seconds=1), "welcome"),
        (WEDNESDAY_10_JST + timedelta(days=3), "closed"),  # Saturday
        (datetime(2026, 12, 31, 1, 0, tzinfo=UTC), "holiday"),  # a Thursday, but a holiday
    ],
)
def test_time_switch_uses_the_centers_zone(flow: Flow, moment: datetime, branch: str) -> None:
    node = flow.nodes["hours"]
    assert isinstance(node, TimeSwitch)
    assert branch_for(node, moment) == branch


def test_closed_plays_a_message_then_hangs_up(flow: Flow) -> None:
    saturday = WEDNESDAY_10_JST + timedelta(days=3)
    ivr = IvrSession(flow)
    assert ivr.start(saturday) == [PlayPrompt("closed")]
    assert ivr.prompt_done(saturday) == [HangUp()]
    assert ivr.outcome == HangUp()


def test_night_shift_spanning_midnight() -> None:
    node = TimeSwitch(
        hours=[OpeningHours(weekdays=[4], start="22:00", end="02:00")],  # Friday night
        open="o",
        closed="c",
    )
    friday_23 = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # 23:00 JST Friday
    assert branch_for(node, friday_23) == "o"
    assert branch_for(node, friday_23 + timedelta(hours=2)) == "o"  # Saturday 01:00
    assert branch_for(node, friday_23 + timedelta(hours=3)) == "c"  # Saturday 02:00
    assert branch_for(node, friday_23 - timedelta(days=1)) == "c"  # Thursday 23:00


def test_problems_are_reported_in_plain_words() -> None:
    flow = Flow(
        name="broken",
        start="nowhere",
        nodes={
            "a": Play(prompts=["x"], next="b"),
            "b": TimeSwitch(hours=[], open="a", closed="a", timezone="Mars/Base"),
            "m": Menu(prompt="p", options={"12": "gone"}, on_failure="q"),
            "q": ToQueue(queue="q1"),
            "h": Hangup(),
        },
    )
    problems = flow_problems(flow)
    assert "start node 'nowhere' does not exist" in problems
    assert "m: goes to missing node 'gone'" in problems
    assert "b: unknown time zone 'Mars/Base'" in problems
    assert any(p.startswith("m: options must be single digits") for p in problems)
    assert any("no caller input" in p for p in problems)


def test_invalid_json_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError):
        parse_flow(b'{"name": "x", "start": "a", "nodes": {"a": {"kind": "dance"}}}')
    with pytest.raises(InvalidInputError, match="missing node"):
        parse_flow(b'{"name": "x", "start": "a", "nodes": {"a": {"kind": "play", '
                   b'"prompts": ["p"], "next": "b"}}}')  # fmt: skip


def test_holidays_are_dates() -> None:
    node = TimeSwitch(hours=[], holidays=[date(2027, 1, 1)], open="o", closed="c")
    assert branch_for(node, datetime(2026, 12, 31, 15, 30, tzinfo=UTC)) == "c"  # 00:30 JST
