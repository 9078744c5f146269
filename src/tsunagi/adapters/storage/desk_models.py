"""Tables of the communicator desktop (issue 4).

* ``contact_follow_ups`` — a task left at wrap-up ("call the depot tomorrow and tell the
  customer"): linked to the routing contact and, when known, the customer; owned by a
  communicator (by default the one who wrapped up) or a queue; due at a time; with a short
  note sealed with the tenant keyring (it is personal data, like the wrap-up notes). Its
  state moves open → done | cancelled once, recording who and when; ``version`` is bumped
  on every change for optimistic concurrency.

A callback the customer should receive at a set time is not a follow-up: that is a
scheduled callback contact in ``routing_contacts`` (see ``do_request_callback``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class ContactFollowUp(TenantScoped, Base):
    __tablename__ = "contact_follow_ups"
    __table_args__ = (
        Index("ix_contact_follow_ups_owner", "tenant_id", "owner_user_id", "state", "due_at"),
        Index("ix_contact_follow_ups_queue", "tenant_id", "owner_queue_id", "state", "due_at"),
        Index("ix_contact_follow_ups_customer", "tenant_id", "customer_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    # Exactly one owner: a communicator or a queue.
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    owner_queue_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime]
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | done | cancelled
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]
