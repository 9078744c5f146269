"""Conversations of the written channels (chat, email, SMS) and web callback bookings.

A conversation is the transcript of one contact on a written channel: its messages,
attachments and read marks. The routing contact (``routing_contacts``) is the unit of
work; the conversation is what was said. Message bodies, subjects, names, addresses and
attachment contents are personal data and stored sealed with the tenant cipher
(``*_enc`` columns, bound to their row); ``*_hash`` columns hold keyed hashes for
equality lookup (the same visitor token, the same phone number, the same mail thread).
Events about conversations carry ids and counts, never text.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class ChannelAccount(TenantScoped, Base):
    """A channel endpoint of a queue: a mailbox (IMAP in, SMTP out) or an SMS number.

    ``config`` holds non-secret settings (hosts, ports, user names, the endpoint's own
    address); ``secret_enc`` the sealed password or API token; ``cursor`` what the
    ingest has already read (e.g. IMAP UIDVALIDITY and last UID).
    """

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "name", name="uq_channel_accounts"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))  # email | sms
    name: Mapped[str] = mapped_column(String(100))
    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChatWidget(TenantScoped, Base):
    """A chat widget a tenant embeds on its site with one script tag (``data-widget=id``).

    ``topics`` maps what the visitor picks in the pre-chat form to queues
    (``[{"code", "label_ja", "label_en", "queue_id"}]``); ``offline_queue_id`` is the email
    queue an offline message goes to outside business hours; ``allowed_origins`` lists the
    sites allowed to embed it (``["*"]`` for any); ``theme`` colours and texts.
    """

    __tablename__ = "chat_widgets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    topics: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    offline_queue_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    theme: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Conversation(TenantScoped, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_address", "tenant_id", "channel", "address_hash"),
        Index("ix_conversations_thread", "tenant_id", "channel", "thread_key"),
        Index("ix_conversations_customer", "tenant_id", "customer_id", "created_at"),
        # The customer history's outer join (tenant-scoped): with only the single-column
        # indexes SQLite's planner took ix_conversations_tenant_id, a scan of the tenant's
        # conversations for every history row (migration 0017).
        Index("ix_conversations_contact", "tenant_id", "contact_id"),
        UniqueConstraint("visitor_token_hash", name="uq_conversations_visitor_token"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))  # chat | email | sms
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="SET NULL"), index=True
    )
    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="SET NULL")
    )
    widget_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chat_widgets.id", ondelete="SET NULL")
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    # bot: the FAQ bot answers; open: waiting for or with a communicator; closed.
    state: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(8), default="ja")
    topic: Mapped[str | None] = mapped_column(String(63))
    subject_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    visitor_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The customer's address on this channel (email address, phone number) and, for
    # chat, the address a transcript goes to when asked for.
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_hash: Mapped[str | None] = mapped_column(String(64))
    thread_key: Mapped[str | None] = mapped_column(String(64))
    visitor_token_hash: Mapped[str | None] = mapped_column(String(64))
    next_seq: Mapped[int] = mapped_column(Integer, default=1)
    visitor_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    agent_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    bot_turns: Mapped[int] = mapped_column(Integer, default=0)
    # resolved (the bot answered and the customer left content), handed_over, or null.
    bot_outcome: Mapped[str | None] = mapped_column(String(16))
    transcript_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    first_response_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class ConversationMessage(TenantScoped, Base):
    __tablename__ = "conversation_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_conversation_messages_seq"),
        UniqueConstraint("tenant_id", "external_id", name="uq_conversation_messages_external"),
        Index("ix_conversation_messages_provider", "tenant_id", "provider_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))  # in | out | note
    author: Mapped[str] = mapped_column(String(16))  # customer | agent | bot | system
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Sanitised HTML of an email (never a visitor's chat); the original MIME message.
    html_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Idempotency: the chat client's message id, the email Message-ID, the SMS id.
    external_id: Mapped[str | None] = mapped_column(String(255))
    provider_id: Mapped[str | None] = mapped_column(String(128))
    # received | queued | sent | delivered | failed
    status: Mapped[str] = mapped_column(String(16))
    status_detail: Mapped[str | None] = mapped_column(String(200))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class MessageAttachment(TenantScoped, Base):
    __tablename__ = "message_attachments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE"), index=True
    )
    filename_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class ChannelOptOut(TenantScoped, Base):
    """An address that asked not to be messaged on a channel (e.g. SMS ``STOP``)."""

    __tablename__ = "channel_optouts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "address_hash", name="uq_channel_optouts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    address_hash: Mapped[str] = mapped_column(String(64))
    keyword: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class CallbackBooking(TenantScoped, Base):
    """A callback a customer booked on the public page (電話予約(WEB)) for a time slot."""

    __tablename__ = "callback_bookings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference", name="uq_callback_bookings_reference"),
        Index("ix_callback_bookings_slot", "tenant_id", "queue_id", "slot_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="SET NULL")
    )
    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    slot_start: Mapped[datetime]
    slot_minutes: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(16))
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(63))
    # What the customer wrote on the form (member number, note), sealed: kept with the
    # booking, whatever the communicator later writes in the contact's notes.
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    lang: Mapped[str] = mapped_column(String(8), default="ja")
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
