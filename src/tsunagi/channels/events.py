"""Events of conversations on the written channels.

They carry ids, counts and kinds, never text: message bodies and subjects are personal
data and stay sealed in the database. Their resource is ``conversation``.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

import msgspec

from tsunagi.domain.events import Event


class ConversationEvent(Event, frozen=True, kw_only=True, tag=False):
    resource: ClassVar[str] = "conversation"
    conversation_id: UUID
    contact_id: UUID | None = None
    channel: str


class ConversationStartedEvent(
    ConversationEvent, frozen=True, kw_only=True, tag="conversation.started"
):
    queue_id: UUID
    state: str  # bot | open
    topic: str | None = None
    identified: bool = False


class ConversationMessageAddedEvent(
    ConversationEvent, frozen=True, kw_only=True, tag="conversation.message_added"
):
    message_id: UUID
    seq: int
    direction: str  # in | out | note
    author: str  # customer | agent | bot | system
    attachments: int = 0
    flags: list[str] = msgspec.field(default_factory=list)


class ConversationHandedOverEvent(
    ConversationEvent, frozen=True, kw_only=True, tag="conversation.bot_released"
):
    """The bot let go of the conversation: handed to a communicator (asked for, or not
    answered well enough)."""

    bot_turns: int
    reason: str  # asked | low_confidence | no_answer | turn_limit


class ConversationClosedEvent(
    ConversationEvent, frozen=True, kw_only=True, tag="conversation.closed"
):
    by: str  # customer | agent | system
    bot_outcome: str | None = None
