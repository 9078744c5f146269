"""``tsunagi figures`` — fold, rebuild-and-compare and export the figures of a tenant."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import click
from sqlalchemy import select

from tsunagi.domain.errors import TsunagiError
from tsunagi.settings import load_settings

T = TypeVar("T")


def _with_db(ctx: click.Context, work: Callable[[Any], Awaitable[T]]) -> T:
    from tsunagi.adapters.storage.db import Database

    obj = ctx.find_root().obj or {}
    settings = load_settings(obj.get("config"))

    async def run() -> T:
        db = Database(settings.effective_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except TsunagiError as exc:
        raise click.ClickException(str(exc)) from exc


async def _tenant_ids(db: Any, slug: str | None) -> list[UUID]:
    from tsunagi.adapters.storage.models import Tenant

    async with db.system(readonly=True) as session:
        query = select(Tenant.id).order_by(Tenant.slug)
        if slug is not None:
            query = query.where(Tenant.slug == slug)
        found = list((await session.scalars(query)).all())
    if slug is not None and not found:
        raise click.ClickException(f"no tenant {slug!r}")
    return found


@click.group()
def figures() -> None:
    """Figures: interval aggregates kept from contact events."""


@figures.command()
@click.option("--tenant", "slug", help="Tenant slug (default: every tenant).")
@click.pass_context
def fold(ctx: click.Context, slug: str | None) -> None:
    """Fold every event not yet folded (the server does this continuously)."""
    from tsunagi.actions.figures.projector import do_fold_all

    async def work(db: Any) -> int:
        return sum([await do_fold_all(db, tenant) for tenant in await _tenant_ids(db, slug)])

    click.echo(f"folded {_with_db(ctx, work)} events")


@figures.command()
@click.option("--tenant", "slug", help="Tenant slug (default: every tenant).")
@click.option("--apply", is_flag=True, help="Replace the stored rows when they differ.")
@click.pass_context
def rebuild(ctx: click.Context, slug: str | None, apply: bool) -> None:
    """Recompute the figures from all events and compare with the maintained rows.

    Exits with status 1 when they differ (and --apply was not given).
    """
    from tsunagi.actions.figures.projector import RebuildReport, do_rebuild

    async def work(db: Any) -> list[RebuildReport]:
        return [await do_rebuild(db, tenant, apply=apply) for tenant in await _tenant_ids(db, slug)]

    differing = False
    for report in _with_db(ctx, work):
        rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
        verdict = "equal" if report.equal else f"{len(report.differences)} differences"
        if report.applied:
            verdict += " (replaced)"
        click.echo(
            f"{report.tenant_id}: seq {report.last_seq}, {report.events} events, {rows}: {verdict}"
        )
        for line in report.differences[:10]:
            click.echo(f"  {line}")
        differing |= not report.equal and not report.applied
    if differing:
        sys.exit(1)


@figures.command("voc-report")
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--month", required=True, help="YYYY-MM, the tenant's local month.")
@click.option("--as", "username", required=True, help="A supervisor or manager (audited).")
@click.option(
    "--actions",
    "actions_file",
    type=click.File(encoding="utf-8"),
    help="Actions taken this month, one per line.",
)
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def voc_report(
    ctx: click.Context,
    slug: str,
    month: str,
    username: str,
    actions_file: Any,
    lang: str,
    output: Path,
) -> None:
    """Write the monthly VOC report (PDF) of a tenant; the read is audited as the user."""
    from tsunagi.actions.accounts import get_tenant
    from tsunagi.actions.figures.voc import voc_month
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.storage.models import User
    from tsunagi.domain.permissions import Action, Principal, Resource, Role, authorize
    from tsunagi.web.figures.voc_pdf import render_pdf
    from tsunagi.web.i18n import Catalogues

    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    actions = actions_file.read().splitlines() if actions_file is not None else []

    async def work(db: Any) -> bytes:
        (tenant_id,) = await _tenant_ids(db, slug)
        async with db.scoped(tenant_id, readonly=True) as session:
            user = await session.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            raise click.ClickException(f"no active user {username!r} in {slug}")
        principal = Principal(
            user_id=user.id, tenant_id=tenant_id, roles=frozenset(Role(r) for r in user.roles)
        )
        authorize(principal, Action.READ, Resource("figures", tenant_id))
        found = await voc_month(
            db,
            KeyRing(master_key_for(settings)),
            principal=principal,
            month=month,
            reason=f"VOC report {month} (command line)",
            locale=lang,
            actions=actions,
        )
        tenant = await get_tenant(db, tenant_id)
        gettext = Catalogues().get(lang).gettext
        return render_pdf(found, tenant_name=tenant.name, gettext=gettext)

    data = _with_db(ctx, work)
    output.write_bytes(data)
    click.echo(f"wrote {len(data)} bytes to {output}")


@figures.command()
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option("--from", "day_from", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "day_to", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--table", type=click.Choice(["contacts", "agents"]), default="contacts")
@click.option(
    "--grain",
    type=click.Choice(["15", "30", "60", "day", "week", "month", "total"]),
    default="day",
    show_default=True,
)
@click.option("--by", default="", help="Up to two of queue, channel, category, agent (comma).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def export(
    ctx: click.Context,
    slug: str,
    day_from: Any,
    day_to: Any,
    table: str,
    grain: str,
    by: str,
    fmt: str,
    output: Path,
) -> None:
    """Write a report as CSV or Excel (formula-like text made inert)."""
    from tsunagi.actions.figures import reports
    from tsunagi.figures.cells import Cell
    from tsunagi.web.figures.exports import to_csv, to_xlsx

    async def work(db: Any) -> list[reports.ReportRow]:
        (tenant,) = await _tenant_ids(db, slug)
        query = reports.ReportQuery(
            day_from=_date(day_from),
            day_to=_date(day_to),
            table=table,
            grain=grain,
            by=tuple(name for name in by.split(",") if name),
        )
        return await reports.report(db, tenant, query)

    rows = _with_db(ctx, work)
    dims = [name for name in by.split(",") if name]
    measures = sorted({n for row in rows for n in row.measures})
    figure_names = list(rows[0].figures) if rows else []
    header = ["bucket", *dims, *figure_names, *measures]
    body: list[list[Cell]] = [
        [
            row.bucket,
            *row.keys,
            *(row.figures.get(n) for n in figure_names),
            *(row.measures.get(n, 0) for n in measures),
        ]
        for row in rows
    ]
    data = to_csv(header, body) if fmt == "csv" else to_xlsx(f"{table} {grain}", header, body)
    output.write_bytes(data)
    click.echo(f"wrote {len(rows)} rows to {output}")


def _date(value: Any) -> date:
    result: date = value.date()
    return result


@figures.command("send-reports")
@click.pass_context
def send_reports(ctx: click.Context) -> None:
    """Mail the scheduled reports that are due, once (every web process also does this
    every 30 s; a period is sent at most once however many run)."""
    from tsunagi.actions.figures.report_sender import deliver_due
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for

    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    keyring = KeyRing(master_key_for(settings))
    outcomes = _with_db(ctx, lambda db: deliver_due(db, keyring))
    for outcome in outcomes:
        click.echo(f"{outcome.run_id} {outcome.status} {outcome.error or ''}".rstrip())
    sent = sum(1 for o in outcomes if o.status == "sent")
    click.echo(f"{sent} sent, {len(outcomes) - sent} not sent")


@figures.command("import-history")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "slug", required=True, help="Tenant slug.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tsunagi", "anonymous-bank"]),
    default="tsunagi",
    show_default=True,
    help="tsunagi: the generic CSV (docs/figures.md); anonymous-bank: the Technion call log.",
)
@click.option("--queue-map", default="", help="SOURCE=QUEUE_CODE,… ('*=CODE' maps the rest).")
@click.option("--agent-map", default="", help="SOURCE_NAME=USERNAME,… for communicators.")
@click.option("--create-queues", is_flag=True, help="Create the queues the file names.")
@click.option("--timezone", help="Zone of the file's times (default: the tenant's).")
@click.option("--dry-run", is_flag=True, help="Check and count only; write nothing.")
@click.option("--batch", default=2000, show_default=True, help="Rows per transaction.")
@click.option("--max-errors", default=20, show_default=True, help="Bad rows to list.")
@click.pass_context
def import_history(
    ctx: click.Context,
    csv_file: Path,
    slug: str,
    fmt: str,
    queue_map: str,
    agent_map: str,
    create_queues: bool,
    timezone: str | None,
    dry_run: bool,
    batch: int,
    max_errors: int,
) -> None:
    """Load past contacts from CSV_FILE so the figures start with the center's history.

    Each row becomes one contact.imported event; importing the same rows again adds
    nothing. Bad rows are listed with their line and field; good rows are imported.
    Exits with status 1 when a row was rejected.
    """
    from tsunagi.actions.figures.history import (
        HistoryImportReport,
        HistoryOptions,
        do_import_history,
    )
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.figures.history import parse_map

    try:
        options = HistoryOptions(
            fmt=fmt,
            queue_map=parse_map(queue_map),
            agent_map=parse_map(agent_map),
            create_queues=create_queues,
            timezone=timezone,
            dry_run=dry_run,
            batch=batch,
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    settings = load_settings((ctx.find_root().obj or {}).get("config"))

    async def work(db: Any) -> HistoryImportReport:
        (tenant,) = await _tenant_ids(db, slug)
        with csv_file.open(encoding="utf-8-sig", newline="") as handle:
            return await do_import_history(
                db,
                KeyRing(master_key_for(settings)),
                tenant_id=tenant,
                lines=handle,
                options=options,
                actor="cli",
            )

    report = _with_db(ctx, work)
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{report.rows} rows: {verb} {report.imported}, already imported {report.duplicates}, "
        f"skipped {report.skipped}, rejected {report.rejected}"
    )
    if report.queues:
        pairs = ", ".join(f"{source}→{target}" for source, target in sorted(report.queues.items()))
        click.echo(f"queues: {pairs}")
    if report.created_queues:
        verb = "would create" if dry_run else "created"
        click.echo(f"{verb} queues: {', '.join(report.created_queues)}")
    if report.first_ended is not None and report.last_ended is not None:
        click.echo(
            f"contacts ended {report.first_ended:%Y-%m-%d %H:%M} … "
            f"{report.last_ended:%Y-%m-%d %H:%M} UTC (file times read in {report.timezone})"
        )
    for bad in report.errors[:max_errors]:
        click.echo(f"  {bad}")
    if report.rejected > max_errors:
        click.echo(f"  … and {report.rejected - max_errors} more")
    if report.warned:
        click.echo(f"{report.warned} fields left out of rows that were kept:")
        for note in report.warnings[:max_errors]:
            click.echo(f"  {note}")
        if report.warned > max_errors:
            click.echo(f"  … and {report.warned - max_errors} more")
    if dry_run:
        click.echo("dry run: nothing was written")
    elif report.imported:
        click.echo(
            "the server's relay numbers the events and its projector folds them; "
            "`tsunagi figures rebuild` recounts them with everything else"
        )
    if report.rejected:
        sys.exit(1)
