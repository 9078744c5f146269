"""Survey links by email: ``do_send_due_invitations`` (what ``tsunagi surveys send`` runs)
sends one link per closed email contact of a queue that asks, on behalf of the
communicator who closed it; the customer's mail carries a link that answers once."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from integration.email.conftest import CUSTOMER, MailWorld, mail
from integration.routing.routing_floor import Floor
from tsunagi.actions import surveys
from tsunagi.actions.email import do_create_email_contact_from_form
from tsunagi.actions.email_outbox import send_due
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ConversationMessage
from tsunagi.cli.surveys import surveys as cli_surveys

__all__ = ["mail"]  # the fixture: a Dovecot and an SMTP sink for the customer's inbox
LINK = re.compile(r"https://center\.example/survey/([A-Za-z0-9_-]{74})")


async def closed_email_contact(floor: Floor, keyring: KeyRing, queue: str, key: str) -> str:
    form = await do_create_email_contact_from_form(
        floor.db, keyring, tenant_id=floor.tenant_id, queue_id=floor.queues[queue],
        name="山田花子", address=CUSTOMER, subject="配達について", body="明日の配達は？",
        idempotency_key=key,
    )  # fmt: skip
    contact = await floor.wait_state(form.contact_id, "offered")
    kw = {"tenant_id": floor.tenant_id, "contact_id": form.contact_id, "agent_id": contact.agent_id}
    await do_accept_offer(floor.db, **kw, actor="t")  # type: ignore[arg-type]
    await do_end_contact(floor.db, **kw, actor="t")  # type: ignore[arg-type]
    await do_close_contact(floor.db, **kw, actor="t", category="delivery")  # type: ignore[arg-type]
    return str(form.contact_id)


async def test_closed_email_contacts_get_one_link_that_answers_once(
    floor: Floor,
    keyring: KeyRing,
    mail: MailWorld,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await floor.add_queue("mail", config={"survey": {"channels": ["email"], "questions": "csat"}})
    await floor.add_queue("quiet", config={"survey": {"channels": ["sms"]}})
    await floor.add_agent("aiko", {"mail": 5, "quiet": 5}, {"email": 2})
    await mail.mailbox(floor, keyring, "mail")
    await mail.mailbox(floor, keyring, "quiet")
    started = utcnow() - timedelta(minutes=1)
    asked = await closed_email_contact(floor, keyring, "mail", "form-1")
    await closed_email_contact(floor, keyring, "quiet", "form-2")  # asks by SMS only

    window = {
        "tenant_id": floor.tenant_id,
        "base_url": "https://center.example/",
        "ended_after": started,
    }
    report = await surveys.do_send_due_invitations(floor.db, keyring, **window)
    assert (report.sent, report.already, report.refused) == (1, 1, [])
    again = await surveys.do_send_due_invitations(floor.db, keyring, **window)
    assert again.sent == 1 and again.refused == []  # the same message again, not a new one
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        queued = await session.scalar(
            select(func.count())
            .select_from(ConversationMessage)
            .where(ConversationMessage.direction == "out")
        )
    assert queued == 1
    await send_due(floor.db, keyring, tenant_id=floor.tenant_id)
    (raw,) = mail.customer_inbox()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    assert "ご対応へのご感想" in text
    found = LINK.search(text)
    assert found is not None
    token = found.group(1)
    opened = await surveys.open_survey(floor.db, keyring, token=token)
    assert str(opened.invitation.contact_id) == asked and opened.invitation.channel == "email"
    assert opened.invitation.questions == "csat" and not opened.answered
    await surveys.do_answer_survey(floor.db, keyring, token=token, answer=surveys.Answer(csat=3))
    after = await surveys.do_send_due_invitations(floor.db, keyring, **window)
    assert (after.sent, after.already) == (0, 2)  # answered: nothing more to send

    # The command a timer runs (same keys: the keyring's file is <data_dir>/keys/master.key).
    monkeypatch.setenv("TSUNAGI_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    command = ["send", "--base-url", "https://center.example", "--minutes", "30"]
    ran = await asyncio.to_thread(runner.invoke, cli_surveys, command, obj={})
    assert ran.exit_code == 0, ran.output
    assert f"{floor.tenant_id}: sent 0, nothing to send 2" in ran.output
    wrong = await asyncio.to_thread(
        runner.invoke, cli_surveys, ["send", "--base-url", "center"], obj={}
    )
    assert wrong.exit_code == 2 and "https://" in wrong.output
