"""The figures projector in a process of its own (decision 0012).

``tsunagi serve`` starts it as a child (``figures_projector = "child"``) so that folding
events into the figures tables runs on another core than the one serving requests,
sockets and the routing engine: a projector pass is tens of milliseconds of CPU at once,
and on the server's event loop every offer and command waiting behind it waited that long.

Run: ``python -m tsunagi.actions.figures.worker`` with ``TSUNAGI_DATABASE_URL`` set (the
parent passes its own; a URL in the environment, not on the command line, keeps a
password out of ``ps``) and, optionally, ``TSUNAGI_PARENT_PID`` (the parent's process id,
so that a parent gone before this process got going is noticed too). It folds until
SIGTERM or SIGINT, or until its parent is gone (it checks every second), and then stops
after the pass in hand. Any number may run: the checkpoint lock lets one fold a tenant's
batch at a time (``projector``).
"""

from __future__ import annotations

import asyncio
import logging
import os

import uvloop

from tsunagi.actions.figures.projector import FiguresProjector
from tsunagi.adapters.storage.db import Database
from tsunagi.aio import stop_on_signals, wait_event

log = logging.getLogger(__name__)

PARENT_CHECK_S = 1.0


async def run_projector(database_url: str, *, stop: asyncio.Event, parent_pid: int) -> None:
    """Fold until ``stop`` is set or this process's parent is no longer ``parent_pid``."""
    if os.getppid() != parent_pid:
        log.warning("the figures projector's parent %s is gone; not starting", parent_pid)
        return
    db = Database(database_url)
    projector = FiguresProjector(db)
    await projector.start()
    try:
        while not await wait_event(stop, PARENT_CHECK_S):
            if os.getppid() != parent_pid:
                log.warning("the figures projector's parent %s is gone; stopping", parent_pid)
                break
    finally:
        await projector.stop()
        await db.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    database_url = os.environ.get("TSUNAGI_DATABASE_URL")
    if not database_url:
        raise SystemExit("TSUNAGI_DATABASE_URL is not set: the figures projector needs it")
    parent = os.environ.get("TSUNAGI_PARENT_PID", "")
    parent_pid = int(parent) if parent.isdigit() else os.getppid()

    async def serve() -> None:
        stop = stop_on_signals()
        await run_projector(database_url, stop=stop, parent_pid=parent_pid)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())


if __name__ == "__main__":
    main()
