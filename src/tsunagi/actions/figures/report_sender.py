"""Sending scheduled figure reports: take what is due, claim it, send it, record it.

A pass (:func:`deliver_due`) does, per tenant:

1. **take** — each running schedule whose ``next_due_at`` has come moves on to its next
   send time by compare-and-set (``… WHERE next_due_at = <what was read>``): of two workers
   reading the same schedule, one moves it, the other changes nothing. The mover inserts
   the run of the period that send covers; ``(schedule, period)`` is unique, so a period
   that already has a run (a schedule changed back and forth) gets none. Send times
   missed while no worker ran are skipped: only the latest one is taken.
2. **claim** — a queued run (or one whose retry time has come) becomes ``sending`` with a
   lease, again by compare-and-set on its status and attempt count: one worker sends it.
3. **send** — the export (:func:`tsunagi.actions.figures.exports.report_file`, the same
   file the download gives) is attached to a message sent through the tenant's mailbox
   with the email channel's SMTP sender (``actions.email_outbox.smtp_sender``).
4. **mark** — ``sent``; ``queued`` with the next try after a temporary failure (the email
   outbox's schedule: 30 s … 3 h); ``failed`` after a permanent refusal or the last try.

A run still ``sending`` when its lease is over belonged to a process that died between 2
and 4: whether the server took the message is unknown, so it is marked ``interrupted``
and **not sent again by itself** — a period is mailed at most once without a person
deciding otherwise (``do_retry_run``). Decision 0530 explains the choice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.email_accounts import CHANNEL, Mailbox, get_mailbox
from tsunagi.actions.email_outbox import SenderFor, smtp_sender
from tsunagi.actions.events import emit
from tsunagi.actions.figures.exports import report_file
from tsunagi.actions.figures.schedules import cadence_of, open_recipients, report_query
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.mail.smtp import PermanentSendError, TransientSendError
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ChannelAccount
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Tenant
from tsunagi.adapters.storage.report_models import ReportRun, ReportSchedule
from tsunagi.aio import stop_tasks
from tsunagi.channels.email_settings import retry_delay_s
from tsunagi.domain.errors import NotFoundError
from tsunagi.figures.schedules import (
    ReportRunFinishedEvent,
    masked_text,
    next_due,
    period_for,
    zone_of,
)

log = logging.getLogger(__name__)

LEASE_S = 300
SUBJECTS = {"ja": "定期レポート", "en": "Scheduled report"}
BODIES = {
    "ja": "「{name}」({start} 〜 {end})のレポートを添付します。\n\nTsunagi",
    "en": 'The report "{name}" for {start} to {end} is attached.\n\nTsunagi',
}


@dataclass(frozen=True, slots=True)
class Outcome:
    run_id: UUID
    status: str  # sent | queued (to try again) | failed | skipped (another worker has it)
    error: str | None = None


# ------------------------------------------------------------------------- take


async def take_due(db: Database, *, tenant_id: UUID, now: datetime) -> list[UUID]:
    """Move every due schedule of the tenant on and insert its period's run (step 1)."""
    async with db.scoped(tenant_id, readonly=True) as session:
        tenant = await session.get(Tenant, tenant_id)
        due = (
            await session.execute(
                select(ReportSchedule.id, ReportSchedule.next_due_at).where(
                    ReportSchedule.paused.is_(False), ReportSchedule.next_due_at <= now
                )
            )
        ).all()
    zone = zone_of(tenant.timezone if tenant else "UTC")
    taken: list[UUID] = []
    for schedule_id, was_due in due:
        run_id = await _take_one(db, tenant_id, schedule_id, was_due, zone, now)
        if run_id is not None:
            taken.append(run_id)
    return taken


