"""The one definition of every figure, used for live and historical views alike.

Aggregates hold *measures*: integer counts and integer milliseconds, so sums are exact and
a rebuild can be compared with the maintained rows for equality. Figures (rates and
averages) are computed from summed measures only here, never stored, so an interval, a
day or a year of one queue or of the whole center all use the same formula. See
``docs/figures.md`` for the prose of each definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Measures = dict[str, int]
# The figure functions below take the measures of one bucket (ints) or of many buckets at
# once (one int64 array per measure, ``actions.figures.tables``): the same formula either
# way. With arrays a ratio whose denominator is zero is NaN where the scalar gives None.
MeasuresIn = Mapping[str, Any]

# Survey answers (NPS 0-10, CSAT 1-5), counted once per answer in the interval in which it
# arrived (or in which its contact ended, if that was later): see ``figures.surveys``.
SURVEY_SUMS: tuple[str, ...] = (
    "nps_answers",
    "nps_promoters",
    "nps_detractors",
    "csat_answers",
    "csat_satisfied",
    "csat_score_sum",
)

# Measures of contacts, counted once per contact in the interval in which it ended.
CONTACT_SUMS: tuple[str, ...] = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answered_in_sl",
    "unqueued",
    "wait_answered_ms",
    "wait_abandoned_ms",
    "talk_ms",
    "hold_ms",
    "holds",
    "acw_ms",
    "transfers",
    "escalations",
    "fcr_yes",
    "fcr_no",
    "callbacks",
    "callbacks_kept",
    "callbacks_missed",
    *SURVEY_SUMS,
)
CONTACT_MAXES: tuple[str, ...] = ("wait_max_ms",)

# Measures of one communicator's part of a contact (a contact transferred once has two).
AGENT_SUMS: tuple[str, ...] = (
    "handled",
    "talk_ms",
    "hold_ms",
    "holds",
    "acw_ms",
    "transfers_out",
    "fcr_yes",
    "fcr_no",
    *SURVEY_SUMS,
)
AGENT_MAXES: tuple[str, ...] = ()

# Time in each agent state (signed out is not recorded).
STATE_SUMS: tuple[str, ...] = ("state_ms",)
AGENT_STATES: tuple[str, ...] = ("available", "on_contact", "after_call_work", "not_ready")


def empty(sums: Iterable[str], maxes: Iterable[str] = ()) -> Measures:
    return dict.fromkeys((*sums, *maxes), 0)


def add_into(target: Measures, source: Mapping[str, int], maxes: Iterable[str] = ()) -> None:
    """Add ``source`` into ``target``: sums add, the named maxima keep the larger value."""
    for name in maxes:
        target[name] = max(target.get(name, 0), source.get(name, 0))
    skip = set(maxes)
    for name, value in source.items():
        if name not in skip:
            target[name] = target.get(name, 0) + value


@dataclass(frozen=True, slots=True)
class FigureOptions:
    """Choices a report makes when turning measures into figures."""

    exclude_short_abandons: bool = True


def _ratio(numerator: Any, denominator: Any) -> Any:
    if isinstance(denominator, np.ndarray):
        # Integers below 2**53 become doubles exactly and the division is IEEE's, so each
        # value is the very float the scalar branch gives.
        out = np.full(denominator.shape, np.nan)
        np.divide(numerator, denominator, out=out, where=denominator > 0)
        return out
    return None if denominator <= 0 else numerator / denominator


def _seconds(ms: Any, count: Any) -> Any:
    value = _ratio(ms, count)
    return None if value is None else value / 1000


def repeat_figures(m: Mapping[str, int]) -> dict[str, float | None]:
    """即答率 checked by repeat contacts: judged contacts not followed by another contact of
    the same customer within the window ÷ judged contacts (``figures.repeats``)."""
    judged = m.get("repeat_judged", 0)
    repeated = m.get("repeated", 0)
    return {
        "fcr_repeat_rate": _ratio(judged - repeated, judged),
        "repeat_judged": judged,
        "repeated": repeated,
        "repeat_pending": m.get("repeat_pending", 0),
    }


def survey_figures(m: MeasuresIn) -> dict[str, Any]:
    """NPS (−100…+100), CSAT (share of 4-5 answers) and the average CSAT score (1-5)."""
    nps_answers = m.get("nps_answers", 0)
    csat_answers = m.get("csat_answers", 0)
    promoters_less_detractors = m.get("nps_promoters", 0) - m.get("nps_detractors", 0)
    return {
        "nps": _ratio(100 * promoters_less_detractors, nps_answers),
        "nps_answers": nps_answers,
        "csat": _ratio(m.get("csat_satisfied", 0), csat_answers),
        "csat_avg": _ratio(m.get("csat_score_sum", 0), csat_answers),
        "csat_answers": csat_answers,
    }


def contact_figures(m: MeasuresIn, options: FigureOptions) -> dict[str, Any]:
    """Figures of summed contact measures. ``None`` where the denominator is zero."""
    short = m.get("short_abandoned", 0) if options.exclude_short_abandons else 0
    offered = m.get("offered", 0) - short
    abandoned = m.get("abandoned", 0) - short
    answered = m.get("answered", 0)
    handle_ms = m.get("talk_ms", 0) + m.get("hold_ms", 0) + m.get("acw_ms", 0)
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "short_abandoned": m.get("short_abandoned", 0),
        "abandon_rate": _ratio(abandoned, offered),
        "service_level": _ratio(m.get("answered_in_sl", 0), offered),
        "asa_s": _seconds(m.get("wait_answered_ms", 0), answered),
        "longest_wait_s": m.get("wait_max_ms", 0) / 1000,
        "aht_s": _seconds(handle_ms, answered),
        "avg_talk_s": _seconds(m.get("talk_ms", 0), answered),
        "avg_hold_s": _seconds(m.get("hold_ms", 0), answered),
        "avg_acw_s": _seconds(m.get("acw_ms", 0), answered),
        "holds": m.get("holds", 0),
        "transfers": m.get("transfers", 0),
        "escalations": m.get("escalations", 0),
        "fcr_rate": _ratio(m.get("fcr_yes", 0), m.get("fcr_yes", 0) + m.get("fcr_no", 0)),
        "callbacks": m.get("callbacks", 0),
        "callbacks_kept": m.get("callbacks_kept", 0),
        "callbacks_missed": m.get("callbacks_missed", 0),
        "unqueued": m.get("unqueued", 0),
        **survey_figures(m),
    }


def agent_figures(m: MeasuresIn, states_ms: MeasuresIn | None = None) -> dict[str, Any]:
    """Figures of one communicator (or a group): handling, 即答率, occupancy, utilisation.

    ``states_ms`` is the time in each agent state over the same buckets; without it the
    state-based figures are ``None``.
    """
    handled = m.get("handled", 0)
    handle_ms = m.get("talk_ms", 0) + m.get("hold_ms", 0) + m.get("acw_ms", 0)
    figures: dict[str, Any] = {
        "handled": handled,
        "aht_s": _seconds(handle_ms, handled),
        "avg_talk_s": _seconds(m.get("talk_ms", 0), handled),
        "avg_hold_s": _seconds(m.get("hold_ms", 0), handled),
        "avg_acw_s": _seconds(m.get("acw_ms", 0), handled),
        "holds": m.get("holds", 0),
        "transfers_out": m.get("transfers_out", 0),
        "fcr_rate": _ratio(m.get("fcr_yes", 0), m.get("fcr_yes", 0) + m.get("fcr_no", 0)),
        "occupancy": None,
        "utilisation": None,
        "contacts_per_hour": None,
        "signed_in_s": None,
        **survey_figures(m),
    }
    if states_ms is not None:
        busy = states_ms.get("on_contact", 0) + states_ms.get("after_call_work", 0)
        staffed = busy + states_ms.get("available", 0)
        signed_in = staffed + states_ms.get("not_ready", 0)
        figures["occupancy"] = _ratio(busy, staffed)
        figures["utilisation"] = _ratio(busy, signed_in)
        figures["contacts_per_hour"] = _ratio(handled * 3_600_000, signed_in)
        figures["signed_in_s"] = signed_in / 1000
    return figures
