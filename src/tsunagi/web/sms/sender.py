"""The SMS sender of one running app: sends replies now and retries the ones that failed.

A reply is sent right after it is stored (in a task, so the communicator's request does
not wait for the provider); a loop picks up whatever is still queued — a retry that is
due, a reply whose process stopped before sending — every ``interval_s``. Sending is
claimed in the database (``do_deliver_sms``), so several processes may run this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from uuid import UUID

import httpx

from tsunagi.actions.sms import SmsAccount
from tsunagi.actions.sms_send import do_deliver_sms, pending_sms
from tsunagi.adapters.sms.twilio import TwilioConfig, TwilioSms
from tsunagi.ports.sms import SmsProvider
from tsunagi.web.services import Services

log = logging.getLogger(__name__)
INTERVAL_S = 1.0


@dataclass
class Sender:
    services: Services
    client: httpx.AsyncClient
    interval_s: float = INTERVAL_S
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
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

    async def _quietly(self, tenant_id: UUID, message_id: UUID) -> None:
        try:
            await self.deliver(tenant_id, message_id)
        except Exception:  # the loop tries again; one bad message must not stop others
            log.exception("sending SMS %s failed", message_id)

    async def run(self) -> None:
        while True:
            try:
                for tenant_id, message_id in await pending_sms(self.services.db):
                    await self._quietly(tenant_id, message_id)
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
    for task in [sender.loop, *sender.tasks]:
        if task is not None:
            task.cancel()
    for task in [sender.loop, *sender.tasks]:
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
    await sender.client.aclose()
