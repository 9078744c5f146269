"""A customer's email becomes a contact, the communicator's reply arrives threaded in the
customer's mailbox, the customer's answer joins the same conversation, and fetching a
message again — re-delivered, or re-polled after a crash — creates nothing new. Real
Dovecot and a real SMTP server; both database profiles."""

from __future__ import annotations

import asyncio
import hashlib
from email import policy
from email.parser import BytesParser

from sqlalchemy import func, select

from integration.email.conftest import CUSTOMER, DESK, MailWorld, message
from integration.routing.routing_floor import Floor
from tsunagi.actions.conversations import (
    NewConversation,
    conversation_view,
    do_start_conversation,
    list_messages,
)
from tsunagi.actions.customers import do_import_customers
from tsunagi.actions.email import do_ingest_email, do_queue_email_reply
from tsunagi.actions.email_accounts import do_save_cursor, get_mailbox
from tsunagi.actions.email_outbox import send_due
from tsunagi.actions.email_worker import poll_once
from tsunagi.actions.routing.offers import do_accept_offer
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.email import external_id
from tsunagi.domain.customers import CustomerRecord, Identifier
from tsunagi.domain.permissions import Principal, Role

QUEUE_CONFIG = {"email": {"first_response_s": 3600, "auto_ack": True}}


def parsed(raw: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(raw)


async def counts(floor: Floor) -> tuple[int, int, int]:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        messages = await session.scalar(select(func.count()).select_from(ConversationMessage))
        contacts = await session.scalar(select(func.count()).select_from(RoutingContact))
    return int(conversations or 0), int(messages or 0), int(contacts or 0)


async def poll(floor: Floor, keyring: KeyRing, account_id):  # type: ignore[no-untyped-def]
    result = await poll_once(floor.db, keyring, tenant_id=floor.tenant_id, account_id=account_id)
    assert result is not None
    return result


async def test_an_email_becomes_a_contact_and_the_reply_threads(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail", config=QUEUE_CONFIG)
    aiko = await floor.add_agent("aiko", {"mail": 5}, {"email": 3})
    box = await mail.mailbox(floor, keyring, "mail")
    hanako = CustomerRecord(name="山田花子", identifiers=(Identifier("email", CUSTOMER.upper()),))
    [customer_id] = await do_import_customers(
        floor.db, keyring, tenant_id=floor.tenant_id, items=[hanako], actor="test"
    )

    first, first_id = message()
    mail.customer_sends(first)
    result = await poll(floor, keyring, box.id)
    assert (result.fetched, result.created, result.duplicates) == (1, 1, 0)

    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.channel == "email"
    assert conversation.queue_id == floor.queues["mail"]
    assert conversation.first_response_due_at is not None
    assert conversation.customer_id == customer_id  # identified by the address
    view = await conversation_view(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=conversation.id
    )
    assert (view.subject, view.address, view.visitor_name) == ("配達について", CUSTOMER, "山田花子")

    # The contact is routed like any other: offered to aiko, who takes it.
    assert conversation.contact_id is not None
    await floor.wait_state(conversation.contact_id, "offered")
    await do_accept_offer(
        floor.db, tenant_id=floor.tenant_id, agent_id=aiko, contact_id=conversation.contact_id,
        actor="test",
    )  # fmt: skip

    # The automatic acknowledgement went out (RFC 3834 headers), threaded to the message.
    inbox = mail.customer_inbox()
    assert len(inbox) == 1
    ack = parsed(inbox[0])
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == first_id

    principal = Principal(
        user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR})
    )
    reply = await do_queue_email_reply(
        floor.db, keyring, principal=principal, conversation_id=conversation.id,
        body="午後の配達に変更しました。", idempotency_key="r1",
    )  # fmt: skip
    assert reply.status == "queued"
    again = await do_queue_email_reply(
        floor.db, keyring, principal=principal, conversation_id=conversation.id,
        body="午後の配達に変更しました。", idempotency_key="r1",
    )  # fmt: skip
    assert again.id == reply.id and not again.created
    outcomes = await send_due(floor.db, keyring, tenant_id=floor.tenant_id)
    assert [o.status for o in outcomes] == ["sent"]

    inbox = mail.customer_inbox()
    assert len(inbox) == 2
    answer = parsed(inbox[1])
    assert answer["Subject"] == "Re: 配達について"
    assert answer["In-Reply-To"] == first_id
    assert first_id in answer["References"].split()
    assert answer["From"].addresses[0].addr_spec == DESK
    assert "午後の配達に変更しました。" in answer.get_body(preferencelist=("plain",)).get_content()
    answer_id = answer["Message-ID"]
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        stored = await session.get(ConversationMessage, reply.id)
        refreshed = await session.get(Conversation, conversation.id)
    assert stored is not None and stored.status == "sent" and stored.external_id == answer_id
    assert refreshed is not None and refreshed.first_response_at is not None

    # The customer answers our answer: it joins the same conversation.
    follow, follow_id = message(
        "Re: 配達について",
        "ありがとうございます。",
        headers={"In-Reply-To": answer_id, "References": f"{first_id} {answer_id}"},
    )
    mail.customer_sends(follow)
    result = await poll(floor, keyring, box.id)
    assert (result.fetched, result.created) == (1, 1)
    messages = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=conversation.id
    )
    assert [(m.direction, m.author) for m in messages] == [
        ("in", "customer"), ("out", "system"), ("out", "agent"), ("in", "customer"),
    ]  # fmt: skip
    assert messages[-1].text == "ありがとうございます。"
    assert (await counts(floor))[0] == 1

    # Re-delivery of the same message (a new UID, the same Message-ID): nothing new.
    before = await counts(floor)
    mail.dovecot.deliver("desk", first)
    result = await poll(floor, keyring, box.id)
    assert (result.fetched, result.created, result.duplicates) == (1, 0, 1)
    assert await counts(floor) == before

    # A crash before the cursor moved: the next poll reads everything again, makes nothing.
    await do_save_cursor(floor.db, tenant_id=floor.tenant_id, account_id=box.id, cursor={})
    result = await poll(floor, keyring, box.id)
    assert (result.fetched, result.created, result.duplicates) == (3, 0, 3)
    assert await counts(floor) == before
    assert len(mail.customer_inbox()) == 2  # no second acknowledgement either
    assert follow_id != first_id


