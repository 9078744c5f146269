"""Which conversation an inbound text joins, on both profiles (actions, no HTTP)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from integration.routing.routing_floor import Floor
from integration.sms.conftest import CUSTOMER, OUR_NUMBER
from tsunagi.actions.conversations import do_close_conversation
from tsunagi.actions.routing.contacts import do_abandon_contact
from tsunagi.actions.sms import SmsAccount, SmsSettings, do_configure_sms_account, do_receive_sms
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation
from tsunagi.ports.sms import InboundSms


async def _account(floor: Floor, keyring: KeyRing) -> SmsAccount:
    queue_id = await floor.add_queue("sms")
    return await do_configure_sms_account(
        floor.db, keyring, tenant_id=floor.tenant_id, queue_id=queue_id,
        new=SmsSettings(account_sid="AC1", from_number=OUR_NUMBER, auth_token="t",
                        webhook_base_url="http://127.0.0.1:9", api_base_url="http://127.0.0.1:9"),
        actor="test",
    )  # fmt: skip


def _text(body: str, sender: str = CUSTOMER) -> InboundSms:
    return InboundSms("SM" + uuid.uuid4().hex, sender, OUR_NUMBER, body)


async def _conversations(floor: Floor) -> int:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        return int(await session.scalar(select(func.count()).select_from(Conversation)) or 0)


async def test_texts_arriving_together_from_a_new_number_start_one_conversation(
    floor: Floor, keyring: KeyRing
) -> None:
    account = await _account(floor, keyring)
    received = await asyncio.gather(
        *(
            do_receive_sms(floor.db, keyring, account=account, inbound=_text(f"{n}"))
            for n in range(4)
        )
    )
    assert {r.conversation_id for r in received} == {received[0].conversation_id}
    assert {r.contact_id for r in received} == {received[0].contact_id}
    assert sorted(r.outcome for r in received) == ["message"] * 4
    assert await _conversations(floor) == 1


async def test_a_text_after_the_conversation_or_its_contact_ended_is_a_new_contact(
    floor: Floor, keyring: KeyRing
) -> None:
    account = await _account(floor, keyring)
    first = await do_receive_sms(floor.db, keyring, account=account, inbound=_text("一件目"))
    assert first.conversation_id is not None and first.contact_id is not None
    await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=first.conversation_id,
        by="customer", actor="test",
    )  # fmt: skip
    second = await do_receive_sms(floor.db, keyring, account=account, inbound=_text("二件目"))
    assert second.conversation_id not in (None, first.conversation_id)
    assert second.contact_id not in (None, first.contact_id)
    assert second.contact_id is not None

    # The contact ends without the conversation being closed: the next text is new too,
    # and the stale conversation is closed on the way.
    await do_abandon_contact(
        floor.db, tenant_id=floor.tenant_id, contact_id=second.contact_id, actor="test"
    )
    third = await do_receive_sms(floor.db, keyring, account=account, inbound=_text("三件目"))
    assert third.conversation_id not in (None, first.conversation_id, second.conversation_id)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        stale = await session.get(Conversation, second.conversation_id)
    assert stale is not None and stale.state == "closed"
    assert await _conversations(floor) == 3
