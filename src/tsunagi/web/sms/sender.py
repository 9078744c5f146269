"""The SMS sender of one running app: sends replies now and retries the ones that failed.

A reply is sent right after it is stored (in a task, so the communicator's request does
not wait for the provider); a loop reads the SMS accounts' send lists every
``interval_s`` and sends what is due (a retry after its backoff, a reply whose first
attempt never ran). At start-up it scans the messages once for replies stored but never
enlisted (a process stopped in between). Sending is claimed in the database
(``do_deliver_sms``), so several processes may run this loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx

from tsunagi.actions.sms import SmsAccount
from tsunagi.actions.sms_send import (
    do_deliver_sms,
    do_enlist_pending,
    do_forget_sms_send,
    due_sms,
)
from tsunagi.adapters.sms.twilio import TwilioConfig, TwilioSms
from tsunagi.aio import stop_tasks
from tsunagi.ports.sms import SmsProvider
from tsunagi.web.services import Services

log = logging.getLogger(__name__)
INTERVAL_S = 1.0


@dataclass
class Sender:
    services: Services
    client: httpx.AsyncClient
    interval_s: float = INTERVAL_S
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    loop: asyncio.Task[None] | None = None

    def provider(self, account: SmsAccount) -> SmsProvider:
        return TwilioSms(
            TwilioConfig(account.account_sid, account.auth_token or "", account.api_base_url),
            self.client,
        )

    async def deliver(self, tenant_id: UUID, message_id: UUID) -> str:
        services = self.services
        return await do_deliver_sms(
            services.db, services.keyring, self.provider, tenant_id=tenant_id,
            message_id=message_id,
        )  # fmt: skip

    def send_soon(self, tenant_id: UUID, message_id: UUID) -> None:
        task = asyncio.create_task(self._quietly(tenant_id, message_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _quietly(self, tenant_id: UUID, message_id: UUID) -> str | None:
        try:
            return await self.deliver(tenant_id, message_id)
        except Exception:  # the loop tries again; one bad message must not stop others
            log.exception("sending SMS %s failed", message_id)
            return None

    async def run(self) -> None:
        db = self.services.db
        try:
            await do_enlist_pending(db)
        except Exception:
            log.exception("enlisting queued SMS replies at start-up failed")
        while True:
            try:
                for tenant_id, account_id, message_id in await due_sms(db):
                    if await self._quietly(tenant_id, message_id) == "gone":
                        await do_forget_sms_send(
                            db, tenant_id=tenant_id, account_id=account_id, message_id=message_id
                        )
            except Exception:
                log.exception("the SMS sender loop failed; trying again")
            await asyncio.sleep(self.interval_s)


SENDERS: dict[int, Sender] = {}


def sender_of(services: Services) -> Sender:
    return SENDERS[id(services)]


async def start_sender(services: Services) -> None:
    sender = Sender(services, httpx.AsyncClient(follow_redirects=False))
    sender.loop = asyncio.create_task(sender.run())
    SENDERS[id(services)] = sender


async def stop_sender(services: Services) -> None:
    sender = SENDERS.pop(id(services), None)
    if sender is None:
        return
    await stop_tasks([sender.loop, *sender.tasks], grace_s=5)
    await sender.client.aclose()