async def test_concurrent_ingests_of_one_message_make_one(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail")
    box = await mail.mailbox(floor, keyring, "mail")
    raw, _ = message()
    results = await asyncio.gather(
        *(do_ingest_email(floor.db, keyring, mailbox=box, raw=raw) for _ in range(4))
    )
    assert len({r.conversation_id for r in results}) == 1
    assert len({r.message_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    conversations, messages, contacts = await counts(floor)
    assert (conversations, messages, contacts) == (1, 1, 1)
    box = await get_mailbox(floor.db, keyring, tenant_id=floor.tenant_id, account_id=box.id)
    assert box.password == "desk-secret"


async def test_a_crash_between_the_contact_and_the_message_is_repaired(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    """The ingest died after starting the conversation (its own transaction) and before
    adding the message: the next fetch finds the conversation by the key derived from the
    Message-ID and adds the message to it."""
    await floor.add_queue("mail")
    box = await mail.mailbox(floor, keyring, "mail")
    raw, message_id = message()
    key = "email:" + hashlib.sha256(external_id(message_id).encode()).hexdigest()[:48]
    crashed = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=NewConversation(
            channel="email", queue_id=floor.queues["mail"], source="email", idempotency_key=key
        ),
        actor="email",
    )  # fmt: skip
    result = await do_ingest_email(floor.db, keyring, mailbox=box, raw=raw)
    assert result.conversation_id == crashed.conversation_id and result.created
    assert await counts(floor) == (1, 1, 1)
