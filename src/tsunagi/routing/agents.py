"""Agents (communicators) as routing sees them: skills, channel capacities and states.

An agent's *presence* is what the agent (or a supervisor) chose: signed out, ready, or
not ready with a reason code. The reported *state* adds what the agent is doing, derived
from the contacts the agent holds, so it can never disagree with them:

* ``signed_out`` / ``not_ready`` — presence wins (an agent may finish a contact while not
  ready, e.g. after asking for a break during a call);
* ``on_contact`` — at least one contact offered, connected or on hold;
* ``after_call_work`` — only contacts in wrap-up (each ends at the queue's ACW maximum);
* ``available`` — ready with nothing held.
"""

from __future__ import annotations

import enum

import msgspec

from tsunagi.domain.errors import InvalidInputError

MAX_PROFICIENCY = 10
CHANNELS: tuple[str, ...] = ("voice", "chat", "email", "sms", "callback")


class Presence(enum.StrEnum):
    SIGNED_OUT = "signed_out"
    READY = "ready"
    NOT_READY = "not_ready"


class AgentState(enum.StrEnum):
    SIGNED_OUT = "signed_out"
    AVAILABLE = "available"
    ON_CONTACT = "on_contact"
    AFTER_CALL_WORK = "after_call_work"
    NOT_READY = "not_ready"


class NotReadyReason(enum.StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    MEETING = "meeting"
    TRAINING = "training"
    BACK_OFFICE = "back_office"
    COACHING = "coaching"
    MISSED_OFFER = "missed_offer"
    REJECTED_OFFER = "rejected_offer"
    OTHER = "other"


class AgentProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What an agent can take: proficiency (1-10) per skill and concurrent contacts per channel."""

    skills: dict[str, int] = msgspec.field(default_factory=dict)
    capacity: dict[str, int] = msgspec.field(default_factory=lambda: {"voice": 1})

    def validated(self) -> AgentProfile:
        for skill, level in self.skills.items():
            if not skill or not 1 <= level <= MAX_PROFICIENCY:
                raise InvalidInputError(
                    f"skill {skill!r}: proficiency must be 1-{MAX_PROFICIENCY}, got {level}"
                )
        for channel, slots in self.capacity.items():
            if channel not in CHANNELS:
                raise InvalidInputError(f"unknown channel {channel!r}; known: {CHANNELS}")
            if not 0 <= slots <= 20:
                raise InvalidInputError(f"capacity for {channel} must be 0-20, got {slots}")
        return self


def state_of(presence: Presence, *, engaged: int, wrapping: int) -> AgentState:
    """The reported state: ``engaged`` contacts are offered, connected or on hold."""
    if presence is Presence.SIGNED_OUT:
        return AgentState.SIGNED_OUT
    if presence is Presence.NOT_READY:
        return AgentState.NOT_READY
    if engaged:
        return AgentState.ON_CONTACT
    if wrapping:
        return AgentState.AFTER_CALL_WORK
    return AgentState.AVAILABLE
