"""Background loops stop: a cancellation racing with a wake-up is kept, and a task that
swallows one cancellation is cancelled again (see ``tsunagi.aio``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from tsunagi import aio
from tsunagi.aio import stop_tasks, wait_event


async def _loop_forever(wait: Callable[[asyncio.Event], Awaitable[object]]) -> None:
    event = asyncio.Event()
    started = asyncio.Event()

    async def loop() -> None:
        while True:
            started.set()
            await wait(event)
            event.clear()

    task = asyncio.create_task(loop())
    await started.wait()
    await asyncio.sleep(0)  # the loop is now parked inside wait()
    event.set()  # the wake-up and the cancellation land in the same loop turn
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    try:
        assert task in done, "the loop swallowed its cancellation and kept running"
        assert task.cancelled()
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)


async def test_a_cancellation_racing_with_the_wake_up_stops_the_loop() -> None:
    await _loop_forever(lambda event: wait_event(event, 5.0))


async def test_wait_for_on_this_python_is_the_reason_wait_event_exists() -> None:
    """The race ``wait_event`` avoids is real here (it is fixed in Python 3.12)."""

    async def with_wait_for(event: asyncio.Event) -> None:
        await asyncio.wait_for(event.wait(), 5.0)

    with pytest.raises(AssertionError, match="swallowed"):
        await _loop_forever(with_wait_for)


async def test_wait_event_reports_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aio, "RECANCEL_S", 0.2)
    cleaned = asyncio.Event()

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # library code eating a cancel
            await asyncio.sleep(60)
        try:
            await asyncio.sleep(60)
        finally:
            cleaned.set()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stuck = await stop_tasks([task, None], grace_s=5.0)
    assert stuck == []
    assert task.done() and cleaned.is_set()


async def test_a_task_that_never_ends_is_left_behind_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def immortal() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(immortal(), name="immortal")
    await asyncio.sleep(0)
    stuck = await stop_tasks([task], grace_s=0.3)
    assert stuck == [task]
    assert "immortal did not stop" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)
    assert task.done()


async def test_a_task_that_had_failed_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken(), name="broken")
    await asyncio.wait({task})
    assert await stop_tasks([task]) == []
    assert "broken had failed" in caplog.text
