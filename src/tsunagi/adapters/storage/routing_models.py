"""Tables of the routing engine (issue 3).

* ``routing_contacts`` — every contact of every channel and its lifecycle state. The
  ``(tenant_id, idempotency_key)`` unique constraint makes a retried create return the
  same contact.
* ``routing_assignments`` — who holds a contact. Its primary key *is* the contact id, so a
  contact can be held by at most one agent: that is the database fact behind "never given
  to two communicators". An offer carries a lease (``lease_owner``/``lease_expires_at``)
  renewed by the worker that made it; a lease that runs out is reclaimed.
* ``routing_agents`` — each agent's presence, reason code, skills and capacities, with a
  ``version`` bumped on every change so event consumers can drop stale snapshots.

Queue routing settings live in ``queues.config["routing"]`` (see ``tsunagi.routing.queues``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class RoutingContact(TenantScoped, Base):
    __tablename__ = "routing_contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_routing_contacts_idempotency"),
        Index("ix_routing_contacts_tenant_state", "tenant_id", "state"),
        Index("ix_routing_contacts_tenant_created", "tenant_id", "created_at"),
        # The engine's sweep for due callbacks (``contacts.due_callbacks``): a few rows of
        # millions, found without relying on the planner's statistics.
        Index(
            "ix_routing_contacts_callbacks_due",
            "tenant_id",
            "callback_at",
            sqlite_where=text("state = 'callback_scheduled'"),
            postgresql_where=text("state = 'callback_scheduled'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    queue_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer, default=1)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    skill: Mapped[str] = mapped_column(String(63))
    extra_skills: Mapped[list[str]] = mapped_column(default=list)
    target_agent_ids: Mapped[list[str]] = mapped_column(default=list)
    ranked_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    waited_s: Mapped[float | None] = mapped_column(Float)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    customer_ref: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(32))
    consult_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="CASCADE"), index=True
    )
    """Set on a consultation: the agent's call to a colleague about this contact."""
    callback_at: Mapped[datetime | None]
    wrap_up_until: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    category: Mapped[str | None] = mapped_column(String(63))
    resolved_first_contact: Mapped[bool | None] = mapped_column(Boolean)


class RoutingAssignment(TenantScoped, Base):
    __tablename__ = "routing_assignments"
    __table_args__ = (
        Index("ix_routing_assignments_agent", "agent_id", "channel"),
        Index("ix_routing_assignments_offer_expiry", "state", "offer_expires_at"),
        Index("ix_routing_assignments_lease", "state", "lease_expires_at"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    offered_at: Mapped[datetime]
    offer_expires_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]


class RoutingAgent(TenantScoped, Base):
    __tablename__ = "routing_agents"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    presence: Mapped[str] = mapped_column(String(16), default="signed_out")
    reason: Mapped[str | None] = mapped_column(String(32))
    since: Mapped[datetime]
    idle_since: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
