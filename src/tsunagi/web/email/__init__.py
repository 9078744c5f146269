"""Email web feature: the desk's reply and email view, a queue's mailbox and settings.

``startup`` starts the ingest (one task per enabled mailbox, IMAP IDLE where offered; on
PostgreSQL one process per mailbox by advisory lock) and the send loop that retries
queued mail; ``shutdown`` stops them. See docs/architecture/email.md.
"""

from __future__ import annotations

from typing import Any

from tsunagi.web.email import api
from tsunagi.web.email.worker import start_worker, stop_worker
from tsunagi.web.services import Services

ROUTES: list[Any] = [*api.ROUTES]


async def startup(services: Services) -> None:
    await start_worker(services)


async def shutdown(services: Services) -> None:
    await stop_worker(services)
