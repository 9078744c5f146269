"""Report schedules: create, change, pause, resume, delete (audited), list, and the runs.

A schedule's recipients are personal data: they are sealed with the tenant keyring
(``report_schedules.recipients_enc``, AAD bound to the row) and opened only to send
(:mod:`tsunagi.actions.figures.report_sender`). Lists and the API show them masked
(``h***@example.org``); the audit log and events carry only their number.

Every change is one transaction: the row, an ``audit_log`` entry
(``report_schedule.created|updated|paused|resumed|deleted``, the actor, the settings
without the addresses) and a ``report_schedule.changed`` event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions import audit
from tsunagi.actions.events import emit
from tsunagi.actions.figures.reports import ReportQuery
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ChannelAccount
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, Tenant, User
from tsunagi.adapters.storage.report_models import ReportRun, ReportSchedule
from tsunagi.adapters.storage.team_models import Team
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.figures.schedules import (
    FORMATS,
    Cadence,
    ReportScheduleChangedEvent,
    mask_address,
    next_due,
    parse_recipients,
    zone_of,
)

TABLE = "report_schedules"
RESOURCE = "report_schedule"
LOCALES = ("ja", "en")


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    name: str
    table: str
    file_format: str
    cadence: str
    send_time: str
    recipients: list[str]
    grain: str = "day"
    by: list[str] = field(default_factory=list)
    queue: UUID | None = None
    channel: str | None = None
    category: str | None = None
    agent: UUID | None = None
    team: UUID | None = None
    exclude_short_abandons: bool = True
    weekday: int | None = None
    month_day: int | None = None
    mailbox_id: UUID | None = None
    locale: str = "ja"


@dataclass(frozen=True, slots=True)
class RunView:
    id: UUID
    period_from: date
    period_to: date
    due_at: datetime
    status: str
    attempts: int
    next_try_at: datetime | None
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ScheduleView:
    id: UUID
    name: str
    query: dict[str, Any]
    file_format: str
    cadence: str
    weekday: int | None
    month_day: int | None
    send_time: str
    locale: str
    mailbox_id: UUID | None
    recipients: list[str]  # masked
    paused: bool
    next_due_at: datetime
    created_at: datetime
    updated_at: datetime
    last_run: RunView | None


def report_query(stored: dict[str, Any], day_from: date, day_to: date) -> ReportQuery:
    """The report a schedule sends for the period ``day_from``..``day_to``."""
    return ReportQuery(
        day_from=day_from,
        day_to=day_to,
        table=str(stored.get("table", "contacts")),
        grain=str(stored.get("grain", "day")),
        by=tuple(stored.get("by") or ()),
        queue_id=UUID(stored["queue"]) if stored.get("queue") else None,
        channel=stored.get("channel") or None,
        category=stored.get("category") or None,
        agent_id=UUID(stored["agent"]) if stored.get("agent") else None,
        team_id=UUID(stored["team"]) if stored.get("team") else None,
        exclude_short_abandons=bool(stored.get("exclude_short_abandons", True)),
    )


@dataclass(frozen=True, slots=True)
class _Checked:
    name: str
    query: dict[str, Any]
    cadence: Cadence
    recipients: list[str]


def _checked(data: ScheduleInput) -> _Checked:
    """Every field checked before anything is written; errors name the field."""
    name = data.name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInputError("name: 1 to 100 characters")
    if data.file_format not in FORMATS:
        raise InvalidInputError(f"file_format: must be one of {', '.join(FORMATS)}")
    if data.locale not in LOCALES:
        raise InvalidInputError(f"locale: must be one of {', '.join(LOCALES)}")
    query = {
        "table": data.table,
        "grain": data.grain,
        "by": list(data.by),
        "queue": str(data.queue) if data.queue else None,
        "channel": data.channel or None,
        "category": data.category or None,
        "agent": str(data.agent) if data.agent else None,
        "team": str(data.team) if data.team else None,
        "exclude_short_abandons": data.exclude_short_abandons,
    }
    today = date(2000, 1, 1)  # any period: the filters are what is checked
    report_query(query, today, today).validated()
    cadence = Cadence.parse(data.cadence, data.send_time, data.weekday, data.month_day)
    return _Checked(name, query, cadence, parse_recipients(data.recipients))


async def _check_references(session: AsyncSession, data: ScheduleInput) -> None:
    if data.queue is not None and await session.get(Queue, data.queue) is None:
        raise InvalidInputError("queue: no such queue")
    if data.agent is not None and await session.get(User, data.agent) is None:
        raise InvalidInputError("agent: no such communicator")
    if data.team is not None and await session.get(Team, data.team) is None:
        raise InvalidInputError("team: no such team")
    if data.mailbox_id is not None:
        account = await session.get(ChannelAccount, data.mailbox_id)
        if account is None or account.channel != "email":
            raise InvalidInputError("mailbox_id: no such mailbox")


async def _zone(session: AsyncSession, tenant_id: UUID) -> Any:
    tenant = await session.get(Tenant, tenant_id)
    return zone_of(tenant.timezone if tenant else "UTC")


def _seal(keyring_cipher: Any, recipients: list[str], row_id: UUID) -> bytes:
    sealed: bytes = keyring_cipher.seal(
        json.dumps(recipients), table=TABLE, column="recipients", row_id=row_id
    )
    return sealed


def open_recipients(cipher: Any, row: ReportSchedule) -> list[str]:
    """The addresses, opened (for sending only)."""
    text = cipher.open(row.recipients_enc, table=TABLE, column="recipients", row_id=row.id)
    found: list[str] = json.loads(text or "[]")
    return found


def _settings(row: ReportSchedule) -> dict[str, Any]:
    """What the audit entry records of a schedule: everything but the addresses."""
    return {
        "name": row.name,
        "query": row.query,
        "file_format": row.file_format,
        "cadence": row.cadence,
        "weekday": row.weekday,
        "month_day": row.month_day,
        "send_time": row.send_time,
        "locale": row.locale,
        "mailbox_id": str(row.mailbox_id) if row.mailbox_id else None,
        "recipient_count": row.recipient_count,
        "paused": row.paused,
    }


def _announce(
    session: AsyncSession,
    row: ReportSchedule,
    change: str,
    actor_user_id: UUID | None,
    at: datetime,
    before: dict[str, Any] | None = None,
) -> None:
    detail: dict[str, Any] = {"settings": _settings(row)}
    if before is not None:
        detail["changed"] = sorted(k for k, v in _settings(row).items() if before.get(k) != v)
    audit.record(
        session,
        tenant_id=row.tenant_id,
        action=f"{RESOURCE}.{change}",
        resource_type=RESOURCE,
        resource_id=str(row.id),
        outcome="ok",
        actor_user_id=actor_user_id,
        detail=detail,
    )
    emit(
        session,
        ReportScheduleChangedEvent(
            tenant_id=row.tenant_id,
            occurred_at=at,
            actor=None if actor_user_id is None else str(actor_user_id),
            schedule_id=row.id,
            change=change,
            cadence=row.cadence,
            recipient_count=row.recipient_count,
        ),
    )


def _apply(row: ReportSchedule, checked: _Checked, data: ScheduleInput) -> None:
    row.name = checked.name
    row.query = checked.query
    row.file_format = data.file_format
    row.cadence = checked.cadence.kind
    row.weekday = checked.cadence.weekday
    row.month_day = checked.cadence.month_day
    row.send_time = checked.cadence.send_time_text
    row.locale = data.locale
    row.mailbox_id = data.mailbox_id
    row.recipient_count = len(checked.recipients)


async def do_create_schedule(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    data: ScheduleInput,
    actor_user_id: UUID | None,
) -> ScheduleView:
    checked = _checked(data)
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        await _check_references(session, data)
        zone = await _zone(session, tenant_id)
        row = ReportSchedule(
            paused=False,
            created_by=actor_user_id,
            created_at=at,
            updated_at=at,
            next_due_at=next_due(checked.cadence, zone, at),
        )
        _apply(row, checked, data)
        row.id = new_id()
        row.recipients_enc = _seal(cipher, checked.recipients, row.id)
        session.add(row)
        await session.flush()
        _announce(session, row, "created", actor_user_id, at)
        return _view(row, checked.recipients, None)


async def do_update_schedule(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    schedule_id: UUID,
    data: ScheduleInput,
    actor_user_id: UUID | None,
) -> ScheduleView:
    """Replace a schedule's settings; the next send is computed afresh from now. Another
    tenant's schedule is not found before the settings are judged."""
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        row = await _locked(session, schedule_id)
        checked = _checked(data)
        await _check_references(session, data)
        before = _settings(row)
        _apply(row, checked, data)
        row.recipients_enc = _seal(cipher, checked.recipients, row.id)
        row.next_due_at = next_due(checked.cadence, await _zone(session, tenant_id), at)
        row.updated_at = at
        _announce(session, row, "updated", actor_user_id, at, before)
        return _view(row, checked.recipients, await _last_run(session, row.id))


