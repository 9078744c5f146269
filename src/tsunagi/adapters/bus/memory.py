"""In-process bus for the embedded profile, and the local fan-out both buses use."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from tsunagi.ports.bus import SubscriberOverflowError

# A subscriber that falls this far behind is cut off; it resumes from the outbox.
MAX_BACKLOG = 10_000


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.overflowed = False

    def offer(self, message: bytes | None) -> None:
        if self.overflowed:
            return
        if message is not None and self.queue.qsize() >= MAX_BACKLOG:
            self.overflowed = True
            message = None
        self.queue.put_nowait(message)

    async def messages(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.queue.get()
            if message is None:
                if self.overflowed:
                    raise SubscriberOverflowError(
                        "subscriber fell behind; resume from last_event_id"
                    )
                return
            yield message


class LocalFanout:
    """Delivers each message to every local subscriber of its channel, in order."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[_Subscriber]] = defaultdict(set)

    def channels(self) -> set[str]:
        return set(self._subscribers)

    def deliver(self, channel: str, message: bytes) -> None:
        for subscriber in list(self._subscribers.get(channel, ())):
            subscriber.offer(message)

    def close_all(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.offer(None)

    def add(self, channel: str) -> _Subscriber:
        subscriber = _Subscriber()
        self._subscribers[channel].add(subscriber)
        return subscriber

    def remove(self, channel: str, subscriber: _Subscriber) -> bool:
        """Forget ``subscriber``; True when it was the channel's last one."""
        self._subscribers[channel].discard(subscriber)
        if self._subscribers[channel]:
            return False
        del self._subscribers[channel]
        return True


class MemoryBus:
    """The embedded profile's bus: one process, no broker."""

    def __init__(self) -> None:
        self._fanout = LocalFanout()
        self._running = False

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False
        self._fanout.close_all()

    async def publish(self, channel: str, message: bytes) -> None:
        self._fanout.deliver(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for channel, message in messages:
            self._fanout.deliver(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        subscriber = self._fanout.add(channel)
        try:
            yield subscriber.messages()
        finally:
            self._fanout.remove(channel, subscriber)

    async def ping(self) -> bool:
        return self._running
