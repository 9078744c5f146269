"""Email tests run against real servers on 127.0.0.1: Debian's Dovecot (IMAP) and an
aiosmtpd SMTP server delivering into it, on both database profiles (the ``floor``)."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from integration.channels.conftest import keyring
from integration.email.mailserver import Dovecot, SmtpSink, dovecot_available
from integration.routing.conftest import floor
from integration.routing.routing_floor import Floor
from testkit import require
from tsunagi.actions.email_accounts import Mailbox, do_configure_mailbox, get_mailbox
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.channels.email_settings import (
    MailboxConfig,
)

__all__ = ["floor", "keyring", "mail"]

DESK = "desk@center.test"
CUSTOMER = "hanako@example.org"


@dataclass
class MailWorld:
    dovecot: Dovecot
    smtp: SmtpSink

    def customer_sends(self, raw: bytes, *, to: str = DESK, sender: str = CUSTOMER) -> None:
        """The customer's mail client sends through SMTP; it lands in the desk's IMAP box."""
        with smtplib.SMTP("127.0.0.1", self.smtp.port) as client:
            client.sendmail(sender, [to], raw)

    def customer_inbox(self) -> list[bytes]:
        return self.dovecot.messages("hanako")

    def config(self, **changes: object) -> MailboxConfig:
        values: dict[str, object] = {
            "address": DESK,
            "display_name": "Co-op desk",
            "imap_host": "127.0.0.1",
            "imap_port": self.dovecot.port,
            "imap_tls": "none",
            "username": "desk",
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp.port,
            "smtp_tls": "none",
            "smtp_username": "",
            "poll_interval_s": 5,
            **changes,
        }
        return MailboxConfig(**values)  # type: ignore[arg-type]

    async def mailbox(
        self, floor: Floor, keyring: KeyRing, queue: str, **changes: object
    ) -> Mailbox:
        account_id = await do_configure_mailbox(
            floor.db,
            keyring,
            tenant_id=floor.tenant_id,
            queue_id=floor.queues[queue],
            name=f"{queue}-box",
            config=self.config(**changes),
            password="desk-secret",
            actor="test",
        )
        return await get_mailbox(
            floor.db, keyring, tenant_id=floor.tenant_id, account_id=account_id
        )


@pytest.fixture
def mail() -> Iterator[MailWorld]:
    require(dovecot_available(), "Dovecot (scripts/services.d/email.sh installs it)")
    dovecot = Dovecot().start({"desk": "desk-secret", "hanako": "hanako-secret"})
    smtp = SmtpSink(dovecot, {DESK: "desk", CUSTOMER: "hanako"}).start()
    try:
        yield MailWorld(dovecot, smtp)
    finally:
        smtp.stop()
        dovecot.stop()


def message(
    subject: str = "配達について",
    body: str = "明日の配達時間を変えたいです。",
    *,
    message_id: str | None = None,
    sender: str = f"山田花子 <{CUSTOMER}>",
    headers: dict[str, str] | None = None,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> tuple[bytes, str]:
    """A customer's message as their mail client would send it, and its Message-ID."""
    mid = message_id or f"<{uuid.uuid4().hex}@example.org>"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = DESK
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = mid
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, media_type, content in attachments or []:
        main, _, sub = media_type.partition("/")
        msg.add_attachment(content, maintype=main, subtype=sub, filename=filename)
    return msg.as_bytes(policy=policy.SMTP), mid
