"""即答率 by repeat contacts on a hand-built sequence of one week and a half."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tsunagi.figures.definitions import repeat_figures
from tsunagi.figures.repeats import Visit, repeat_counts

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def day(n: float, minutes: float = 10) -> tuple[datetime, datetime]:
    """(arrived, ended) of a contact ``n`` days after Monday 09:00, lasting ``minutes``."""
    arrived = MONDAY + timedelta(days=n)
    return arrived, arrived + timedelta(minutes=minutes)


def visit(
    customer: str, n: float, *, judged: bool = True, offered: bool = True, key: str = "a"
) -> Visit:
    arrived, ended = day(n)
    return Visit(customer, arrived, ended, offered=offered, judged=judged, keys=(key,))


def test_repeats_within_the_window_and_after_it() -> None:
    visits = [
        # Customer A calls Monday, again Friday (4 days: a repeat), again 8.5 days later.
        visit("A", 0),
        visit("A", 4),
        visit("A", 12.5),
        # B calls Monday and again 7 days and 5 minutes later: inside end + 7 days.
        visit("B", 0),
        visit("B", 7 + 5 / 1440),
        # C calls Monday, then only reaches the IVR (never queued) on Tuesday: no repeat.
        visit("C", 0),
        visit("C", 1, offered=False, judged=False),
        # D's first call was abandoned (not judged) but the second, answered, is.
        visit("D", 0, judged=False),
        visit("D", 2),
    ]
    horizon = MONDAY + timedelta(days=20)
    counts = repeat_counts(visits, horizon)
    # Judged: A×3, B×2, C×1, D×1 = 7; repeated: A Monday, B Monday = 2 (A Friday's next
    # call is 8.5 days after it: too late).
    assert counts == {("a",): {"repeat_judged": 7, "repeated": 2, "repeat_pending": 0}}
    figures = repeat_figures(counts[("a",)])
    assert figures["fcr_repeat_rate"] == 5 / 7


def test_a_contact_whose_window_is_still_open_is_pending() -> None:
    visits = [visit("A", 0, key="mon"), visit("A", 6, key="sun"), visit("B", 10, key="late")]
    horizon = MONDAY + timedelta(days=12)
    counts = repeat_counts(visits, horizon)
    assert counts[("mon",)] == {"repeat_judged": 1, "repeated": 1, "repeat_pending": 0}
    assert counts[("sun",)] == {"repeat_judged": 0, "repeated": 0, "repeat_pending": 1}
    assert counts[("late",)] == {"repeat_judged": 0, "repeated": 0, "repeat_pending": 1}
    assert repeat_figures(counts[("late",)])["fcr_repeat_rate"] is None


def test_a_contact_arriving_at_the_same_moment_is_not_its_repeat() -> None:
    arrived, ended = day(0)
    same = [
        Visit("A", arrived, ended, offered=True, judged=True, keys=("x",)),
        Visit("A", arrived, ended, offered=True, judged=True, keys=("x",)),
    ]
    counts = repeat_counts(same, MONDAY + timedelta(days=30))
    assert counts[("x",)]["repeated"] == 0
    assert counts[("x",)]["repeat_judged"] == 2


def test_the_window_is_per_contact() -> None:
    arrived, ended = day(0)
    short = Visit("A", arrived, ended, True, True, ("x",), timedelta(days=1))
    later = visit("A", 3, judged=False)
    counts = repeat_counts([short, later], MONDAY + timedelta(days=30))
    assert counts[("x",)]["repeated"] == 0
