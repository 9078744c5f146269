"""A live app with a queue whose SMS number points at the fake provider (both profiles)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from integration.channels.conftest import floor, keyring
from integration.sms.fake_provider import FakeProvider, Sent
from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.storage.conversation_models import (
    ChannelOptOut,
    Conversation,
    ConversationMessage,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue
from tsunagi.adapters.storage.routing_models import RoutingContact

__all__ = ["floor", "keyring"]

OUR_NUMBER = "+815012345678"
CUSTOMER = "+819012345678"  # written 090-1234-5678 in the customer's record


def until(check: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (the app works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class SmsFloor:
    server: LiveServer
    fake: FakeProvider
    database_url: str
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    account_id: uuid.UUID
    admin: Browserless
    supervisor: Browserless

    def hook(self, kind: str) -> str:
        return f"{self.server.url}/hooks/sms/{self.account_id}/{kind}"

    def inbound(self, body: str, *, sender: str = CUSTOMER, **kwargs: Any) -> Any:
        return self.fake.post_inbound(
            self.hook("inbound"), sender=sender, to=OUR_NUMBER, body=body, **kwargs
        )

    def reply(self, conversation_id: uuid.UUID, text: str, **extra: Any) -> Any:
        return self.supervisor.request(
            "POST",
            f"/api/v1/conversations/{conversation_id}/sms-reply",
            json={"text": text, **extra},
        )

    def read(self, query: Callable[[Any], Any]) -> Any:
        async def go() -> Any:
            db = Database(self.database_url)
            try:
                async with db.scoped(self.tenant_id, readonly=True) as session:
                    return await query(session)
            finally:
                await db.dispose()

        return run(go)

    def counts(self) -> tuple[int, int, int, int]:
        """(conversations, messages, contacts, opt-outs) of the tenant."""

        async def query(session: Any) -> tuple[int, ...]:
            return tuple(
                [
                    await session.scalar(select(func.count()).select_from(model))
                    for model in (Conversation, ConversationMessage, RoutingContact, ChannelOptOut)
                ]
            )

        found: tuple[int, int, int, int] = self.read(query)
        return found

    def conversations(self) -> list[Conversation]:
        async def query(session: Any) -> list[Conversation]:
            return list(
                await session.scalars(select(Conversation).order_by(Conversation.created_at))
            )

        found: list[Conversation] = self.read(query)
        return found

    def messages(self, conversation_id: uuid.UUID) -> list[ConversationMessage]:
        async def query(session: Any) -> list[ConversationMessage]:
            return list(
                await session.scalars(
                    select(ConversationMessage)
                    .where(ConversationMessage.conversation_id == conversation_id)
                    .order_by(ConversationMessage.seq)
                )
            )

        found: list[ConversationMessage] = self.read(query)
        return found

    def message(self, message_id: uuid.UUID | str) -> ConversationMessage:
        wanted = uuid.UUID(str(message_id))

        async def query(session: Any) -> ConversationMessage:
            found = await session.get(ConversationMessage, wanted)
            assert found is not None
            return found  # type: ignore[no-any-return]

        found: ConversationMessage = self.read(query)
        return found

    def contact(self, contact_id: uuid.UUID) -> RoutingContact:
        async def query(session: Any) -> RoutingContact:
            found = await session.get(RoutingContact, contact_id)
            assert found is not None
            return found  # type: ignore[no-any-return]

        found: RoutingContact = self.read(query)
        return found

    def wait_sent(self, count: int) -> list[Sent]:
        until(lambda: len(self.fake.sent) >= count, what=f"{count} message(s) at the provider")
        return list(self.fake.sent)

    def wait_status(self, message_id: uuid.UUID | str, status: str) -> ConversationMessage:
        found: ConversationMessage = until(
            lambda: m if (m := self.message(message_id)).status == status else None,
            what=f"message status {status}",
        )
        return found


def add_queue(database_url: str, tenant_id: uuid.UUID, code: str) -> uuid.UUID:
    async def go() -> uuid.UUID:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code=code, name_ja=code, name_en=code, channel="sms", config={},
                    created_at=datetime.now(UTC),
                )  # fmt: skip
                session.add(queue)
            return queue.id
        finally:
            await db.dispose()

    return run(go)


def configure(admin: Browserless, queue_id: uuid.UUID, **values: Any) -> Any:
    return admin.request("PUT", f"/api/v1/queues/{queue_id}/sms-account", json=values)


def open_sms_floor(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> SmsFloor:
    tenant_id = world.tenants["a"]
    queue_id = add_queue(database_url, tenant_id, "sms")
    fake = FakeProvider("AC" + uuid.uuid4().hex, "token-" + uuid.uuid4().hex).start()
    admin = client_factory()
    admin.sign_in(world.account("a", "administrator").username)
    supervisor = client_factory()
    supervisor.sign_in(world.account("a", "supervisor").username)
    configured = configure(
        admin,
        queue_id,
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        from_number=OUR_NUMBER,
        api_base_url=fake.url,
        webhook_base_url=server.url,
        max_segments=3,
        help_text="ヘルプ: 0120-000-000 (平日9-18時)",
    )
    assert configured.status_code == 200, configured.text
    account_id = uuid.UUID(configured.json()["id"])
    return SmsFloor(server, fake, database_url, tenant_id, queue_id, account_id, admin, supervisor)


@pytest.fixture
def sms(
    server: LiveServer, world: World, database_url: str, client_factory: Any
) -> Iterator[SmsFloor]:
    floor = open_sms_floor(server, world, database_url, client_factory)
    try:
        yield floor
    finally:
        floor.fake.stop()
