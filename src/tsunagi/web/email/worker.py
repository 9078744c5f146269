"""The email worker of one running app (see ``tsunagi.actions.email_worker``)."""

from __future__ import annotations

from tsunagi.actions.email_worker import MailWorker
from tsunagi.web.services import Services

WORKERS: dict[int, MailWorker] = {}


def worker_of(services: Services) -> MailWorker:
    return WORKERS[id(services)]


async def start_worker(services: Services) -> None:
    worker = MailWorker(services.db, services.keyring)
    WORKERS[id(services)] = worker
    await worker.start()


async def stop_worker(services: Services) -> None:
    worker = WORKERS.pop(id(services), None)
    if worker is not None:
        await worker.stop()
