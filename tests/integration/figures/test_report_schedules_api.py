"""Report schedules through the running app on both profiles: who may do what, bad input
refused naming the field with nothing stored, recipients sealed and shown masked, every
change audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from testkit import Browserless, World, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry
from tsunagi.adapters.storage.report_models import ReportSchedule

BASE = "/api/v1/figures/schedules"
CANARY = "kanariya.report@example.org"


def _signed_in(make: Any, world: World, role: str, tenant: str = "a") -> Browserless:
    client: Browserless = make()
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def _good(**changes: Any) -> dict[str, Any]:
    return {
        "name": "日次レポート",
        "table": "contacts",
        "grain": "day",
        "by": ["queue"],
        "file_format": "xlsx",
        "cadence": "weekly",
        "weekday": 0,
        "send_time": "08:00",
        "recipients": [CANARY, "sv@center.test"],
        **changes,
    }


async def _stored(database_url: str, world: World) -> list[ReportSchedule]:
    db = Database(database_url)
    try:
        async with db.scoped(world.tenants["a"], readonly=True) as session:
            return list((await session.scalars(select(ReportSchedule))).all())
    finally:
        await db.dispose()


async def _audit(database_url: str, world: World) -> list[AuditEntry]:
    db = Database(database_url)
    try:
        async with db.scoped(world.tenants["a"], readonly=True) as session:
            rows = await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.resource_type == "report_schedule")
                .order_by(AuditEntry.occurred_at)
            )
            return list(rows.all())
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cadence": "hourly"}, "cadence"),
        ({"cadence": "weekly", "weekday": None}, "weekday"),
        ({"cadence": "monthly", "weekday": None, "month_day": 40}, "month_day"),
        ({"send_time": "25:00"}, "send_time"),
        ({"recipients": ["boss@center.test", "not an address"]}, "recipients"),
        ({"recipients": []}, "recipients"),
        ({"table": "customers"}, "table"),
        ({"grain": "year"}, "grain"),
        ({"by": ["customer"]}, "by"),
        ({"file_format": "pdf"}, "file_format"),
        ({"name": " "}, "name"),
        ({"queue": "00000000-0000-0000-0000-000000000001"}, "queue"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    client_factory: Any, world: World, database_url: str, changes: dict[str, Any], field: str
) -> None:
    manager = _signed_in(client_factory, world, "manager")
    response = manager.request("POST", BASE, json=_good(**changes))
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(field), response.text
    assert run(lambda: _stored(database_url, world)) == []
    assert manager.request("GET", BASE).json() == []


def test_schedules_crud_roles_masking_and_audit(
    client_factory: Any, world: World, database_url: str, profile: str
) -> None:
    manager = _signed_in(client_factory, world, "manager")
    supervisor = _signed_in(client_factory, world, "supervisor")
    communicator = _signed_in(client_factory, world, "communicator")

    assert supervisor.request("POST", BASE, json=_good()).status_code == 403
    assert communicator.request("GET", BASE).status_code == 403

    created = manager.request("POST", BASE, json=_good())
    assert created.status_code == 201, created.text
    body = created.json()
    schedule_id = body["id"]
    assert body["recipients"] == ["k***@example.org", "s***@center.test"]
    assert body["query"]["by"] == ["queue"] and body["weekday"] == 0
    assert not body["paused"] and body["last_run"] is None

    # Supervisors read; other tenants do not see it at all.
    listed = supervisor.request("GET", BASE).json()
    assert [s["id"] for s in listed] == [schedule_id]
    other = _signed_in(client_factory, world, "manager", tenant="b")
    assert other.request("GET", f"{BASE}/{schedule_id}").status_code == 404
    assert other.request("DELETE", f"{BASE}/{schedule_id}").status_code == 404

    # The addresses are sealed: not in the stored row, whatever the database.
    (row,) = run(lambda: _stored(database_url, world))
    assert CANARY.encode() not in row.recipients_enc and row.recipient_count == 2
    if profile == "sqlite":
        raw = b"".join(
            p.read_bytes()
            for p in Path(database_url.split("///", 1)[1]).parent.glob("*")
            if p.is_file()
        )
        assert CANARY.encode() not in raw

    changed = manager.request(
        "PUT", f"{BASE}/{schedule_id}", json=_good(cadence="monthly", weekday=None, month_day=31)
    )
    assert changed.status_code == 200 and changed.json()["month_day"] == 31
    bad = manager.request("PUT", f"{BASE}/{schedule_id}", json=_good(recipients=["x@"]))
    assert bad.status_code == 422 and bad.json()["detail"].startswith("recipients")
    assert manager.request("GET", f"{BASE}/{schedule_id}").json()["cadence"] == "monthly"

    assert supervisor.request("POST", f"{BASE}/{schedule_id}/pause").status_code == 403
    paused = manager.request("POST", f"{BASE}/{schedule_id}/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert manager.request("POST", f"{BASE}/{schedule_id}/pause").status_code == 409
    assert manager.request("POST", f"{BASE}/{schedule_id}/resume").json()["paused"] is False
    assert manager.request("GET", f"{BASE}/{schedule_id}/runs").json() == []

    assert supervisor.request("DELETE", f"{BASE}/{schedule_id}").status_code == 403
    assert manager.request("DELETE", f"{BASE}/{schedule_id}").status_code == 204
    assert manager.request("GET", f"{BASE}/{schedule_id}").status_code == 404

    everything = run(lambda: _audit(database_url, world))
    entries = [e for e in everything if e.outcome == "ok"]  # the denials are there too
    actions = [e.action for e in entries]
    assert actions == [
        "report_schedule.created",
        "report_schedule.updated",
        "report_schedule.paused",
        "report_schedule.resumed",
        "report_schedule.deleted",
    ]
    manager_id = world.account("a", "manager").user_id
    assert all(e.actor_user_id == manager_id for e in entries)
    assert entries[1].detail["changed"] == ["cadence", "month_day", "weekday"]
    assert all(CANARY not in repr(e.detail) for e in everything)
