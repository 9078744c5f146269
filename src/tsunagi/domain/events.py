"""Typed domain events.

Every state change in Tsunagi is announced by one event class. A class name ends
in ``Event`` and its ``type`` tag is ``noun.past_verb`` (``contact.queued``).
Events are msgspec structs so they encode to JSON and decode back to the right
class from the tag alone. ``resource`` names what an event reveals, so
subscriptions can be authorised with the same table as routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event. Subclasses set ``tag="noun.past_verb"`` and ``resource``."""

    resource: ClassVar[str] = "event"

    tenant_id: UUID
    occurred_at: datetime
    actor: str | None = None

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str), f"{cls.__name__} must declare tag='noun.past_verb'"
        return tag


def event_classes() -> dict[str, type[Event]]:
    """All concrete event classes by type name (subclasses of subclasses included)."""
    found: dict[str, type[Event]] = {}
    stack: list[type[Event]] = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag
        if isinstance(tag, str):
            found[tag] = cls
    return found


def encode_event(event: Event) -> bytes:
    return msgspec.json.encode(event)


def decode_event(data: bytes | str) -> Event:
    classes = tuple(event_classes().values())
    union: Any = classes[0] if len(classes) == 1 else _union(classes)
    result: Event = msgspec.json.decode(data, type=union)
    return result


def event_payload(event: Event) -> dict[str, Any]:
    """The event as JSON-ready builtins (UUIDs and datetimes as strings)."""
    payload: dict[str, Any] = msgspec.to_builtins(event)
    return payload


def _union(classes: tuple[type[Event], ...]) -> Any:
    union: Any = classes[0]
    for cls in classes[1:]:
        union = union | cls
    return union