async def do_set_paused(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    schedule_id: UUID,
    paused: bool,
    actor_user_id: UUID | None,
) -> ScheduleView:
    """Pause, or resume from the next send time after now (missed ones are not sent)."""
    cipher = await keyring.cipher(db, tenant_id)
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        row = await _locked(session, schedule_id)
        if row.paused == paused:
            raise ConflictError(f"the schedule is already {'paused' if paused else 'running'}")
        row.paused = paused
        if not paused:
            row.next_due_at = next_due(cadence_of(row), await _zone(session, tenant_id), at)
        row.updated_at = at
        _announce(session, row, "paused" if paused else "resumed", actor_user_id, at)
        return _view(row, open_recipients(cipher, row), await _last_run(session, row.id))


async def do_delete_schedule(
    db: Database, *, tenant_id: UUID, schedule_id: UUID, actor_user_id: UUID | None
) -> None:
    """Delete a schedule and its runs (the audit log keeps that it existed)."""
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        row = await _locked(session, schedule_id)
        _announce(session, row, "deleted", actor_user_id, at)
        for run in (
            await session.scalars(select(ReportRun).where(ReportRun.schedule_id == row.id))
        ).all():
            await session.delete(run)
        await session.delete(row)


async def do_retry_run(
    db: Database, *, tenant_id: UUID, schedule_id: UUID, run_id: UUID, actor_user_id: UUID | None
) -> RunView:
    """Queue a failed or interrupted period again (a person decided to send it)."""
    at = utcnow()
    async with db.scoped(tenant_id) as session, session.begin():
        run = await session.get(ReportRun, run_id, with_for_update=True)
        if run is None or run.schedule_id != schedule_id:
            raise NotFoundError("report run not found")
        if run.status not in ("failed", "interrupted"):
            raise ConflictError(f"the report is {run.status}, not failed or interrupted")
        was = run.status
        run.status, run.attempts, run.next_try_at, run.lease_until = "queued", 0, None, None
        run.updated_at = at
        audit.record(
            session,
            tenant_id=tenant_id,
            action=f"{RESOURCE}.run_retried",
            resource_type=RESOURCE,
            resource_id=str(schedule_id),
            outcome="ok",
            actor_user_id=actor_user_id,
            detail={"run_id": str(run.id), "was": was, "period": str(run.period_from)},
        )
        return run_view(run)


