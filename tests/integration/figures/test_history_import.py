"""``tsunagi figures import-history`` on both databases: preview, import, the figures of
the imported contacts (hand-computed), a rebuild that still agrees with live contacts
beside them, a second import that adds nothing, and 即答率 checked by repeat contacts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from integration.routing.routing_floor import close_floor, open_floor
from testkit import Browserless, LiveServer, World, run
from tsunagi.actions.figures import reports
from tsunagi.actions.figures.projector import do_fold_all, do_rebuild
from tsunagi.actions.figures.repeats import repeat_check
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContact
from tsunagi.adapters.storage.models import OutboxEvent, Queue, Tenant
from tsunagi.cli.figures import figures
from tsunagi.figures.history import communicator_id_of, contact_id_of

T = TypeVar("T")

# Tenant a is in Asia/Tokyo: these are Tokyo times. Lines 6 and 7 are bad.
HISTORY = """\
key,queue,arrived_at,queued_at,answered_at,ended_at,acw_s,category,customer,resolved_first_contact
h-1,billing,2026-11-02 09:00:00,2026-11-02 09:00:05,2026-11-02 09:00:15,2026-11-02 09:05:15,30,address,03-1111-2222,yes
h-2,billing,2026-11-02 09:10:00,2026-11-02 09:10:05,,2026-11-02 09:10:07,,,03-3333-4444,
h-3,billing,2026-11-02 09:20:00,2026-11-02 09:20:05,,2026-11-02 09:21:05,,,,
h-4,billing,2026-11-04 10:00:00,2026-11-04 10:00:00,2026-11-04 10:00:30,2026-11-04 10:04:30,,address,03-1111-2222,no
h-5,billing,yesterday,,,2026-11-04 10:04:30,,,,
h-6,,2026-11-04 10:00:00,,,2026-11-04 10:04:30,,,,
h-7,billing,2026-11-05 08:00:00,,,2026-11-05 08:00:40,,,03-1111-2222,
h-8,billing,2026-11-20 12:00:00,2026-11-20 12:00:00,2026-11-20 12:00:20,2026-11-20 12:02:20,,,03-3333-4444,
"""  # noqa: E501


def _with_db(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on a database of its own (asyncpg connections belong to one loop)."""

    async def go() -> T:
        db = Database(database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return run(go)


def _cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TSUNAGI_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGI_DATA_DIR", str(tmp_path))
    return CliRunner()


async def _slug(db: Database, tenant_id: uuid.UUID) -> str:
    async with db.system(readonly=True) as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    assert slug is not None
    return slug


async def _imported_and_queues(db: Database, tenant_id: uuid.UUID) -> tuple[int, int]:
    async with db.scoped(tenant_id, readonly=True) as session:
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == "contact.imported")
        )
        queues = await session.scalar(
            select(func.count()).select_from(Queue).where(Queue.code == "billing")
        )
    return int(events or 0), int(queues or 0)


async def _number_and_fold(db: Database, tenant_id: uuid.UUID) -> None:
    bus = MemoryBus()
    await bus.start()
    relay = OutboxRelay(db, bus)
    while await relay.run_once() > 0:
        pass
    await bus.stop()
    await do_fold_all(db, tenant_id)


