"""Redis pub/sub bus for the scale-out profile.

One pub/sub connection per process; a listener task hands each message to the local
fan-out. Channel names are used verbatim (no case folding), prefixed per deployment.
Pub/sub keeps no history: resume is served from the outbox, never from Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from tsunagi.adapters.bus.memory import LocalFanout
from tsunagi.aio import stop_tasks, wait_event

log = logging.getLogger(__name__)
CONTROL_CHANNEL = "_bus"


class RedisBus:
    def __init__(self, url: str, *, prefix: str = "tsunagi:") -> None:
        self._url = url
        self._prefix = prefix
        self._fanout = LocalFanout()
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._client = aioredis.Redis.from_url(self._url)
        await self._client.ping()
        self._pubsub = self._client.pubsub()
        # A standing subscription opens the pub/sub connection before anyone listens.
        await self._pubsub.subscribe(self._prefix + CONTROL_CHANNEL)
        self._listener = asyncio.create_task(self._listen(), name="redis-bus-listener")

    async def stop(self) -> None:
        await stop_tasks([self._listener])
        self._fanout.close_all()
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._client is not None:
            await self._client.aclose()

    async def publish(self, channel: str, message: bytes) -> None:
        assert self._client is not None, "bus not started"
        await self._client.publish(self._prefix + channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        assert self._client is not None, "bus not started"
        if not messages:
            return
        # A pipeline (not a transaction): one write and one read for the lot, in order.
        async with self._client.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(self._prefix + channel, message)
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        assert self._pubsub is not None, "bus not started"
        async with self._lock:
            first = channel not in self._fanout.channels()
            subscriber = self._fanout.add(channel)
            if first:
                confirmed = self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(self._prefix + channel)
        if first:
            if not await wait_event(confirmed, 5):
                raise TimeoutError(f"redis did not confirm the subscription to {channel}")
        else:
            await self._confirmed[channel].wait()
        try:
            yield subscriber.messages()
        finally:
            async with self._lock:
                if self._fanout.remove(channel, subscriber):
                    self._confirmed.pop(channel, None)
                    await self._pubsub.unsubscribe(self._prefix + channel)

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(await self._client.ping())
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            return False

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (aioredis.ConnectionError, OSError):
                log.exception("redis bus lost its connection; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()[len(self._prefix) :]
            if message["type"] == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
            elif message["type"] == "message":
                self._fanout.deliver(channel, message["data"])
