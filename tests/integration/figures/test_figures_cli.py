"""``tsunagi figures`` on both databases: fold, rebuild (which must notice a tampered row
and put it right with --apply) and export."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from integration.routing.routing_floor import close_floor, open_floor
from testkit import World, run
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.models import Tenant
from tsunagi.cli.figures import figures


async def _handled_contacts(database_url: str, profile: str, world: World, count: int) -> None:
    floor = await open_floor(database_url, profile, world)
    try:
        await floor.add_queue("billing")
        aiko = await floor.add_agent("aiko", {"billing": 5})
        for _ in range(count):
            contact_id = await floor.create("billing")
            await floor.wait_state(contact_id, "offered")
            kw = {"tenant_id": floor.tenant_id, "contact_id": contact_id, "agent_id": aiko}
            await do_accept_offer(floor.db, **kw, actor="t")  # type: ignore[arg-type]
            await do_end_contact(floor.db, **kw, actor="t")  # type: ignore[arg-type]
            await do_close_contact(
                floor.db,
                **kw,
                actor="t",
                category="billing",
                resolved_first_contact=True,  # type: ignore[arg-type]
            )
        while await floor.relay.run_once() > 0:
            pass
    finally:
        await close_floor(floor)


async def _tamper(database_url: str, tenant_id: object) -> str:
    db = Database(database_url)
    try:
        async with db.scoped(tenant_id) as session, session.begin():  # type: ignore[arg-type]
            await session.execute(update(FiguresContactInterval).values(answered=99))
        async with db.system(readonly=True) as session:
            slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        assert slug is not None
        return slug
    finally:
        await db.dispose()


def test_fold_rebuild_and_export(
    database_url: str, profile: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(lambda: _handled_contacts(database_url, profile, world, 3))
    monkeypatch.setenv("TSUNAGI_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    folded = runner.invoke(figures, ["fold"], obj={})
    assert folded.exit_code == 0, folded.output
    assert "folded" in folded.output
    same = runner.invoke(figures, ["rebuild"], obj={})
    assert same.exit_code == 0, same.output
    assert same.output.count(": equal") == 2  # both tenants

    slug = run(lambda: _tamper(database_url, world.tenants["a"]))
    noticed = runner.invoke(figures, ["rebuild", "--tenant", slug], obj={})
    assert noticed.exit_code == 1
    assert "rebuilt" in noticed.output and "'answered': 3" in noticed.output
    fixed = runner.invoke(figures, ["rebuild", "--tenant", slug, "--apply"], obj={})
    assert fixed.exit_code == 0 and "(replaced)" in fixed.output
    again = runner.invoke(figures, ["rebuild", "--tenant", slug], obj={})
    assert again.exit_code == 0 and ": equal" in again.output

    target = tmp_path / "report.xlsx"
    today = date.today()
    exported = runner.invoke(
        figures,
        [
            "export",
            "--tenant",
            slug,
            "--from",
            str(today - timedelta(days=2)),
            "--to",
            str(today + timedelta(days=2)),
            "--grain",
            "total",
            "--by",
            "category",
            "--format",
            "xlsx",
            "--output",
            str(target),
        ],
        obj={},
    )
    assert exported.exit_code == 0, exported.output
    sheet = openpyxl.load_workbook(io.BytesIO(target.read_bytes())).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    values = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert (values["category"], values["answered"], values["fcr_rate"]) == ("billing", 3, 1)
