"""Closing a chat whose visitor asked for the transcript mails it (real Dovecot + SMTP)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from integration.email.conftest import CUSTOMER, MailWorld, mail
from integration.routing.routing_floor import Floor
from tsunagi.actions.chat import do_finish_chat
from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    do_add_message,
    do_start_conversation,
    list_messages,
)
from tsunagi.actions.email_outbox import send_due
from tsunagi.adapters.security.keyring import KeyRing

__all__ = ["mail"]


async def test_finishing_a_chat_mails_the_transcript_asked_for(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("webchat")
    await mail.mailbox(floor, keyring, "webchat")
    chat = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=NewConversation(
            channel="chat", queue_id=floor.queues["webchat"], source="widget",
            address_kind="email", address=CUSTOMER, transcript_requested=True,
        ),
        actor="visitor",
    )  # fmt: skip
    await do_add_message(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=chat.conversation_id,
        new=NewMessage("in", "customer", "配達日を変えたいです"), actor="visitor",
    )  # fmt: skip
    first = await do_finish_chat(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=chat.conversation_id,
        by="customer", actor="visitor",
    )  # fmt: skip
    second = await do_finish_chat(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=chat.conversation_id,
        by="customer",
        actor="visitor",
    )  # fmt: skip
    assert first.closed and first.transcript_id is not None
    assert not second.closed and second.transcript_id is None  # closing twice mails nothing more
    outcomes = await send_due(floor.db, keyring, tenant_id=floor.tenant_id)
    assert [o.status for o in outcomes] == ["sent"]
    (raw,) = mail.customer_inbox()
    assert (
        "配達日を変えたいです"
        in BytesParser(policy=policy.default)
        .parsebytes(raw)
        .get_body(preferencelist=("plain",))
        .get_content()
    )
    notes = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=chat.conversation_id,
        include_notes=True,
    )  # fmt: skip
    assert ["transcript" in m.flags for m in notes if m.direction == "note"] == [True]
