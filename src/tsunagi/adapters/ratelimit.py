"""Fixed-window attempt counters (sign-in and, later, public endpoints).

In memory for the embedded profile; in Redis (INCR + EXPIRE, atomic per key) when
several processes serve the same users.
"""

from __future__ import annotations

import time
from typing import Protocol

import redis.asyncio as aioredis


class AttemptLimiter(Protocol):
    async def hit(self, key: str, *, limit: int | None = None) -> int | None:
        """Count one attempt; return seconds to wait if over the limit, else None.

        ``limit`` overrides the limiter's own for this key."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, *, limit: int, window_s: int) -> None:
        self._limit = limit
        self._window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, *, limit: int | None = None) -> int | None:
        now = time.monotonic()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self._window_s:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count)
        if len(self._windows) > 100_000:
            self._forget_expired(now)
        if count > (limit or self._limit):
            return max(1, int(self._window_s - (now - started)) + 1)
        return None

    async def close(self) -> None:
        self._windows.clear()

    def _forget_expired(self, now: float) -> None:
        for key, (started, _count) in list(self._windows.items()):
            if now - started >= self._window_s:
                del self._windows[key]


class RedisLimiter:
    def __init__(self, url: str, *, limit: int, window_s: int, prefix: str = "tsunagi:rl:") -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._limit = limit
        self._window_s = window_s
        self._prefix = prefix

    async def hit(self, key: str, *, limit: int | None = None) -> int | None:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self._window_s, nx=True)
            pipe.ttl(name)
            count, _set, ttl = await pipe.execute()
        if int(count) > (limit or self._limit):
            return max(1, int(ttl))
        return None

    async def close(self) -> None:
        await self._redis.aclose()
