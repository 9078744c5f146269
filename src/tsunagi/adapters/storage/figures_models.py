"""Tables of figures (issue 6): interval aggregates, per-contact records, the checkpoint.

* ``figures_contact_intervals`` — contact measures per 15-minute interval × queue × channel ×
  category (see ``tsunagi.figures.definitions``); ``figures_agent_intervals`` the same per
  communicator; ``figures_agent_states`` time in each agent state per interval. Each row
  also carries the interval's local day, week and month in the tenant's zone, so reports
  group by calendar without time-zone SQL. Unknown queue is the nil UUID and unknown
  category the empty string (key columns are never NULL, so upserts find their row).
* ``figures_contact_days``, ``figures_agent_days``, ``figures_agent_state_days`` — the same
  measures summed per local day, kept in the same transaction, so day, week, month and
  longer reports read one row per day and dimensions instead of 36-96 per day.
* Survey answers (``nps_*``, ``csat_*``, migration 0010) are measures of the same rows: an
  answer is attributed to its contact's queue, channel, category and closing communicator.
* ``figures_queue_intervals``, ``figures_queue_days``, ``figures_agent_queue_intervals``,
  ``figures_agent_queue_days`` — roll-ups of the four tables above without the category
  (migration 0016), for reports that neither group nor filter by category;
  ``figures_queue_months``, ``figures_agent_queue_months`` and
  ``figures_agent_state_months`` the same per local month, for the whole months of a
  report's span.
* ``figures_contacts`` — one record per contact: its running state while it lives (the
  fold's :class:`~tsunagi.figures.fold.ContactRecord`) and its figures once ended, for
  drill-down and export. ``figures_agents`` — each agent's current state for the fold.
* ``figures_checkpoints`` — per tenant, the last outbox ``seq`` folded. It is written in
  the same transaction as the rows, so a batch is folded exactly once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, BigIntPK, TenantScoped
from tsunagi.domain.ids import new_id

NIL = uuid.UUID(int=0)


class _Interval:
    """Key columns of a 15-minute row: the interval and its local calendar."""

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    interval_start: Mapped[datetime]
    local_day: Mapped[date] = mapped_column(Date)
    local_week: Mapped[date] = mapped_column(Date)
    local_month: Mapped[date] = mapped_column(Date)


class _Day:
    """Key columns of a day row: the local day and its week and month."""

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    local_day: Mapped[date] = mapped_column(Date)
    local_week: Mapped[date] = mapped_column(Date)
    local_month: Mapped[date] = mapped_column(Date)


class _QueueDims:
    queue_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(16))


class _CategoryDim:
    category: Mapped[str] = mapped_column(String(63))


class _ContactCounts:
    offered: Mapped[int] = mapped_column(BigInteger, default=0)
    answered: Mapped[int] = mapped_column(BigInteger, default=0)
    abandoned: Mapped[int] = mapped_column(BigInteger, default=0)
    short_abandoned: Mapped[int] = mapped_column(BigInteger, default=0)
    answered_in_sl: Mapped[int] = mapped_column(BigInteger, default=0)
    unqueued: Mapped[int] = mapped_column(BigInteger, default=0)
    wait_answered_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    wait_abandoned_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    talk_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    holds: Mapped[int] = mapped_column(BigInteger, default=0)
    acw_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    transfers: Mapped[int] = mapped_column(BigInteger, default=0)
    escalations: Mapped[int] = mapped_column(BigInteger, default=0)
    fcr_yes: Mapped[int] = mapped_column(BigInteger, default=0)
    fcr_no: Mapped[int] = mapped_column(BigInteger, default=0)
    callbacks: Mapped[int] = mapped_column(BigInteger, default=0)
    callbacks_kept: Mapped[int] = mapped_column(BigInteger, default=0)
    callbacks_missed: Mapped[int] = mapped_column(BigInteger, default=0)
    wait_max_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    nps_answers: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    nps_promoters: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    nps_detractors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    csat_answers: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    csat_satisfied: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    csat_score_sum: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class _Month:
    """Key column of a month row: the local month (its first day)."""

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    local_month: Mapped[date] = mapped_column(Date)


class _ContactMeasures(_QueueDims, _CategoryDim, _ContactCounts):
    """Contact measures per queue, channel and category."""


class _AgentDims:
    agent_id: Mapped[uuid.UUID]
    queue_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(16))


class _AgentCounts:
    handled: Mapped[int] = mapped_column(BigInteger, default=0)
    talk_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    holds: Mapped[int] = mapped_column(BigInteger, default=0)
    acw_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    transfers_out: Mapped[int] = mapped_column(BigInteger, default=0)
    fcr_yes: Mapped[int] = mapped_column(BigInteger, default=0)
    fcr_no: Mapped[int] = mapped_column(BigInteger, default=0)
    nps_answers: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    nps_promoters: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    nps_detractors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    csat_answers: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    csat_satisfied: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    csat_score_sum: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class _AgentMeasures(_AgentDims, _CategoryDim, _AgentCounts):
    """Handling measures per communicator, queue, channel and category."""


class _StateMeasures:
    agent_id: Mapped[uuid.UUID]
    state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(32))
    state_ms: Mapped[int] = mapped_column(BigInteger, default=0)


def _keyed(table: str, time: str, *dims: str) -> tuple[Any, ...]:
    return (
        UniqueConstraint("tenant_id", time, *dims, name=f"uq_{table}_key"),
        Index(f"ix_{table}_day", "tenant_id", "local_day"),
    )


_CONTACT_DIMS = ("queue_id", "channel", "category")
_AGENT_DIMS = ("agent_id", "queue_id", "channel", "category")
_STATE_DIMS = ("agent_id", "state", "reason")
_QUEUE_DIMS = ("queue_id", "channel")
_AGENT_QUEUE_DIMS = ("agent_id", "queue_id", "channel")


class FiguresContactInterval(_Interval, _ContactMeasures, TenantScoped, Base):
    __tablename__ = "figures_contact_intervals"
    __table_args__ = _keyed(__tablename__, "interval_start", *_CONTACT_DIMS)


class FiguresAgentInterval(_Interval, _AgentMeasures, TenantScoped, Base):
    __tablename__ = "figures_agent_intervals"
    __table_args__ = _keyed(__tablename__, "interval_start", *_AGENT_DIMS)


class FiguresAgentState(_Interval, _StateMeasures, TenantScoped, Base):
    __tablename__ = "figures_agent_states"
    __table_args__ = _keyed(__tablename__, "interval_start", *_STATE_DIMS)


class FiguresContactDay(_Day, _ContactMeasures, TenantScoped, Base):
    __tablename__ = "figures_contact_days"
    __table_args__ = _keyed(__tablename__, "local_day", *_CONTACT_DIMS)


class FiguresAgentDay(_Day, _AgentMeasures, TenantScoped, Base):
    __tablename__ = "figures_agent_days"
    __table_args__ = _keyed(__tablename__, "local_day", *_AGENT_DIMS)


class FiguresAgentStateDay(_Day, _StateMeasures, TenantScoped, Base):
    __tablename__ = "figures_agent_state_days"
    __table_args__ = _keyed(__tablename__, "local_day", *_STATE_DIMS)


# Roll-ups without the category (decision 0507): the same measures summed over every
# category, kept by the projector in the same transaction. A report that neither groups
# nor filters by category reads these — at 1,000,000 contacts an interval × queue cell
# holds ~15 contacts over ~11 categories, so the category rows are nearly as many as the
# contacts and grouping them costs what grouping the contacts does.


class FiguresQueueInterval(_Interval, _QueueDims, _ContactCounts, TenantScoped, Base):
    __tablename__ = "figures_queue_intervals"
    __table_args__ = _keyed(__tablename__, "interval_start", *_QUEUE_DIMS)


class FiguresQueueDay(_Day, _QueueDims, _ContactCounts, TenantScoped, Base):
    __tablename__ = "figures_queue_days"
    __table_args__ = _keyed(__tablename__, "local_day", *_QUEUE_DIMS)


class FiguresAgentQueueInterval(_Interval, _AgentDims, _AgentCounts, TenantScoped, Base):
    __tablename__ = "figures_agent_queue_intervals"
    __table_args__ = _keyed(__tablename__, "interval_start", *_AGENT_QUEUE_DIMS)


class FiguresAgentQueueDay(_Day, _AgentDims, _AgentCounts, TenantScoped, Base):
    __tablename__ = "figures_agent_queue_days"
    __table_args__ = _keyed(__tablename__, "local_day", *_AGENT_QUEUE_DIMS)


# Month rows of the roll-ups and of the state times: a report over whole months (or the
# whole months inside a longer span) reads one row per month instead of one per day.


def _monthly(table: str, *dims: str) -> tuple[Any, ...]:
    return (
        UniqueConstraint("tenant_id", "local_month", *dims, name=f"uq_{table}_key"),
        Index(f"ix_{table}_month", "tenant_id", "local_month"),
    )


class FiguresQueueMonth(_Month, _QueueDims, _ContactCounts, TenantScoped, Base):
    __tablename__ = "figures_queue_months"
    __table_args__ = _monthly(__tablename__, *_QUEUE_DIMS)


class FiguresAgentQueueMonth(_Month, _AgentDims, _AgentCounts, TenantScoped, Base):
    __tablename__ = "figures_agent_queue_months"
    __table_args__ = _monthly(__tablename__, *_AGENT_QUEUE_DIMS)


class FiguresAgentStateMonth(_Month, _StateMeasures, TenantScoped, Base):
    __tablename__ = "figures_agent_state_months"
    __table_args__ = _monthly(__tablename__, *_STATE_DIMS)


class FiguresContact(TenantScoped, Base):
    """One contact as figures see it (running state, then its figures once ended)."""

    __tablename__ = "figures_contacts"
    __table_args__ = (
        Index("ix_figures_contacts_ended", "tenant_id", "interval_start"),
        Index("ix_figures_contacts_day", "tenant_id", "local_day"),
        Index("ix_figures_contacts_customer", "tenant_id", "customer_key"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    queue_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    wait_from: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[uuid.UUID | None]
    phase_since: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    interval_start: Mapped[datetime | None]
    local_day: Mapped[date | None] = mapped_column(Date)
    wait_ms: Mapped[int | None] = mapped_column(BigInteger)
    talk_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    holds: Mapped[int] = mapped_column(Integer, default=0)
    acw_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    callback: Mapped[bool] = mapped_column(Boolean, default=False)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(24))
    category: Mapped[str | None] = mapped_column(String(63))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    last_agent_id: Mapped[uuid.UUID | None]
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # "kind:keyed hash" of the customer's identifier, for imported contacts (live ones find
    # theirs in contact_parties): the repeat-contact check. Never the identifier itself.
    customer_key: Mapped[str | None] = mapped_column(String(96))
    nps_score: Mapped[int | None] = mapped_column(SmallInteger)  # the survey answer, if any
    csat_score: Mapped[int | None] = mapped_column(SmallInteger)


class FiguresAgent(TenantScoped, Base):
    """An agent's current state as the fold last saw it."""

    __tablename__ = "figures_agents"

    agent_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(32))
    since: Mapped[datetime | None]


class FiguresCheckpoint(TenantScoped, Base):
    """The last outbox ``seq`` of the tenant folded into the figures."""

    __tablename__ = "figures_checkpoints"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_figures_checkpoints_tenant"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]
