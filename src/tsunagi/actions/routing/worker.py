"""A routing worker process: event bus, outbox relay and routing engine, nothing else.

Run several on as many machines as needed; one leads, the others stand by and take over
when it dies (``python -m tsunagi.actions.routing.worker``; settings from ``TSUNAGI_*``).
With ``--status-file`` it writes ``leader`` or ``standby`` there whenever that changes
(the kill test uses it to find the leader).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.bus.redis import RedisBus
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.storage.db import Database
from tsunagi.aio import stop_on_signals, wait_event
from tsunagi.ports.bus import EventBus
from tsunagi.settings import Settings, load_settings

log = logging.getLogger(__name__)


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event,
    worker_id: str | None = None,
    lease_s: float = 3.0,
    status_file: Path | None = None,
) -> None:
    db = Database(settings.effective_database_url)
    bus: EventBus = RedisBus(settings.redis_url) if settings.redis_url else MemoryBus()
    relay = OutboxRelay(db, bus, poll_interval_s=settings.relay_poll_interval_s)
    engine = RoutingEngine(db, bus, worker_id=worker_id, lease_s=lease_s)
    await bus.start()
    await relay.start()
    await engine.start()
    reported = ""
    try:
        while not stop.is_set():
            status = "leader" if engine.is_leader else "standby"
            if status_file is not None and status != reported:
                await asyncio.to_thread(_write_status, status_file, f"{status} {engine.worker_id}")
                reported = status
            await wait_event(stop, 0.05)
    finally:
        await engine.stop()
        await relay.stop()
        await bus.stop()
        await db.dispose()


def _write_status(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker-id")
    parser.add_argument("--lease-s", type=float, default=3.0)
    parser.add_argument("--status-file", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def serve() -> None:
        stop = stop_on_signals()
        await run_worker(
            load_settings(),
            stop=stop,
            worker_id=args.worker_id,
            lease_s=args.lease_s,
            status_file=args.status_file,
        )

    asyncio.run(serve())


if __name__ == "__main__":
    main()
