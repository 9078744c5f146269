"""Scheduled reports delivered through real servers on both profiles: an aiosmtpd SMTP
server delivering into Debian's Dovecot, read back over IMAP as the recipient's mail
client would. The attachment equals the download of the same table; two workers racing
send a period once; a failure is retried and visible; a send cut off is not repeated."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from integration.channels.conftest import keyring
from integration.email.mailserver import Dovecot, SmtpSink, dovecot_available, free_port
from integration.figures.conftest import floor
from integration.routing.routing_floor import Floor
from testkit import World, require
from tsunagi.actions.email_accounts import do_configure_mailbox
from tsunagi.actions.figures.exports import report_file
from tsunagi.actions.figures.projector import do_fold_all
from tsunagi.actions.figures.report_sender import LEASE_S, _claim, deliver_due, take_due
from tsunagi.actions.figures.reports import tenant_today
from tsunagi.actions.figures.schedules import (
    ScheduleInput,
    do_create_schedule,
    do_retry_run,
    list_runs,
    report_query,
)
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.report_models import ReportRun, ReportSchedule
from tsunagi.channels.email_settings import MailboxConfig
from tsunagi.cli.figures import figures
from tsunagi.figures.schedules import at_local

__all__ = ["floor", "keyring"]

DESK = "reports@center.test"
BOSS = "boss@center.test"
SV = "sv@center.test"
TOKYO = "Asia/Tokyo"


class Mail:
    def __init__(self, dovecot: Dovecot, smtp: SmtpSink) -> None:
        self.dovecot, self.smtp = dovecot, smtp

    def inbox(self, user: str) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(raw) for raw in self.dovecot.messages(user)]  # type: ignore[misc]

    def config(self, port: int | None = None) -> MailboxConfig:
        return MailboxConfig(
            address=DESK,
            display_name="センター",
            imap_host="127.0.0.1",
            imap_port=self.dovecot.port,
            imap_tls="none",
            username="desk",
            smtp_host="127.0.0.1",
            smtp_port=port or self.smtp.port,
            smtp_tls="none",
            smtp_username="",
        )


@pytest.fixture
def mail() -> Iterator[Mail]:
    require(dovecot_available(), "Dovecot (scripts/services.d/email.sh installs it)")
    users = {"desk": "d-secret", "boss": "b-secret", "sv": "s-secret"}
    dovecot = Dovecot().start(users)
    smtp = SmtpSink(dovecot, {DESK: "desk", BOSS: "boss", SV: "sv"}).start()
    try:
        yield Mail(dovecot, smtp)
    finally:
        smtp.stop()
        dovecot.stop()


async def _handled_contact(floor: Floor) -> UUID:
    """One answered, closed contact of today in queue "billing" (folded)."""
    queue = await floor.add_queue("billing")
    aiko = await floor.add_agent("aiko", {"billing": 5})
    contact_id = await floor.create("billing")
    await floor.wait_state(contact_id, "offered")
    kw: dict[str, Any] = {
        "tenant_id": floor.tenant_id,
        "contact_id": contact_id,
        "agent_id": aiko,
        "actor": "t",
    }
    await do_accept_offer(floor.db, **kw)
    await do_end_contact(floor.db, **kw)
    await do_close_contact(
        floor.db, **kw, category="=cmd|' /C calc'!A0", resolved_first_contact=True
    )
    while await floor.relay.run_once() > 0:
        pass
    await do_fold_all(floor.db, floor.tenant_id)
    return queue


async def _mailbox(floor: Floor, keyring: KeyRing, mail: Mail, queue: UUID, **kw: Any) -> UUID:
    return await do_configure_mailbox(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        queue_id=queue,
        name="reports",
        config=mail.config(**kw),
        password="d-secret",
        actor="test",
    )


async def _schedule(
    floor: Floor, keyring: KeyRing, world: World, file_format: str, **changes: Any
) -> UUID:
    values: dict[str, Any] = {
        "name": f"日次 {file_format}",
        "table": "contacts",
        "grain": "day",
        "by": ["queue", "category"],
        "file_format": file_format,
        "cadence": "daily",
        "send_time": "08:00",
        "recipients": [BOSS, SV],
        **changes,
    }
    view = await do_create_schedule(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        data=ScheduleInput(**values),
        actor_user_id=world.account("a", "manager").user_id,
    )
    return view.id


async def _tomorrow_morning(floor: Floor) -> tuple[date, datetime]:
    """Today (local) and tomorrow 08:01 Tokyo: the daily send that reports today."""
    today = await tenant_today(floor.db, floor.tenant_id)
    due = at_local(today + timedelta(days=1), time(8, 0), ZoneInfo(TOKYO))
    return today, due + timedelta(minutes=1)


async def _runs(db: Database, tenant_id: UUID) -> list[ReportRun]:
    async with db.scoped(tenant_id, readonly=True) as session:
        return list((await session.scalars(select(ReportRun))).all())


def _attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    content = part.get_payload(decode=True)  # the bytes, whatever the part's type
    assert isinstance(content, bytes)
    return part.get_filename() or "", content


def _sheet(content: bytes) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return rows


async def test_reports_arrive_with_the_same_file_as_the_download(
    floor: Floor, keyring: KeyRing, world: World, mail: Mail
) -> None:
    queue = await _handled_contact(floor)
    await _mailbox(floor, keyring, mail, queue)
    xlsx_id = await _schedule(floor, keyring, world, "xlsx")
    await _schedule(floor, keyring, world, "csv", locale="en")
    today, now = await _tomorrow_morning(floor)

    outcomes = await deliver_due(floor.db, keyring, now=now)
    assert sorted(o.status for o in outcomes) == ["sent", "sent"]

    received = mail.inbox("boss")
    assert len(received) == 2 and len(mail.inbox("sv")) == 2
    by_name = dict(_attachment(m) for m in received)
    query = report_query(
        {"table": "contacts", "grain": "day", "by": ["queue", "category"]}, today, today
    )
    excel = await report_file(floor.db, floor.tenant_id, query, locale="ja", file_format="xlsx")
    text = await report_file(floor.db, floor.tenant_id, query, locale="en", file_format="csv")
    assert set(by_name) == {excel.filename, text.filename}
    assert _sheet(by_name[excel.filename]) == _sheet(excel.content)
    assert by_name[text.filename] == text.content
    rows = _sheet(by_name[excel.filename])
    header, (line,) = rows[0], rows[1:]
    values = dict(zip(header, line, strict=True))
    assert (values["bucket"], values["queue"], values["offered"]) == (
        today.isoformat(),
        str(queue),
        1,
    )
    assert values["category"] == "'=cmd|' /C calc'!A0"  # inert, as in the download
    assert values["queue_name"] == "billing"
    table = list(csv.reader(io.StringIO(by_name[text.filename].decode("utf-8-sig"))))
    assert table[1][table[0].index("answered")] == "1"

    message = next(m for m in received if m.get_filename() is None and "xlsx" in str(m))
    assert message["To"] == "undisclosed-recipients:;"  # recipients do not see each other
    assert BOSS not in message.as_string() and SV not in message.as_string()
    assert message["Subject"].startswith("定期レポート: 日次 xlsx")
    assert message["Message-ID"].startswith("<report-")

    runs = await list_runs(floor.db, tenant_id=floor.tenant_id, schedule_id=xlsx_id)
    assert [(r.status, r.attempts, r.period_from, r.period_to) for r in runs] == [
        ("sent", 1, today, today)
    ]
    assert runs[0].sent_at is not None and runs[0].error is None

    # The same time again, and later the same day: the period is not sent again.
    assert await deliver_due(floor.db, keyring, now=now) == []
    assert await deliver_due(floor.db, keyring, now=now + timedelta(hours=3)) == []
    assert len(mail.inbox("boss")) == 2


async def test_two_workers_racing_send_a_period_once(
    floor: Floor, keyring: KeyRing, world: World, mail: Mail, database_url: str
) -> None:
    queue = await _handled_contact(floor)
    await _mailbox(floor, keyring, mail, queue)
    await _schedule(floor, keyring, world, "csv")
    _, now = await _tomorrow_morning(floor)
    other = Database(database_url)  # a second process's engine and pool
    try:
        results = await asyncio.gather(
            deliver_due(floor.db, keyring, now=now),
            deliver_due(other, keyring, now=now),
            deliver_due(other, keyring, now=now),
        )
    finally:
        await other.dispose()
    statuses = [o.status for outcomes in results for o in outcomes]
    assert statuses.count("sent") == 1, statuses
    assert len(mail.inbox("boss")) == 1 and len(mail.smtp.received) == 1
    (run,) = await _runs(floor.db, floor.tenant_id)
    assert (run.status, run.attempts) == ("sent", 1)


async def test_a_failed_delivery_is_retried_and_visible(
    floor: Floor, keyring: KeyRing, world: World, mail: Mail
) -> None:
    queue = await _handled_contact(floor)
    await _mailbox(floor, keyring, mail, queue, port=free_port())  # nothing listens there
    schedule_id = await _schedule(floor, keyring, world, "csv")
    _, now = await _tomorrow_morning(floor)

    (first,) = await deliver_due(floor.db, keyring, now=now)
    assert first.status == "queued" and first.error and "SMTP 127.0.0.1" in first.error
    (run,) = await list_runs(floor.db, tenant_id=floor.tenant_id, schedule_id=schedule_id)
    assert (run.status, run.attempts) == ("queued", 1)
    assert run.next_try_at == now + timedelta(seconds=30) and run.error == first.error

    await _mailbox(floor, keyring, mail, queue)  # the server is fixed
    assert await deliver_due(floor.db, keyring, now=now + timedelta(seconds=10)) == []
    (second,) = await deliver_due(floor.db, keyring, now=now + timedelta(seconds=31))
    assert second.status == "sent"
    (run,) = await list_runs(floor.db, tenant_id=floor.tenant_id, schedule_id=schedule_id)
    assert (run.status, run.attempts, run.error) == ("sent", 2, None)
    assert len(mail.inbox("boss")) == 1


async def test_a_refused_recipient_fails_with_the_address_masked(
    floor: Floor, keyring: KeyRing, world: World, mail: Mail
) -> None:
    queue = await _handled_contact(floor)
    await _mailbox(floor, keyring, mail, queue)
    schedule_id = await _schedule(
        floor, keyring, world, "csv", recipients=["nobody.here@center.test"]
    )
    _, now = await _tomorrow_morning(floor)
    (outcome,) = await deliver_due(floor.db, keyring, now=now)
    assert outcome.status == "failed"
    (run,) = await list_runs(floor.db, tenant_id=floor.tenant_id, schedule_id=schedule_id)
    assert run.status == "failed" and run.error is not None
    assert "550" in run.error and "n***@center.test" in run.error
    assert "nobody.here" not in run.error
    retried = await do_retry_run(
        floor.db,
        tenant_id=floor.tenant_id,
        schedule_id=schedule_id,
        run_id=run.id,
        actor_user_id=world.account("a", "manager").user_id,
    )
    assert (retried.status, retried.attempts) == ("queued", 0)


async def test_a_send_cut_off_is_marked_interrupted_not_sent_again(
    floor: Floor, keyring: KeyRing, world: World, mail: Mail
) -> None:
    queue = await _handled_contact(floor)
    await _mailbox(floor, keyring, mail, queue)
    schedule_id = await _schedule(floor, keyring, world, "csv")
    _, now = await _tomorrow_morning(floor)
    # A worker takes the period and claims it, then its process dies before marking it.
    (run_id,) = await take_due(floor.db, tenant_id=floor.tenant_id, now=now)
    assert await _claim(floor.db, floor.tenant_id, run_id, now) == 1

    assert await deliver_due(floor.db, keyring, now=now + timedelta(seconds=60)) == []
    later = now + timedelta(seconds=LEASE_S + 1)
    assert await deliver_due(floor.db, keyring, now=later) == []
    (run,) = await list_runs(floor.db, tenant_id=floor.tenant_id, schedule_id=schedule_id)
    assert run.status == "interrupted" and "unknown" in (run.error or "")
    assert await deliver_due(floor.db, keyring, now=later + timedelta(minutes=5)) == []
    assert mail.inbox("boss") == []

    # A person decides to send it: once.
    await do_retry_run(
        floor.db,
        tenant_id=floor.tenant_id,
        schedule_id=schedule_id,
        run_id=run_id,
        actor_user_id=None,
    )
    (sent,) = await deliver_due(floor.db, keyring, now=later + timedelta(minutes=6))
    assert sent.status == "sent" and len(mail.inbox("boss")) == 1
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        schedule = await session.get(ReportSchedule, schedule_id)
    assert schedule is not None and schedule.next_due_at > later


async def test_the_cli_sends_what_is_due(
    floor: Floor,
    keyring: KeyRing,
    world: World,
    mail: Mail,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = await _handled_contact(floor)
    await _mailbox(floor, keyring, mail, queue)
    schedule_id = await _schedule(floor, keyring, world, "xlsx")
    async with floor.db.scoped(floor.tenant_id) as session, session.begin():
        row = await session.get(ReportSchedule, schedule_id)
        assert row is not None
        row.next_due_at = datetime.now(UTC) - timedelta(minutes=1)
    monkeypatch.setenv("TSUNAGI_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGI_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("TSUNAGI_MASTER_KEY", (tmp_path / "keys" / "master.key").read_text())
    runner = CliRunner()
    first = await asyncio.to_thread(runner.invoke, figures, ["send-reports"], obj={})
    assert first.exit_code == 0, first.output
    assert first.output.endswith("1 sent, 0 not sent\n")
    again = await asyncio.to_thread(runner.invoke, figures, ["send-reports"], obj={})
    assert again.output == "0 sent, 0 not sent\n"
    assert len(mail.inbox("boss")) == 1
