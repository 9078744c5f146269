"""``tsunagi email`` — read the queue mailboxes and send queued mail from the command line.

``tsunagi email poll --once`` makes one pass over every enabled mailbox (or those of one
tenant) and exits; without ``--once`` it keeps reading (IMAP IDLE where offered) until
stopped — the same ingest the server runs at start-up, for a deployment that runs it
as its own process. On PostgreSQL a mailbox another process is reading is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from uuid import UUID

import click
from sqlalchemy import select

from tsunagi.domain.errors import TsunagiError
from tsunagi.settings import load_settings


@click.group()
def email() -> None:
    """Email channel: queue mailboxes (IMAP in, SMTP out)."""


@email.command()
@click.option("--once", is_flag=True, help="One pass over each mailbox, then exit.")
@click.option("--tenant", "slug", help="Tenant slug (default: every tenant).")
@click.pass_context
def poll(ctx: click.Context, once: bool, slug: str | None) -> None:
    """Read every enabled mailbox: file new mail as contacts, send what is due."""
    obj = ctx.find_root().obj or {}
    settings = load_settings(obj.get("config"))
    try:
        if once:
            for line in asyncio.run(_poll_once(settings, slug)):
                click.echo(line)
        else:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_run_forever(settings))
    except TsunagiError as exc:
        raise click.ClickException(str(exc)) from exc


async def _poll_once(settings: Any, slug: str | None) -> list[str]:
    from tsunagi.actions.email_accounts import enabled_mailboxes
    from tsunagi.actions.email_worker import describe, poll_once
    from tsunagi.adapters.mail.imap import MailServerError
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.storage.db import Database

    db = Database(settings.effective_database_url)
    keyring = KeyRing(master_key_for(settings))
    lines = []
    try:
        tenants = await _tenant_filter(db, slug)
        for tenant_id, account_id in await enabled_mailboxes(db):
            if tenants is not None and tenant_id not in tenants:
                continue
            try:
                result = describe(
                    await poll_once(db, keyring, tenant_id=tenant_id, account_id=account_id)
                )
            except MailServerError as exc:
                result = {"error": str(exc)}
            lines.append(f"{account_id} {json.dumps(result, ensure_ascii=False)}")
    finally:
        await db.dispose()
    return lines or ["no enabled mailbox"]


async def _tenant_filter(db: Any, slug: str | None) -> set[UUID] | None:
    if slug is None:
        return None
    from tsunagi.adapters.storage.models import Tenant

    async with db.system(readonly=True) as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if found is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return {found}


async def _run_forever(settings: Any) -> None:
    from tsunagi.actions.email_worker import MailWorker
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.storage.db import Database

    db = Database(settings.effective_database_url)
    worker = MailWorker(db, KeyRing(master_key_for(settings)))
    await worker.start()
    try:
        await asyncio.Event().wait()
    finally:
        await worker.stop()
        await db.dispose()
