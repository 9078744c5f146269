"""The email rules on real servers and both profiles: malformed mail is stored and flagged,
automatic answers only to people, refused attachments are flagged, failed sends are retried
and never sent twice, answers to finished conversations start a new contact in the thread,
transcripts and offline forms, the ingest worker (IMAP IDLE) and its per-mailbox lock."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import timedelta
from email import policy
from email.parser import BytesParser

from sqlalchemy import select

from integration.email.conftest import CUSTOMER, DESK, MailWorld, message
from integration.routing.routing_floor import Floor
from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    do_add_message,
    do_close_conversation,
    do_start_conversation,
    list_messages,
)
from tsunagi.actions.email import (
    do_create_email_contact_from_form,
    do_ingest_email,
    do_queue_email_reply,
    list_overdue,
    send_transcript,
)
from tsunagi.actions.email_accounts import do_configure_mailbox
from tsunagi.actions.email_outbox import do_retry_email, send_due, send_message
from tsunagi.actions.email_worker import MailboxLock, MailWorker, poll_once
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.domain.permissions import Principal, Role

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BROKEN = (
    b"From: =?utf-8?b?5bGx55Sw?= <hanako@example.org>\r\nTo: desk@center.test\r\n"
    b"Subject: =?iso-2022-jp?B?broken\r\nMessage-ID: <broken-1@example.org>\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=x-unknown\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!broken base64!!!\r\n"
)


def supervisor(floor: Floor) -> Principal:
    return Principal(
        user_id=floor.agents["sv"], tenant_id=floor.tenant_id, roles=frozenset({Role.SUPERVISOR})
    )


async def stored(floor: Floor, conversation_id: object) -> list[ConversationMessage]:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        return list(
            await session.scalars(
                select(ConversationMessage)
                .where(ConversationMessage.conversation_id == conversation_id)
                .order_by(ConversationMessage.seq)
            )
        )


async def test_malformed_mime_is_stored_sealed_and_flagged(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail")
    box = await mail.mailbox(floor, keyring, "mail")
    mail.dovecot.deliver("desk", BROKEN)
    result = await poll_once(floor.db, keyring, tenant_id=floor.tenant_id, account_id=box.id)
    assert result is not None and (result.created, result.malformed) == (1, 1)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        message_row = await session.scalar(select(ConversationMessage))
    assert message_row is not None and "malformed" in message_row.flags
    assert message_row.external_id == "<broken-1@example.org>"
    assert message_row.raw_enc is not None and b"broken base64" not in message_row.raw_enc
    cipher = await keyring.cipher(floor.db, floor.tenant_id)
    original = cipher.open_bytes(
        message_row.raw_enc, table="conversation_messages", column="raw", row_id=message_row.id
    )
    assert original == BROKEN


async def test_automatic_answers_go_only_to_people_and_not_in_a_loop(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail", config={"email": {"auto_ack": True, "auto_ack_per_hour": 2}})
    box = await mail.mailbox(floor, keyring, "mail")
    no_ack = [
        message(headers={"Auto-Submitted": "auto-replied"})[0],
        message(headers={"Precedence": "bulk"})[0],
        message(headers={"List-Id": "<news.example.org>"})[0],
        message(sender=DESK)[0],
    ]
    for raw in no_ack:
        result = await do_ingest_email(floor.db, keyring, mailbox=box, raw=raw)
        assert result.created and result.auto_ack is None
    acked = [
        await do_ingest_email(floor.db, keyring, mailbox=box, raw=message()[0]) for _ in range(3)
    ]
    assert [r.auto_ack is not None for r in acked] == [True, True, False]  # 2 an hour
    await send_due(floor.db, keyring, tenant_id=floor.tenant_id)
    inbox = mail.customer_inbox()
    assert len(inbox) == 2
    for raw in inbox:
        assert (
            BytesParser(policy=policy.default).parsebytes(raw)["Auto-Submitted"] == "auto-replied"
        )
    # An automatic answer to our own automatic answer is never answered.
    bounce_back = await do_ingest_email(floor.db, keyring, mailbox=box, raw=inbox[0])
    assert bounce_back.auto_ack is None


async def test_refused_attachments_are_flagged_and_the_message_kept(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail", config={"email": {"max_attachment_bytes": 1000}})
    box = await mail.mailbox(floor, keyring, "mail")
    raw, _ = message(
        attachments=[
            ("photo.png", "image/png", PNG),
            ("invoice.pdf", "application/pdf", b"MZ\x90\x00 not a pdf"),
            ("big.png", "image/png", PNG + b"\x00" * 2000),
        ]
    )
    result = await do_ingest_email(floor.db, keyring, mailbox=box, raw=raw)
    assert "attachment_refused" in result.flags
    (view,) = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=result.conversation_id
    )
    assert [(a.filename, a.media_type) for a in view.attachments] == [("photo.png", "image/png")]
    assert view.text == "明日の配達時間を変えたいです。"


async def test_failed_sends_are_retried_and_never_sent_twice(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail")
    await floor.add_agent("sv", {"mail": 1}, ready=False)
    box = await mail.mailbox(floor, keyring, "mail", smtp_port=1)  # nothing listens there
    ingested = await do_ingest_email(floor.db, keyring, mailbox=box, raw=message()[0])
    reply = await do_queue_email_reply(
        floor.db, keyring, principal=supervisor(floor), conversation_id=ingested.conversation_id,
        body="お待たせしました。",
    )  # fmt: skip
    first = await send_message(floor.db, keyring, tenant_id=floor.tenant_id, message_id=reply.id)
    assert first.status == "queued" and first.error is not None
    assert await send_due(floor.db, keyring, tenant_id=floor.tenant_id) == []  # not due yet

    # The server is back: the retry goes out once, even with two senders at the same time.
    await do_configure_mailbox(
        floor.db, keyring, tenant_id=floor.tenant_id, queue_id=floor.queues["mail"],
        name="mail-box", config=mail.config(), password=None, actor="test",
    )  # fmt: skip
    later = utcnow() + timedelta(minutes=1)
    outcomes = await asyncio.gather(
        *(send_due(floor.db, keyring, tenant_id=floor.tenant_id, now=later) for _ in range(3))
    )
    statuses = sorted(o.status for batch in outcomes for o in batch)
    assert statuses.count("sent") == 1 and set(statuses) <= {"sent", "skipped"}
    assert len(mail.customer_inbox()) == 1
    assert await send_due(floor.db, keyring, tenant_id=floor.tenant_id, now=later) == []

    # A permanent refusal fails at once; staff can queue it again.
    bounced = await do_queue_email_reply(
        floor.db, keyring, principal=supervisor(floor), conversation_id=ingested.conversation_id,
        body="二通目",
    )  # fmt: skip
    mail.smtp.mailboxes.pop(CUSTOMER)
    refused = await send_message(
        floor.db, keyring, tenant_id=floor.tenant_id, message_id=bounced.id
    )
    assert refused.status == "failed" and "550" in (refused.error or "")
    mail.smtp.mailboxes[CUSTOMER] = "hanako"
    await do_retry_email(
        floor.db, tenant_id=floor.tenant_id, conversation_id=ingested.conversation_id,
        message_id=bounced.id,
    )  # fmt: skip
    again = await send_message(floor.db, keyring, tenant_id=floor.tenant_id, message_id=bounced.id)
    assert again.status == "sent" and len(mail.customer_inbox()) == 2


async def test_an_answer_to_a_finished_conversation_is_a_new_contact_in_the_thread(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail")
    box = await mail.mailbox(floor, keyring, "mail")
    raw, first_id = message()
    first = await do_ingest_email(floor.db, keyring, mailbox=box, raw=raw)
    await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=first.conversation_id, by="agent",
        actor="test",
    )  # fmt: skip
    follow, _ = message("Re: 配達について", "もう一つ質問です", headers={"In-Reply-To": first_id})
    second = await do_ingest_email(floor.db, keyring, mailbox=box, raw=follow)
    assert second.new_conversation and second.conversation_id != first.conversation_id
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        keys = {c.id: c.thread_key for c in await session.scalars(select(Conversation))}
        customer_ids = {c.address_hash for c in await session.scalars(select(Conversation))}
    assert keys[first.conversation_id] == keys[second.conversation_id]
    assert len(customer_ids) == 1


async def test_a_chat_transcript_by_email_and_an_offline_form(
    floor: Floor, keyring: KeyRing, mail: MailWorld
) -> None:
    await floor.add_queue("mail", config={"email": {"first_response_s": 60}})
    await floor.add_agent("sv", {"mail": 1}, ready=False)
    await mail.mailbox(floor, keyring, "mail")
    chat = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=NewConversation(channel="chat", queue_id=floor.queues["mail"], source="widget"),
        actor="visitor",
    )  # fmt: skip
    for direction, author, text in (
        ("in", "customer", "<b>こんにちは</b>"),
        ("out", "agent", "ご用件をどうぞ"),
    ):
        await do_add_message(
            floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=chat.conversation_id,
            new=NewMessage(direction=direction, author=author, body=text), actor="test",
        )  # fmt: skip
    note = await send_transcript(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=chat.conversation_id,
        to_address=CUSTOMER,
    )  # fmt: skip
    outcomes = await send_due(floor.db, keyring, tenant_id=floor.tenant_id)
    assert [(o.message_id, o.status) for o in outcomes] == [(note, "sent")]
    (raw,) = mail.customer_inbox()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    assert "<b>こんにちは</b>" in text and "ご用件をどうぞ" in text
    visible = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=chat.conversation_id
    )
    assert len(visible) == 2  # the transcript is a note, not a chat line

    form = await do_create_email_contact_from_form(
        floor.db, keyring, tenant_id=floor.tenant_id, queue_id=floor.queues["mail"],
        name="山田花子", address=CUSTOMER, subject="営業時間外の問い合わせ",
        body="明日電話ください", idempotency_key="form-1",
    )  # fmt: skip
    again = await do_create_email_contact_from_form(
        floor.db, keyring, tenant_id=floor.tenant_id, queue_id=floor.queues["mail"],
        name="山田花子", address=CUSTOMER, subject="営業時間外の問い合わせ",
        body="明日電話ください", idempotency_key="form-1",
    )  # fmt: skip
    assert again.conversation_id == form.conversation_id and not again.created
    overdue = await list_overdue(floor.db, supervisor(floor), now=utcnow() + timedelta(minutes=5))
    assert [o.conversation_id for o in overdue] == [form.conversation_id]
    reply = await do_queue_email_reply(
        floor.db, keyring, principal=supervisor(floor), conversation_id=form.conversation_id,
        body="承知しました",
    )  # fmt: skip
    await send_message(floor.db, keyring, tenant_id=floor.tenant_id, message_id=reply.id)
    answer = BytesParser(policy=policy.default).parsebytes(mail.customer_inbox()[-1])
    assert answer["Subject"] == "Re: 営業時間外の問い合わせ" and answer["In-Reply-To"]

    # A contact made elsewhere without a mailbox (the widget's own offline form) is
    # answered from the queue's mailbox.
    bare = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=NewConversation(
            channel="email", queue_id=floor.queues["mail"], source="widget_offline",
            address_kind="email", address=CUSTOMER, subject="閉店後",
        ),
        actor="visitor",
    )  # fmt: skip
    answered = await do_queue_email_reply(
        floor.db, keyring, principal=supervisor(floor), conversation_id=bare.conversation_id,
        body="翌営業日にご連絡します",
    )  # fmt: skip
    sent = await send_message(floor.db, keyring, tenant_id=floor.tenant_id, message_id=answered.id)
    assert sent.status == "sent"
    last = BytesParser(policy=policy.default).parsebytes(mail.customer_inbox()[-1])
    assert last["Subject"] == "Re: 閉店後" and last["From"].addresses[0].addr_spec == DESK
    assert (
        await list_overdue(floor.db, supervisor(floor), now=utcnow() + timedelta(minutes=5)) == []
    )


async def test_the_worker_reads_with_idle_and_one_process_holds_a_mailbox(
    floor: Floor, keyring: KeyRing, mail: MailWorld, profile: str
) -> None:
    await floor.add_queue("mail")
    box = await mail.mailbox(floor, keyring, "mail", poll_interval_s=3600)
    worker = MailWorker(floor.db, keyring, rescan_s=0.1, retry_s=0.1, send_interval_s=0.2)
    await worker.start()
    try:
        await floor.until(lambda: _passes(worker, box.id), what="the worker's first pass")
        if profile == "postgres":
            async with MailboxLock(floor.db, box.id) as held:
                assert not held  # the worker holds it
            assert (
                await poll_once(floor.db, keyring, tenant_id=floor.tenant_id, account_id=box.id)
                is None
            )
        # The worker sits in IDLE (poll interval an hour): new mail wakes it.
        with smtplib.SMTP("127.0.0.1", mail.smtp.port) as client:
            client.sendmail(CUSTOMER, [DESK], message()[0])

        async def filed() -> bool:
            async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
                return await session.scalar(select(Conversation.id)) is not None

        await floor.until(filed, timeout=15, what="the IDLE wake-up to file the message")
    finally:
        await worker.stop()
    async with MailboxLock(floor.db, box.id) as held:
        assert held  # released when the worker stopped


async def _passes(worker: MailWorker, account_id: object) -> bool:
    return worker.passes.get(account_id, 0) > 0  # type: ignore[call-overload]
