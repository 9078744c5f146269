"""The voice plan's place-in-line settings: which prompt says which place, and what
validation refuses."""

from __future__ import annotations

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.voice.plan import parse_plan

BASE = {
    "numbers": {"0120000000": {"tenant": "demo", "flow": "main"}},
    "flows": {
        "main": {
            "name": "main",
            "start": "q",
            "nodes": {"q": {"kind": "to_queue", "queue": "billing"}},
        }
    },
}


def test_places_up_to_the_last_prompt_have_their_own_then_many() -> None:
    plan = parse_plan({**BASE, "announce_every_s": 45, "position_prompts": 3})
    assert [plan.position_media(n) for n in (1, 2, 3, 4, 50)] == [
        "position-1",
        "position-2",
        "position-3",
        "position-many",
        "position-many",
    ]
    assert parse_plan(BASE).announce_every_s is None  # off unless asked for


@pytest.mark.parametrize(
    ("setting", "value"),
    [("announce_every_s", 1), ("announce_every_s", 7200), ("position_prompts", 0)],
)
def test_out_of_range_settings_are_refused_by_name(setting: str, value: int) -> None:
    with pytest.raises(InvalidInputError, match=setting):
        parse_plan({**BASE, setting: value})
