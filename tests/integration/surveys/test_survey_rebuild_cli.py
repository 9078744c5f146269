"""``tsunagi figures rebuild`` with survey answers in the stream: live rows equal the
rebuild, a tampered NPS count is noticed and put right, the export carries NPS/CSAT."""

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
from tsunagi.actions import surveys
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.adapters.storage.models import Tenant
from tsunagi.cli.figures import figures

# (nps, csat) per contact: 2 promoters, 1 passive, 2 detractors → NPS 0; 3 of 5 satisfied.
ANSWERS = [(10, 5), (9, 4), (8, 4), (6, 2), (0, 1)]


async def _answered_contacts(database_url: str, profile: str, world: World, keys: Path) -> None:
    floor = await open_floor(database_url, profile, world)
    keyring = KeyRing(load_or_create_master_key(keys, create=True))
    try:
        await floor.add_queue("billing", config={"survey": {"channels": ["sms"]}})
        aiko = await floor.add_agent("aiko", {"billing": 5})
        for index, (nps, csat) in enumerate(ANSWERS):
            contact_id = await floor.create("billing")
            await floor.wait_state(contact_id, "offered")
            kw = {"tenant_id": floor.tenant_id, "contact_id": contact_id, "agent_id": aiko}
            await do_accept_offer(floor.db, **kw, actor="t")  # type: ignore[arg-type]
            await do_end_contact(floor.db, **kw, actor="t")  # type: ignore[arg-type]
            offer = await surveys.offer_for_contact(
                floor.db, keyring, tenant_id=floor.tenant_id, contact_id=contact_id, channel="sms"
            )
            assert offer is not None
            answer = surveys.Answer(nps=nps, csat=csat)
            if index % 2:  # answered during wrap-up, before the close
                await surveys.do_answer_survey(floor.db, keyring, token=offer.token, answer=answer)
            await do_close_contact(floor.db, **kw, actor="t", category="billing")  # type: ignore[arg-type]
            if not index % 2:
                await surveys.do_answer_survey(floor.db, keyring, token=offer.token, answer=answer)
        while await floor.relay.run_once() > 0:
            pass
    finally:
        await close_floor(floor)


async def _tamper(database_url: str, tenant_id: object) -> str:
    db = Database(database_url)
    try:
        async with db.scoped(tenant_id) as session, session.begin():  # type: ignore[arg-type]
            await session.execute(
                update(FiguresContactInterval)
                .where(FiguresContactInterval.nps_answers > 0)
                .values(nps_promoters=FiguresContactInterval.nps_answers)
            )
        async with db.system(readonly=True) as session:
            slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        assert slug is not None
        return slug
    finally:
        await db.dispose()


def test_rebuild_proves_live_equals_the_events_with_answers(
    database_url: str, profile: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUNAGI_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGI_DATA_DIR", str(tmp_path))
    run(lambda: _answered_contacts(database_url, profile, world, tmp_path / "keys" / "master.key"))
    runner = CliRunner()
    folded = runner.invoke(figures, ["fold"], obj={})
    assert folded.exit_code == 0, folded.output
    same = runner.invoke(figures, ["rebuild"], obj={})
    assert same.exit_code == 0 and same.output.count(": equal") == 2, same.output

    slug = run(lambda: _tamper(database_url, world.tenants["a"]))
    noticed = runner.invoke(figures, ["rebuild", "--tenant", slug], obj={})
    assert noticed.exit_code == 1 and "nps_promoters" in noticed.output
    fixed = runner.invoke(figures, ["rebuild", "--tenant", slug, "--apply"], obj={})
    assert fixed.exit_code == 0 and "(replaced)" in fixed.output
    assert runner.invoke(figures, ["rebuild", "--tenant", slug], obj={}).exit_code == 0

    target = tmp_path / "report.xlsx"
    today = date.today()
    exported = runner.invoke(
        figures,
        [
            "export", "--tenant", slug, "--from", str(today - timedelta(days=2)),
            "--to", str(today + timedelta(days=2)), "--grain", "total", "--by", "category",
            "--format", "xlsx", "--output", str(target),
        ],
        obj={},
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    sheet = openpyxl.load_workbook(io.BytesIO(target.read_bytes())).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    values = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert (values["nps_answers"], values["nps_promoters"], values["nps_detractors"]) == (5, 2, 2)
    assert values["nps"] == 0.0
    assert (values["csat_answers"], values["csat_satisfied"], values["csat"]) == (5, 3, 0.6)
    assert values["csat_avg"] == 16 / 5