def test_import_preview_figures_rebuild_and_again(
    database_url: str,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_id = world.tenants["b"]
    source = tmp_path / "history.csv"
    source.write_text(HISTORY, encoding="utf-8")
    runner = _cli(database_url, tmp_path, monkeypatch)
    slug = _with_db(database_url, lambda db: _slug(db, tenant_id))
    args = ["import-history", "--tenant", slug, str(source)]

    refused = runner.invoke(figures, args, obj={})
    assert refused.exit_code == 1
    assert "line 2, queue: no queue 'billing'" in refused.output
    assert "imported 0" in refused.output

    preview = runner.invoke(figures, [*args, "--create-queues", "--dry-run"], obj={})
    assert preview.exit_code == 1, preview.output  # two rows are bad
    assert "8 rows: would import 6, already imported 0, skipped 0, rejected 2" in (preview.output)
    assert "would create queues: billing" in preview.output
    assert "line 6, arrived_at: 'yesterday' is not a time" in preview.output
    assert "line 7, queue: is required" in preview.output
    assert "dry run: nothing was written" in preview.output
    assert _with_db(database_url, lambda db: _imported_and_queues(db, tenant_id)) == (0, 0)

    done = runner.invoke(figures, [*args, "--create-queues"], obj={})
    assert "imported 6, already imported 0" in done.output
    assert "created queues: billing" in done.output
    assert "Asia/Tokyo" in done.output
    assert _with_db(database_url, lambda db: _imported_and_queues(db, tenant_id)) == (6, 1)
    _with_db(database_url, lambda db: _number_and_fold(db, tenant_id))

    day = _with_db(
        database_url,
        lambda db: reports.report(
            db,
            tenant_id,
            reports.ReportQuery(date(2026, 11, 2), date(2026, 11, 2), grain="total"),
        ),
    )
    ((total,),) = [day]
    figures_of = total.figures
    # h-1 answered after 10 s; h-2 left after 2 s (a short abandon, excluded); h-3 left
    # after 60 s. Talk: 5 min − 30 s of after-call work.
    assert (figures_of["offered"], figures_of["answered"], figures_of["abandoned"]) == (2, 1, 1)
    assert figures_of["short_abandoned"] == 1
    assert figures_of["service_level"] == 0.5
    assert figures_of["asa_s"] == 10
    assert figures_of["aht_s"] == 300
    assert figures_of["fcr_rate"] == 1
    assert total.measures["talk_ms"] == 270_000
    assert total.measures["acw_ms"] == 30_000

    rebuilt = _with_db(database_url, lambda db: do_rebuild(db, tenant_id))
    assert rebuilt.equal, rebuilt.differences
    assert rebuilt.events >= 6

    again = runner.invoke(figures, [*args, "--create-queues"], obj={})
    assert "imported 0, already imported 6" in again.output
    assert _with_db(database_url, lambda db: _imported_and_queues(db, tenant_id)) == (6, 1)

    # 即答率: by the flag h-1 yes, h-4 no. By repeats (7 days): h-1 was followed by h-4
    # (and h-7, IVR only, not a repeat); h-4 was not; h-8's week is still open at the
    # horizon (its own arrival). h-2 was abandoned: not judged, but no repeat either.
    checked = _with_db(
        database_url,
        lambda db: repeat_check(
            db,
            tenant_id,
            reports.ReportQuery(date(2026, 11, 1), date(2026, 11, 30), grain="month"),
        ),
    )
    ((row,),) = [checked]
    assert row.bucket == "2026-11-01"
    assert row.measures == {"repeat_judged": 2, "repeated": 1, "repeat_pending": 1}
    assert row.figures["fcr_repeat_rate"] == 0.5
    keys = _with_db(database_url, lambda db: _customer_keys(db, tenant_id))
    assert len(keys) == 2  # two customers, by keyed hash only
    assert all(k.startswith("phone:") and "1111" not in k for k in keys)


async def _customer_keys(db: Database, tenant_id: uuid.UUID) -> set[str]:
    async with db.scoped(tenant_id, readonly=True) as session:
        found = await session.scalars(
            select(FiguresContact.customer_key).where(FiguresContact.customer_key.is_not(None))
        )
        return set(found)


async def _live_contact(database_url: str, profile: str, world: World) -> None:
    floor = await open_floor(database_url, profile, world)
    try:
        await floor.add_queue("billing")
        aiko = await floor.add_agent("aiko", {"billing": 5})
        contact_id = await floor.create("billing")
        await floor.wait_state(contact_id, "offered")
        kw = {"tenant_id": floor.tenant_id, "contact_id": contact_id, "agent_id": aiko}
        await do_accept_offer(floor.db, **kw, actor="t")  # type: ignore[arg-type]
        await do_end_contact(floor.db, **kw, actor="t")  # type: ignore[arg-type]
        await do_close_contact(floor.db, **kw, actor="t", resolved_first_contact=True)  # type: ignore[arg-type]
        while await floor.relay.run_once() > 0:
            pass
    finally:
        await close_floor(floor)


def test_rebuild_equals_the_maintained_rows_with_live_and_imported_contacts(
    database_url: str,
    profile: str,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_id = world.tenants["a"]
    run(lambda: _live_contact(database_url, profile, world))
    source = tmp_path / "history.csv"
    source.write_text(HISTORY, encoding="utf-8")
    runner = _cli(database_url, tmp_path, monkeypatch)
    slug = _with_db(database_url, lambda db: _slug(db, tenant_id))
    # The live floor made queue "billing" already: the file's queue maps onto it.
    done = runner.invoke(figures, ["import-history", "--tenant", slug, str(source)], obj={})
    assert "imported 6" in done.output, done.output
    assert "created queues" not in done.output
    _with_db(database_url, lambda db: _number_and_fold(db, tenant_id))
    rebuilt = _with_db(database_url, lambda db: do_rebuild(db, tenant_id))
    assert rebuilt.equal, rebuilt.differences
    assert rebuilt.rows["contacts"] >= 3  # live and imported intervals
    folded = runner.invoke(figures, ["rebuild", "--tenant", slug], obj={})
    assert folded.exit_code == 0 and ": equal" in folded.output


def test_the_dashboard_shows_both_fcr_rates_of_imported_contacts(
    database_url: str,
    server: LiveServer,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "history.csv"
    source.write_text(HISTORY, encoding="utf-8")
    runner = _cli(database_url, tmp_path, monkeypatch)
    slug = _with_db(database_url, lambda db: _slug(db, world.tenants["a"]))
    done = runner.invoke(
        figures, ["import-history", "--tenant", slug, "--create-queues", str(source)], obj={}
    )
    assert "imported 6" in done.output, done.output
    manager = Browserless(server.url)
    assert manager.sign_in(world.account("a", "manager").username).status_code == 303
    month = {"day_from": "2026-11-01", "day_to": "2026-11-30", "grain": "day"}
    deadline = time.monotonic() + 30
    while True:  # the server's relay and projector fold the imported events
        body = manager.request(
            "GET", "/api/v1/figures/report", params={**month, "grain": "total"}
        ).json()
        if body["rows"] and body["rows"][0]["figures"]["answered"] == 3:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    page = manager.request("GET", "/figures", params=month)
    assert page.status_code == 200
    tile = page.text.split('data-testid="fig-fcr-repeat">', 1)[1]
    assert tile.startswith("50.0%")  # h-1 repeated by h-4, h-4 not; h-8 still open
    assert 'data-testid="fig-fcr">50.0%' in page.text  # the flags: h-1 yes, h-4 no
    cells = page.text.split('data-testid="fig-heat"', 1)[1]
    assert '50.0%<small class="fig-repeat" data-testid="fig-heat-repeat">50.0%</small>' in cells

    # The same check through the API; a bad grain is refused naming it; communicators
    # read no figures.
    api = manager.request(
        "GET", "/api/v1/figures/repeats", params={**month, "grain": "month", "by": "category"}
    )
    assert api.status_code == 200, api.text
    rows = {tuple(r["keys"]): r for r in api.json()["rows"]}
    assert rows[("address",)]["bucket"] == "2026-11-01"
    assert rows[("address",)]["measures"] == {
        "repeat_judged": 2,
        "repeated": 1,
        "repeat_pending": 0,
    }
    assert rows[("address",)]["figures"]["fcr_repeat_rate"] == 0.5
    assert rows[("",)]["measures"]["repeat_pending"] == 1  # h-8, no category
    narrow = manager.request(
        "GET", "/api/v1/figures/repeats", params={**month, "grain": "total", "window_days": 1}
    )
    assert narrow.json()["rows"][0]["measures"]["repeated"] == 0  # h-4 came 2 days later
    bad = manager.request("GET", "/api/v1/figures/repeats", params={**month, "grain": "15"})
    assert bad.status_code == 422 and "grain" in bad.text
    manager.close()
    communicator = Browserless(server.url)
    assert communicator.sign_in(world.account("a", "communicator").username).status_code == 303
    assert communicator.request("GET", "/api/v1/figures/repeats").status_code == 403
    communicator.close()


async def _answered_by(db: Database, tenant_id: uuid.UUID) -> dict[str, uuid.UUID | None]:
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = await session.execute(select(FiguresContact.contact_id, FiguresContact.answered_by))
        return {str(contact_id): agent for contact_id, agent in rows}


def test_communicators_are_mapped_to_users_or_get_an_id_of_their_own(
    database_url: str,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_id = world.tenants["b"]
    communicator = world.account("b", "communicator")
    source = tmp_path / "people.csv"
    source.write_text(
        "key,queue,arrived_at,answered_at,ended_at,communicator\n"
        "p-1,desk,2026-11-02 09:00:00,2026-11-02 09:00:00,2026-11-02 09:03:00,SATO\n"
        "p-2,desk,2026-11-02 09:00:00,2026-11-02 09:00:00,2026-11-02 09:03:00,KIMURA\n",
        encoding="utf-8",
    )
    runner = _cli(database_url, tmp_path, monkeypatch)
    slug = _with_db(database_url, lambda db: _slug(db, tenant_id))
    args = ["import-history", "--tenant", slug, "--create-queues", str(source)]
    unknown = runner.invoke(figures, [*args, "--agent-map", "SATO=nobody"], obj={})
    assert unknown.exit_code == 1
    assert "no user 'nobody' (mapped from 'SATO')" in unknown.output
    malformed = runner.invoke(figures, [*args, "--queue-map", "desk"], obj={})
    assert malformed.exit_code == 2 and "'desk' is not SOURCE=TARGET" in malformed.output
    done = runner.invoke(figures, [*args, "--agent-map", f"SATO={communicator.username}"], obj={})
    assert "imported 2" in done.output, done.output
    _with_db(database_url, lambda db: _number_and_fold(db, tenant_id))
    found = _with_db(database_url, lambda db: _answered_by(db, tenant_id))
    assert found[str(contact_id_of(tenant_id, "p-1"))] == communicator.user_id
    assert found[str(contact_id_of(tenant_id, "p-2"))] == communicator_id_of(tenant_id, "KIMURA")