async def _locked(session: AsyncSession, schedule_id: UUID) -> ReportSchedule:
    row = await session.get(ReportSchedule, schedule_id, with_for_update=True)
    if row is None:
        raise NotFoundError("report schedule not found")
    return row


def cadence_of(row: ReportSchedule) -> Cadence:
    return Cadence.parse(row.cadence, row.send_time, row.weekday, row.month_day)


async def _last_run(session: AsyncSession, schedule_id: UUID) -> RunView | None:
    run = await session.scalar(
        select(ReportRun)
        .where(ReportRun.schedule_id == schedule_id)
        .order_by(ReportRun.due_at.desc(), ReportRun.created_at.desc())
        .limit(1)
    )
    return None if run is None else run_view(run)


def run_view(run: ReportRun) -> RunView:
    return RunView(
        id=run.id,
        period_from=run.period_from,
        period_to=run.period_to,
        due_at=run.due_at,
        status=run.status,
        attempts=run.attempts,
        next_try_at=run.next_try_at,
        sent_at=run.sent_at,
        error=run.error,
    )


def _view(row: ReportSchedule, recipients: list[str], last: RunView | None) -> ScheduleView:
    return ScheduleView(
        id=row.id,
        name=row.name,
        query=dict(row.query),
        file_format=row.file_format,
        cadence=row.cadence,
        weekday=row.weekday,
        month_day=row.month_day,
        send_time=row.send_time,
        locale=row.locale,
        mailbox_id=row.mailbox_id,
        recipients=[mask_address(a) for a in recipients],
        paused=row.paused,
        next_due_at=row.next_due_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run=last,
    )


async def list_schedules(db: Database, keyring: KeyRing, *, tenant_id: UUID) -> list[ScheduleView]:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.scalars(
                select(ReportSchedule).order_by(ReportSchedule.name, ReportSchedule.id)
            )
        ).all()
        return [
            _view(row, open_recipients(cipher, row), await _last_run(session, row.id))
            for row in rows
        ]


async def get_schedule(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, schedule_id: UUID
) -> ScheduleView:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        row = await session.get(ReportSchedule, schedule_id)
        if row is None:
            raise NotFoundError("report schedule not found")
        return _view(row, open_recipients(cipher, row), await _last_run(session, row.id))


async def list_runs(
    db: Database, *, tenant_id: UUID, schedule_id: UUID, limit: int = 50
) -> list[RunView]:
    async with db.scoped(tenant_id, readonly=True) as session:
        if await session.get(ReportSchedule, schedule_id) is None:
            raise NotFoundError("report schedule not found")
        runs = (
            await session.scalars(
                select(ReportRun)
                .where(ReportRun.schedule_id == schedule_id)
                .order_by(ReportRun.due_at.desc(), ReportRun.created_at.desc())
                .limit(max(1, min(limit, 500)))
            )
        ).all()
        return [run_view(run) for run in runs]