async def _take_one(
    db: Database,
    tenant_id: UUID,
    schedule_id: UUID,
    was_due: datetime,
    zone: ZoneInfo,
    now: datetime,
) -> UUID | None:
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            row = await session.get(ReportSchedule, schedule_id)
            if row is None:
                return None
            cadence = cadence_of(row)
            # The latest send time not after now: earlier ones missed are skipped.
            latest = was_due
            while (following := next_due(cadence, zone, latest)) <= now:
                latest = following
            moved = await session.execute(
                update(ReportSchedule)
                .where(
                    ReportSchedule.id == schedule_id,
                    ReportSchedule.next_due_at == was_due,
                    ReportSchedule.paused.is_(False),
                )
                .values(next_due_at=next_due(cadence, zone, now), updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another worker took it
            start, end = period_for(cadence, latest.astimezone(zone).date())
            exists = await session.scalar(
                select(ReportRun.id).where(
                    ReportRun.schedule_id == schedule_id,
                    ReportRun.period_from == start,
                    ReportRun.period_to == end,
                )
            )
            if exists is not None:
                return None
            run = ReportRun(
                schedule_id=schedule_id,
                period_from=start,
                period_to=end,
                due_at=latest,
                status="queued",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            session.add(run)
            await session.flush()
            return run.id
    except IntegrityError:
        return None  # the period's run exists: the unique key is the last word


# ----------------------------------------------------------------- claim & send


async def _expire_leases(db: Database, tenant_id: UUID, now: datetime) -> None:
    """Runs whose sender died mid-send become ``interrupted`` (never sent again by
    themselves: see the module docstring)."""
    async with db.scoped(tenant_id) as session, session.begin():
        stale = (
            await session.scalars(
                select(ReportRun)
                .where(ReportRun.status == "sending", ReportRun.lease_until < now)
                .with_for_update()
            )
        ).all()
        for run in stale:
            run.status, run.lease_until, run.updated_at = "interrupted", None, now
            run.error = "the sending process stopped; whether the mail left is unknown"
            _finished(session, tenant_id, run, now)


async def _claim(db: Database, tenant_id: UUID, run_id: UUID, now: datetime) -> int | None:
    """Step 2: the attempt number, or None when another worker has the run."""
    async with db.scoped(tenant_id) as session, session.begin():
        run = await session.get(ReportRun, run_id)
        if run is None or run.status != "queued":
            return None
        if run.next_try_at is not None and run.next_try_at > now:
            return None
        claimed = await session.execute(
            update(ReportRun)
            .where(
                ReportRun.id == run_id,
                ReportRun.status == "queued",
                ReportRun.attempts == run.attempts,
            )
            .values(
                status="sending",
                attempts=run.attempts + 1,
                lease_until=now + timedelta(seconds=LEASE_S),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return run.attempts + 1


async def send_run(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    run_id: UUID,
    senders: SenderFor = smtp_sender,
    now: datetime | None = None,
) -> Outcome:
    """Claim, send and mark one run (steps 2-4)."""
    now = now or utcnow()
    attempt = await _claim(db, tenant_id, run_id, now)
    if attempt is None:
        return Outcome(run_id, "skipped")
    try:
        raw, mailbox, recipients = await _message(db, keyring, tenant_id, run_id)
    except NotFoundError as exc:  # no mailbox yet (or the schedule was just deleted)
        return await _again(db, tenant_id, run_id, attempt, str(exc), now)
    except Exception as exc:  # the report could not be made: nothing left, so say so
        log.exception("scheduled report %s could not be made", run_id)
        error = f"the report could not be made: {exc}"
        return await _mark(db, tenant_id, run_id, "failed", error, None)
    try:
        await senders(mailbox).send(raw, mail_from=mailbox.config.address, to=recipients)
    except PermanentSendError as exc:
        return await _mark(db, tenant_id, run_id, "failed", str(exc), None)
    except TransientSendError as exc:
        return await _again(db, tenant_id, run_id, attempt, str(exc), now)
    return await _mark(db, tenant_id, run_id, "sent", None, None)


async def _again(
    db: Database, tenant_id: UUID, run_id: UUID, attempt: int, error: str, now: datetime
) -> Outcome:
    """A temporary failure: queued for the next try, or failed after the last one."""
    delay = retry_delay_s(attempt)
    if delay is None:
        return await _mark(db, tenant_id, run_id, "failed", error, None)
    return await _mark(db, tenant_id, run_id, "queued", error, now + timedelta(seconds=delay))


async def _mailbox(db: Database, keyring: KeyRing, tenant_id: UUID, wanted: UUID | None) -> Mailbox:
    """The schedule's mailbox, else the tenant's first enabled one (by name)."""
    if wanted is None:
        async with db.scoped(tenant_id, readonly=True) as session:
            wanted = await session.scalar(
                select(ChannelAccount.id)
                .where(ChannelAccount.channel == CHANNEL, ChannelAccount.enabled.is_(True))
                .order_by(ChannelAccount.name)
                .limit(1)
            )
        if wanted is None:
            raise NotFoundError("no enabled mailbox to send reports from")
    return await get_mailbox(db, keyring, tenant_id=tenant_id, account_id=wanted)


async def _message(
    db: Database, keyring: KeyRing, tenant_id: UUID, run_id: UUID
) -> tuple[bytes, Mailbox, list[str]]:
    cipher = await keyring.cipher(db, tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        run = await session.get(ReportRun, run_id)
        schedule = None if run is None else await session.get(ReportSchedule, run.schedule_id)
    if run is None or schedule is None:
        raise NotFoundError("the report schedule was deleted")
    recipients = open_recipients(cipher, schedule)
    mailbox = await _mailbox(db, keyring, tenant_id, schedule.mailbox_id)
    query = report_query(schedule.query, run.period_from, run.period_to)
    found = await report_file(
        db, tenant_id, query, locale=schedule.locale, file_format=schedule.file_format
    )
    lang = schedule.locale if schedule.locale in SUBJECTS else "en"
    message = EmailMessage()
    message["From"] = formataddr((mailbox.config.display_name or "Tsunagi", mailbox.config.address))
    message["To"] = "undisclosed-recipients:;"  # recipients do not see each other
    message["Subject"] = f"{SUBJECTS[lang]}: {schedule.name} ({run.period_from} – {run.period_to})"
    message["Date"] = format_datetime(utcnow())
    # Fixed per run: a copy sent again by a person is recognisable as the same report.
    message["Message-ID"] = f"<report-{run.id}@{mailbox.config.domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        BODIES[lang].format(name=schedule.name, start=run.period_from, end=run.period_to)
    )
    kind, _, charset = found.media_type.partition("; charset=")
    main, _, sub = kind.partition("/")
    message.add_attachment(
        found.content,
        maintype=main,
        subtype=sub,
        filename=found.filename,
        params={"charset": charset} if charset else {},
    )
    # CRLF line ends: smtplib sends bytes as they are, and SMTP lines end in CRLF.
    return message.as_bytes(policy=policy.SMTP), mailbox, recipients


async def _mark(
    db: Database,
    tenant_id: UUID,
    run_id: UUID,
    status: str,
    error: str | None,
    next_try_at: datetime | None,
) -> Outcome:
    at = utcnow()
    shown = None if error is None else masked_text(error)[:300]
    async with db.scoped(tenant_id) as session, session.begin():
        run = await session.get(ReportRun, run_id, with_for_update=True)
        if run is None:
            return Outcome(run_id, status, shown)  # deleted with its schedule meanwhile
        run.status, run.error, run.next_try_at = status, shown, next_try_at
        run.lease_until, run.updated_at = None, at
        if status == "sent":
            run.sent_at = at
        if status in ("sent", "failed"):
            _finished(session, tenant_id, run, at)
    if error is not None:
        log.warning("scheduled report %s: %s (%s)", run_id, status, shown)
    return Outcome(run_id, status, shown)


def _finished(session: AsyncSession, tenant_id: UUID, run: ReportRun, at: datetime) -> None:
    emit(
        session,
        ReportRunFinishedEvent(
            tenant_id=tenant_id,
            occurred_at=at,
            schedule_id=run.schedule_id,
            run_id=run.id,
            period_from=run.period_from,
            period_to=run.period_to,
            status=run.status,
            attempts=run.attempts,
        ),
    )


# ------------------------------------------------------------------------ passes


async def _tenants_with_work(db: Database, now: datetime) -> list[UUID]:
    async with db.system(readonly=True) as session:
        due = select(ReportSchedule.tenant_id).where(
            ReportSchedule.paused.is_(False), ReportSchedule.next_due_at <= now
        )
        pending = select(ReportRun.tenant_id).where(
            or_(ReportRun.status == "queued", ReportRun.status == "sending")
        )
        found = (await session.scalars(due.union(pending))).all()
    return sorted(set(found))


async def deliver_due(
    db: Database,
    keyring: KeyRing,
    *,
    senders: SenderFor = smtp_sender,
    now: datetime | None = None,
) -> list[Outcome]:
    """One pass over every tenant: take, expire leases, send what is queued and due."""
    now = now or utcnow()
    outcomes: list[Outcome] = []
    for tenant_id in await _tenants_with_work(db, now):
        try:
            outcomes += await _deliver_tenant(db, keyring, tenant_id, senders, now)
        except Exception:  # one tenant's trouble does not hold up the others
            log.exception("scheduled reports of tenant %s failed; trying again", tenant_id)
    return outcomes


async def _deliver_tenant(
    db: Database, keyring: KeyRing, tenant_id: UUID, senders: SenderFor, now: datetime
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    await take_due(db, tenant_id=tenant_id, now=now)
    await _expire_leases(db, tenant_id, now)
    async with db.scoped(tenant_id, readonly=True) as session:
        queued = (
            await session.scalars(
                select(ReportRun.id)
                .where(
                    ReportRun.status == "queued",
                    or_(ReportRun.next_try_at.is_(None), ReportRun.next_try_at <= now),
                )
                .order_by(ReportRun.due_at)
                .limit(100)
            )
        ).all()
    for run_id in queued:
        outcomes.append(
            await send_run(
                db, keyring, tenant_id=tenant_id, run_id=run_id, senders=senders, now=now
            )
        )
    return outcomes


class ReportSender:
    """Runs :func:`deliver_due` every ``interval_s`` in the background (every process
    may run one: the compare-and-sets above keep them from sending a period twice)."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        *,
        interval_s: float = 30.0,
        senders: SenderFor = smtp_sender,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._interval_s = interval_s
        self._senders = senders
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="report-sender")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await deliver_due(self._db, self._keyring, senders=self._senders)
            except Exception:
                log.exception("the scheduled report pass failed; trying again")
            self.passes += 1
            await asyncio.sleep(self._interval_s)
