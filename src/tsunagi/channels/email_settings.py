"""Email settings, events and the outbox state — pure.

* :class:`QueueEmail` — a queue's email behaviour (``Queue.config["email"]``).
* :class:`MailboxConfig` — a queue mailbox's non-secret settings (``channel_accounts``).
* Events about mailboxes and outgoing email (ids and states, never text).
* :class:`SendState` — the outbox state of a queued email, and the retry schedule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import ClassVar
from uuid import UUID

import msgspec

from tsunagi.channels.events import ConversationEvent
from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event

# ---------------------------------------------------------------------- settings


class QueueEmail(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A queue's email behaviour, under ``Queue.config["email"]``."""

    first_response_s: int | None = None  # SLA for the first answer (None: no timer)
    auto_ack: bool = False
    auto_ack_subject: str = "Re: {subject}"
    auto_ack_body: str = (
        "{name}様\n\nお問い合わせを受け付けました。担当者より改めてご連絡いたします。\n"
        "We have received your message and will answer soon.\n"
    )
    auto_ack_per_hour: int = 3  # at most this many automatic answers to one address an hour
    signature: str | None = None  # appended to every reply: "-- \n{agent.name}\n{queue.name}"
    templates: dict[str, str] = msgspec.field(default_factory=dict)
    max_attachment_bytes: int = 10_000_000

    def validated(self) -> QueueEmail:
        if self.first_response_s is not None and self.first_response_s < 1:
            raise InvalidInputError("email first_response_s must be at least 1 second")
        if self.auto_ack_per_hour < 0 or self.max_attachment_bytes < 1:
            raise InvalidInputError("email auto_ack_per_hour ≥ 0 and max_attachment_bytes ≥ 1")
        return self


def queue_email(config: Mapping[str, object] | None) -> QueueEmail:
    raw = (config or {}).get("email") or {}
    try:
        return msgspec.convert(raw, QueueEmail).validated()
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"queue email settings: {exc}") from exc


TLS_MODES = ("ssl", "starttls", "none")


class MailboxConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Non-secret settings of a queue's mailbox (``channel_accounts.config``)."""

    address: str  # the queue's own address: From of replies, never auto-answered
    display_name: str | None = None
    imap_host: str
    imap_port: int = 993
    imap_tls: str = "ssl"  # ssl | none (loopback or a trusted network only)
    username: str
    folder: str = "INBOX"
    smtp_host: str
    smtp_port: int = 587
    smtp_tls: str = "starttls"  # ssl | starttls | none
    smtp_username: str | None = None  # default: ``username``; "" sends without login
    poll_interval_s: int = 60
    idle: bool = True  # wait with IMAP IDLE between polls where the server offers it

    def validated(self) -> MailboxConfig:
        if not is_address(self.address):
            raise InvalidInputError(f"{self.address!r} is not an email address")
        if self.imap_tls not in ("ssl", "none") or self.smtp_tls not in TLS_MODES:
            raise InvalidInputError("imap_tls is ssl or none; smtp_tls is ssl, starttls or none")
        for port in (self.imap_port, self.smtp_port):
            if not 1 <= port <= 65535:
                raise InvalidInputError(f"port {port} is out of range")
        if not 5 <= self.poll_interval_s <= 3600:
            raise InvalidInputError("poll_interval_s must be between 5 and 3600")
        if not self.imap_host or not self.smtp_host or not self.username:
            raise InvalidInputError("imap_host, smtp_host and username are required")
        return self

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1].lower()


def is_address(value: str) -> bool:
    _, address = parseaddr(value)
    return (
        bool(address)
        and address == value.strip()
        and re.fullmatch(r"[^@\s<>()\[\],;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", address) is not None
    )


# ------------------------------------------------------------------------- events


class MailboxConfiguredEvent(Event, frozen=True, kw_only=True, tag="mailbox.configured"):
    """A queue's mailbox was created or changed (its settings stay in the database)."""

    resource: ClassVar[str] = "channel_account"
    account_id: UUID
    queue_id: UUID
    enabled: bool
    created: bool


class QueueEmailChangedEvent(Event, frozen=True, kw_only=True, tag="queue_email.changed"):
    """A queue's email behaviour (SLA, automatic answer, signature, templates) changed."""

    resource: ClassVar[str] = "channel_account"
    queue_id: UUID
    auto_ack: bool
    first_response_s: int | None


class EmailStatusChangedEvent(
    ConversationEvent, frozen=True, kw_only=True, tag="email.status_changed"
):
    """An outgoing email was sent, or failed (``status``); ``attempts`` so far."""

    message_id: UUID
    status: str  # queued | sent | failed
    attempts: int


# ------------------------------------------------------------------ sending state


@dataclass(frozen=True, slots=True)
class SendState:
    """The outbox state of a queued email, kept in ``status_detail``:
    ``try=N;next=ISO;via=ACCOUNT;err=TEXT`` — attempts so far, when to try next, the
    mailbox to send through (when not the conversation's own), the last error."""

    attempts: int = 0
    next_at: datetime | None = None
    error: str | None = None
    via: str | None = None

    def encode(self) -> str:
        parts = [f"try={self.attempts}"]
        if self.via:
            parts.append(f"via={self.via}")
        if self.next_at is not None:
            parts.append(f"next={self.next_at.astimezone(UTC).isoformat()}")
        if self.error:
            parts.append("err=" + re.sub(r"[;\r\n]+", " ", self.error))
        return ";".join(parts)[:200]

    @classmethod
    def decode(cls, value: str | None) -> SendState:
        if not value:
            return cls()
        fields = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
        try:
            attempts = int(fields.get("try", "0"))
            next_at = datetime.fromisoformat(fields["next"]) if "next" in fields else None
        except ValueError:
            return cls()
        return cls(attempts, next_at, fields.get("err"), fields.get("via"))


RETRY_DELAYS_S = (30, 120, 600, 1800, 3600, 3 * 3600)


def retry_delay_s(attempts: int) -> int | None:
    """Seconds before attempt ``attempts + 1``, or None when it is time to give up."""
    if attempts < 1 or attempts > len(RETRY_DELAYS_S):
        return None
    return RETRY_DELAYS_S[attempts - 1]
