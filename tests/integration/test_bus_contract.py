"""One contract, two buses: the in-memory bus and Redis pub/sub behave the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from testkit import REDIS_URL, redis_available, require
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.bus.redis import RedisBus
from tsunagi.ports.bus import EventBus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    made: EventBus
    if request.param == "redis":
        require(redis_available(), "Redis on 127.0.0.1:6379")
        made = RedisBus(REDIS_URL, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    else:
        made = MemoryBus()
    await made.start()
    yield made
    await made.stop()


async def take(messages: AsyncIterator[bytes], count: int, timeout: float = 5) -> list[bytes]:
    async def collect() -> list[bytes]:
        got: list[bytes] = []
        async for message in messages:
            got.append(message)
            if len(got) == count:
                break
        return got

    return await asyncio.wait_for(collect(), timeout)


async def nothing_arrives(messages: AsyncIterator[bytes], wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(messages.__anext__(), wait)
    except TimeoutError:
        return True
    return False


async def test_messages_arrive_in_order_and_intact(bus: EventBus) -> None:
    payloads = [bytes([i]) * (i + 1) + "日本語".encode() for i in range(50)]
    async with bus.subscribe("orders") as messages:
        for payload in payloads:
            await bus.publish("orders", payload)
        assert await take(messages, len(payloads)) == payloads


async def test_a_batch_arrives_in_order_on_each_of_its_channels(bus: EventBus) -> None:
    """``publish_many`` (the relay's and the engine's batches): each message on its own
    channel, in the batch's order, as single publishes would bring them."""
    batch = [("left" if i % 3 else "right", f"{i} 日本語".encode()) for i in range(40)]
    async with bus.subscribe("left") as left, bus.subscribe("right") as right:
        await bus.publish_many(batch)
        await bus.publish_many([])
        await bus.publish_many([("right", b"alone")])  # a batch of one
        assert await take(left, 26) == [m for c, m in batch if c == "left"]
        assert await take(right, 15) == [m for c, m in batch if c == "right"] + [b"alone"]
        assert await nothing_arrives(left)


async def test_every_subscriber_gets_every_message(bus: EventBus) -> None:
    async with bus.subscribe("fan") as first, bus.subscribe("fan") as second:
        await bus.publish("fan", b"one")
        await bus.publish("fan", b"two")
        assert await take(first, 2) == [b"one", b"two"]
        assert await take(second, 2) == [b"one", b"two"]


async def test_channels_are_separate(bus: EventBus) -> None:
    async with bus.subscribe("events:a") as a_messages, bus.subscribe("events:b") as b_messages:
        await bus.publish("events:a", b"for a")
        assert await take(a_messages, 1) == [b"for a"]
        assert await nothing_arrives(b_messages)


async def test_nothing_after_unsubscribing(bus: EventBus) -> None:
    async with bus.subscribe("gone") as messages:
        await bus.publish("gone", b"before")
        assert await take(messages, 1) == [b"before"]
    async with bus.subscribe("other") as other:
        await bus.publish("gone", b"after")
        await bus.publish("other", b"marker")
        assert await take(other, 1) == [b"marker"]


async def test_a_subscription_is_live_when_entered(bus: EventBus) -> None:
    for attempt in range(20):
        async with bus.subscribe(f"race-{attempt}") as messages:
            await bus.publish(f"race-{attempt}", b"first")
            assert await take(messages, 1) == [b"first"]


async def test_ping_reports_health(bus: EventBus) -> None:
    assert await bus.ping()
