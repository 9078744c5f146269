"""Sending exactly once, against a scripted provider, on both profiles.

These drive ``do_deliver_sms`` directly with a provider object that answers as told
(the HTTP loop is covered by ``test_sms_loop.py`` against the fake provider server):
a send whose outcome is unknown is never repeated, two workers racing for one message
send it once, a claim left by a dead worker is not resent, a refusal is final.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from integration.routing.routing_floor import Floor
from integration.sms.conftest import CUSTOMER, OUR_NUMBER
from tsunagi.actions.conversations import NewMessage, do_add_message
from tsunagi.actions.routing.rows import utcnow
from tsunagi.actions.sms import (
    SmsAccount,
    SmsSettings,
    do_configure_sms_account,
    do_receive_sms,
    do_record_sms_report,
)
from tsunagi.actions.sms_send import (
    UNCONFIRMED,
    do_deliver_sms,
    do_enlist_pending,
    do_queue_sms_reply,
    due_sms,
    pending_sms,
)
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ChannelAccount, ConversationMessage
from tsunagi.ports.sms import DeliveryReport, InboundSms, Params, SmsSendError


@dataclass
class Scripted:
    """Answers each send with the next outcome: a sid, or an SmsSendError to raise."""

    outcomes: list[str | SmsSendError]
    calls: list[str] = field(default_factory=list)
    delay_s: float = 0.0

    async def send(self, *, to: str, sender: str, body: str, status_callback: str | None) -> str:
        self.calls.append(body)
        await asyncio.sleep(self.delay_s)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, SmsSendError):
            raise outcome
        return outcome

    def parse_inbound(self, params: Params) -> InboundSms:
        raise NotImplementedError

    def parse_report(self, params: Params) -> DeliveryReport:
        raise NotImplementedError

    def verify(self, url: str, params: Params, signature: str | None) -> bool:
        return False

    def webhook_answer(self, reply: str | None) -> tuple[bytes, str]:
        return b"", "text/plain"


async def _setup(floor: Floor, keyring: KeyRing) -> tuple[SmsAccount, uuid.UUID]:
    queue_id = await floor.add_queue("sms")
    account = await do_configure_sms_account(
        floor.db, keyring, tenant_id=floor.tenant_id, queue_id=queue_id,
        new=SmsSettings(account_sid="AC1", from_number=OUR_NUMBER, auth_token="t",
                        webhook_base_url="http://127.0.0.1:9", api_base_url="http://127.0.0.1:9"),
        actor="test",
    )  # fmt: skip
    received = await do_receive_sms(
        floor.db, keyring, account=account,
        inbound=InboundSms("SM" + uuid.uuid4().hex, CUSTOMER, OUR_NUMBER, "こんにちは"),
    )  # fmt: skip
    assert received.conversation_id is not None
    return account, received.conversation_id


async def _reply(floor: Floor, keyring: KeyRing, conversation_id: uuid.UUID) -> uuid.UUID:
    queued = await do_queue_sms_reply(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=conversation_id,
        body="お待たせしました", author_user_id=None, client_id=None, actor="test",
    )  # fmt: skip
    return queued.message.id


async def _message(floor: Floor, message_id: uuid.UUID) -> ConversationMessage:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        found = await session.get(ConversationMessage, message_id)
    assert found is not None
    return found


async def _deliver(
    floor: Floor, keyring: KeyRing, provider: Scripted, message_id: uuid.UUID
) -> str:
    return await do_deliver_sms(
        floor.db, keyring, lambda _account: provider, tenant_id=floor.tenant_id,
        message_id=message_id,
    )  # fmt: skip


async def test_an_unknown_outcome_is_never_resent_and_a_late_report_still_counts(
    floor: Floor, keyring: KeyRing
) -> None:
    account, conversation_id = await _setup(floor, keyring)
    message_id = await _reply(floor, keyring, conversation_id)
    provider = Scripted([SmsSendError("no answer: ReadTimeout", retryable=False, ambiguous=True)])
    assert await _deliver(floor, keyring, provider, message_id) == "unconfirmed"
    message = await _message(floor, message_id)
    assert message.status == "queued" and UNCONFIRMED in message.flags
    assert "outcome unknown" in (message.status_detail or "")
    assert message_id not in [m for _t, _a, m in await pending_sms(floor.db)]
    assert message_id not in [m for _t, _a, m in await due_sms(floor.db)]
    assert await _deliver(floor, keyring, provider, message_id) == "done"
    assert len(provider.calls) == 1
    # The provider did take it: its report (our id in the callback URL) records it.
    report = DeliveryReport("SMlate", "delivered", "delivered")
    after = await do_record_sms_report(
        floor.db, account=account, report=report, message_id=message_id
    )
    assert after == "delivered"
    assert (await _message(floor, message_id)).provider_id == "SMlate"


async def test_two_workers_racing_send_once(floor: Floor, keyring: KeyRing) -> None:
    _account, conversation_id = await _setup(floor, keyring)
    message_id = await _reply(floor, keyring, conversation_id)
    provider = Scripted(["SM1", "SM2"], delay_s=0.2)
    results = await asyncio.gather(
        *(_deliver(floor, keyring, provider, message_id) for _ in range(2))
    )
    assert sorted(results) == ["busy", "sent"] or sorted(results) == ["done", "sent"]
    assert provider.calls == ["お待たせしました"]
    assert (await _message(floor, message_id)).provider_id == "SM1"
    assert await _deliver(floor, keyring, provider, message_id) == "done"


async def test_a_claim_left_by_a_dead_worker_is_not_resent(floor: Floor, keyring: KeyRing) -> None:
    account, conversation_id = await _setup(floor, keyring)
    message_id = await _reply(floor, keyring, conversation_id)
    async with floor.db.scoped(floor.tenant_id) as session, session.begin():
        row = await session.scalar(select(ChannelAccount).where(ChannelAccount.id == account.id))
        assert row is not None
        stale = (utcnow() - timedelta(minutes=5)).isoformat()
        row.cursor = {"sends": {str(message_id): {"attempts": 1, "lease_until": stale}}}
    provider = Scripted(["SM1"])
    assert await _deliver(floor, keyring, provider, message_id) == "done"
    assert provider.calls == []
    assert UNCONFIRMED in (await _message(floor, message_id)).flags


async def test_retryable_failures_back_off_and_a_refusal_is_final(
    floor: Floor, keyring: KeyRing
) -> None:
    _account, conversation_id = await _setup(floor, keyring)
    message_id = await _reply(floor, keyring, conversation_id)
    provider = Scripted(
        [
            SmsSendError("HTTP 503", retryable=True),
            SmsSendError("HTTP 400 error 21211: invalid To", retryable=False, code="21211"),
        ]
    )
    assert message_id in [m for _t, _a, m in await due_sms(floor.db)]
    assert await _deliver(floor, keyring, provider, message_id) == "retry"
    # Not due yet: the backoff holds it back.
    assert message_id not in [m for _t, _a, m in await due_sms(floor.db)]
    assert await _deliver(floor, keyring, provider, message_id) == "later"
    assert len(provider.calls) == 1
    async with floor.db.scoped(floor.tenant_id) as session, session.begin():
        row = await session.scalar(select(ChannelAccount))
        assert row is not None
        entry = row.cursor["sends"][str(message_id)]
        row.cursor = {"sends": {str(message_id): {**entry, "next_at": utcnow().isoformat()}}}
    assert await _deliver(floor, keyring, provider, message_id) == "failed"
    message = await _message(floor, message_id)
    assert message.status == "failed"
    assert message.status_detail == "not sent after 2 attempts: HTTP 400 error 21211: invalid To"
    assert message_id not in [m for _t, _a, m in await pending_sms(floor.db)]
    assert message_id not in [m for _t, _a, m in await due_sms(floor.db)]


async def test_a_reply_stored_but_never_enlisted_is_found_at_start_up(
    floor: Floor, keyring: KeyRing
) -> None:
    _account, conversation_id = await _setup(floor, keyring)
    # As if the process stopped right after storing the reply.
    stored = await do_add_message(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=conversation_id,
        new=NewMessage("out", "agent", "途中で止まった返信", status="queued"), actor="test",
    )  # fmt: skip
    assert stored.id not in [m for _t, _a, m in await due_sms(floor.db)]
    assert await do_enlist_pending(floor.db) >= 1
    assert stored.id in [m for _t, _a, m in await due_sms(floor.db)]
    provider = Scripted(["SM9"])
    assert await _deliver(floor, keyring, provider, stored.id) == "sent"
    assert stored.id not in [m for _t, _a, m in await due_sms(floor.db)]
