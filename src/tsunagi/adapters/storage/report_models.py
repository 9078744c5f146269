"""Scheduled figure reports delivered by email (issue 6), migration 0013.

* ``report_schedules`` — what a manager asked for: a figures table with its filters
  (``query``, the parameters of ``/api/v1/figures/report``), the file format, the cadence
  (daily / weekly on a weekday / monthly on a day, at a local time in the tenant's zone),
  the mailbox to send through, the language of labels, and the recipients — personal
  data, so sealed with the tenant keyring (``recipients_enc``, a JSON list, AAD bound to
  the row) and never stored or logged in the clear. ``next_due_at`` (UTC) is the next
  occurrence, moved by compare-and-set when a worker takes one.
* ``report_runs`` — one row per period sent (or being sent) of a schedule: unique per
  (schedule, period), so a period is taken once however many workers race. ``status``
  ``queued → sending → sent``; ``queued`` again with ``next_try_at`` after a temporary
  failure; ``failed`` after a permanent one or the last try; ``interrupted`` when the
  process sending it died (lease over) — not sent again by itself (decision 0530).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class ReportSchedule(TenantScoped, Base):
    __tablename__ = "report_schedules"
    __table_args__ = (Index("ix_report_schedules_due", "paused", "next_due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    file_format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    cadence: Mapped[str] = mapped_column(String(8))  # daily | weekly | monthly
    weekday: Mapped[int | None] = mapped_column(SmallInteger)  # 0 = Monday (weekly)
    month_day: Mapped[int | None] = mapped_column(SmallInteger)  # 1-31 (monthly)
    send_time: Mapped[str] = mapped_column(String(5))  # HH:MM, tenant's local time
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="SET NULL")
    )
    recipients_enc: Mapped[bytes] = mapped_column(LargeBinary)
    recipient_count: Mapped[int] = mapped_column(SmallInteger)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_due_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReportRun(TenantScoped, Base):
    __tablename__ = "report_runs"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "schedule_id", "period_from", "period_to", name="uq_report_runs_period"
        ),
        Index("ix_report_runs_status", "tenant_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_schedules.id", ondelete="CASCADE"), index=True
    )
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # queued|sending|sent|failed|interrupted
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(300))  # addresses masked
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
