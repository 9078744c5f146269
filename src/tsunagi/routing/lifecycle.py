"""The contact lifecycle shared by every channel, as a validated state machine.

``created → (ivr) → queued → offered → connected ⇄ on_hold → wrap_up → closed`` with the
``abandoned`` and ``callback_scheduled`` branches. *Transferred* and *escalated* are not
states of their own: they are transitions back to ``queued`` (to a queue, a named agent,
or the supervisors' escalation queue), announced by their own events, so a contact is
always in exactly one of the states below and every figure can be derived from events.
"""

from __future__ import annotations

import enum

from tsunagi.domain.errors import ConflictError


class ContactState(enum.StrEnum):
    CREATED = "created"
    IVR = "ivr"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"
    CALLBACK_SCHEDULED = "callback_scheduled"
    CLOSED = "closed"
    ABANDONED = "abandoned"


S = ContactState

TRANSITIONS: dict[ContactState, frozenset[ContactState]] = {
    S.CREATED: frozenset({S.IVR, S.QUEUED, S.CALLBACK_SCHEDULED, S.CLOSED, S.ABANDONED}),
    S.IVR: frozenset({S.QUEUED, S.CALLBACK_SCHEDULED, S.CLOSED, S.ABANDONED}),
    # queued → queued is a move: overflow, supervisor move, transfer while waiting.
    S.QUEUED: frozenset({S.QUEUED, S.OFFERED, S.CALLBACK_SCHEDULED, S.CLOSED, S.ABANDONED}),
    # offered → queued: rejected, missed (timeout) or its lease lost with a dead worker.
    S.OFFERED: frozenset({S.CONNECTED, S.QUEUED, S.ABANDONED}),
    # connected → queued: blind transfer or escalation; → wrap_up: the conversation ended.
    S.CONNECTED: frozenset({S.ON_HOLD, S.WRAP_UP, S.QUEUED}),
    S.ON_HOLD: frozenset({S.CONNECTED, S.WRAP_UP, S.QUEUED}),
    S.WRAP_UP: frozenset({S.CLOSED}),
    S.CALLBACK_SCHEDULED: frozenset({S.QUEUED, S.CLOSED, S.ABANDONED}),
    S.CLOSED: frozenset(),
    S.ABANDONED: frozenset(),
}

TERMINAL: frozenset[ContactState] = frozenset({S.CLOSED, S.ABANDONED})
WAITING: frozenset[ContactState] = frozenset({S.QUEUED})
# States in which the contact occupies one unit of an agent's channel capacity.
HELD: frozenset[ContactState] = frozenset({S.OFFERED, S.CONNECTED, S.ON_HOLD, S.WRAP_UP})
# States in which an agent is talking/writing with the customer.
IN_CONVERSATION: frozenset[ContactState] = frozenset({S.CONNECTED, S.ON_HOLD})


def can_transition(current: ContactState, target: ContactState) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: ContactState, target: ContactState) -> ContactState:
    """Return ``target`` if the lifecycle allows it, else raise :class:`ConflictError`."""
    if target not in TRANSITIONS[current]:
        raise ConflictError(f"a contact cannot go from {current} to {target}")
    return target
