"""First-contact resolution checked by repeat contacts (pure).

The wrap-up flag says what the communicator believed; the check asks what the customer
did: a contact counts as **repeated** when the same customer (the same keyed hash of the
same kind of identifier) reached a queue again after it arrived and no later than its end
plus the window (``N`` days, default 7; ``queues.config.figures.repeat_window_days`` of
the first contact's queue). Only answered contacts with a known customer are *judged*,
and only once their window has passed the horizon (the latest arrival the tenant's
figures hold): until then they are *pending*. A repeat is known only later, so the check
is computed when a report asks, from the per-contact records — it is not kept in the
interval rows (see docs/decisions/0520-fcr-repeat-check-at-report-time.md).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tsunagi.figures.definitions import Measures

DEFAULT_REPEAT_DAYS = 7
REPEAT_SUMS = ("repeat_judged", "repeated", "repeat_pending")


@dataclass(frozen=True, slots=True)
class Visit:
    """One contact as the check sees it."""

    customer: str
    arrived: datetime
    ended: datetime
    offered: bool  # reached a queue: a later one of these is a repeat
    judged: bool  # answered and inside the report's days and filters
    keys: tuple[str, ...] = ()  # the report's dimensions of this contact
    window: timedelta = timedelta(days=DEFAULT_REPEAT_DAYS)


def repeat_counts(visits: Iterable[Visit], horizon: datetime) -> dict[tuple[str, ...], Measures]:
    """``repeat_judged``, ``repeated`` and ``repeat_pending`` per dimension key."""
    by_customer: dict[str, list[Visit]] = {}
    for visit in visits:
        by_customer.setdefault(visit.customer, []).append(visit)
    out: dict[tuple[str, ...], Measures] = {}
    for own in by_customer.values():
        later = sorted(v.arrived for v in own if v.offered)
        for visit in own:
            if not visit.judged:
                continue
            slot = out.setdefault(visit.keys, dict.fromkeys(REPEAT_SUMS, 0))
            until = visit.ended + visit.window
            if until > horizon:
                slot["repeat_pending"] += 1
                continue
            slot["repeat_judged"] += 1
            position = bisect.bisect_right(later, visit.arrived)
            if position < len(later) and later[position] <= until:
                slot["repeated"] += 1
    return out
