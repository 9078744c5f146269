"""Two asyncio helpers every background loop uses, so that shutting down always ends.

Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives in the same loop turn
as the awaited thing finishing (the result wins, the ``cancel()`` is lost). A loop of the
form ``while True: ... await wait_for(wake.wait(), t)`` then never stops, and whoever awaits
it hangs: CI saw exactly that in the outbox relay, which is woken after every commit.
:func:`wait_event` waits with ``asyncio.timeout`` instead, which keeps a cancellation that
races with the wake-up. :func:`stop_tasks` cancels, waits a bounded time, and cancels again
(once, after ``RECANCEL_S``: not sooner, so a slow rollback under load can finish) if
library code swallowed the first one; a task that still will not end is logged and left
behind rather than waited for forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

#: How long a stopping task gets before it is cancelled again, and in all.
RECANCEL_S = 5.0
STOP_GRACE_S = 10.0


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets: how a process's main coroutine (a worker, the
    voice service) learns it should stop. Call it on the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` up to ``timeout_s`` seconds; True if it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
        return True
    return False


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any] | None], *, grace_s: float = STOP_GRACE_S
) -> list[asyncio.Task[Any]]:
    """Cancel the tasks and wait for them to end; returns those that did not end in time.

    A task's own error is logged, not raised: stopping is not the moment to fail.
    """
    every = [task for task in tasks if task is not None]
    pending = {task for task in every if not task.done()}
    deadline = time.monotonic() + grace_s
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _done, pending = await asyncio.wait(pending, timeout=min(RECANCEL_S, left))
    for task in every:
        if task in pending:
            log.error("task %s did not stop within %s s; left behind", task.get_name(), grace_s)
        elif not task.cancelled() and task.exception() is not None:
            log.error("task %s had failed", task.get_name(), exc_info=task.exception())
    return [task for task in every if task in pending]


__all__ = ["RECANCEL_S", "STOP_GRACE_S", "stop_tasks", "wait_event"]
