"""The event bus: transport for published events between processes.

The bus is never the truth. It carries sequenced envelopes from the relay to every
process that holds WebSocket subscribers; anything lost in transit is recovered from
the outbox by sequence number. Delivery is at-least-once and in publish order per
channel for a connected subscriber.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class SubscriberOverflowError(Exception):
    """A subscriber fell too far behind its channel (the bus keeps a bounded backlog per
    subscriber): its iterator raises this. Resume from the outbox (``last_event_id``) or
    reconnect for a new snapshot."""


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """``publish`` each (channel, message) in turn, in one round trip to a broker."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Messages published on ``channel`` after the subscription is active; the iterator
        raises :class:`SubscriberOverflowError` if the subscriber falls too far behind."""
        ...

    async def ping(self) -> bool:
        """Whether the bus can carry messages now (for the health endpoint)."""
        ...
