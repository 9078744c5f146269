"""``tsunagi surveys send`` — send the survey links of recently closed email/SMS contacts.

Run it every few minutes (a cron job or systemd timer) with the address customers can
open; a contact gets its link once however often it runs (the message is idempotent per
contact), so overlapping windows are harmless.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from tsunagi.cli.figures import _tenant_ids, _with_db
from tsunagi.settings import load_settings


@click.group()
def surveys() -> None:
    """Customer surveys (NPS, CSAT) after a contact."""


@surveys.command("send")
@click.option(
    "--base-url",
    required=True,
    help="The public address of the center, e.g. https://center.example.jp",
)
@click.option("--tenant", "slug", help="Tenant slug (default: every tenant).")
@click.option(
    "--minutes", default=60, show_default=True, help="Contacts closed this many minutes back."
)
@click.pass_context
def send(ctx: click.Context, base_url: str, slug: str | None, minutes: int) -> None:
    """Send the survey link of every email/SMS contact closed in the last MINUTES whose
    queue asks on that channel (on behalf of the communicator who closed it)."""
    from tsunagi.actions.routing.rows import utcnow
    from tsunagi.actions.surveys import do_send_due_invitations
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for

    if not base_url.startswith(("https://", "http://")):
        raise click.BadParameter(
            "must start with https:// (or http:// for a test)", param_hint="--base-url"
        )
    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    keyring = KeyRing(master_key_for(settings))
    since = utcnow() - timedelta(minutes=minutes)

    async def work(db: Any) -> int:
        refused = 0
        for tenant_id in await _tenant_ids(db, slug):
            report = await do_send_due_invitations(
                db, keyring, tenant_id=tenant_id, base_url=base_url, ended_after=since
            )
            click.echo(f"{tenant_id}: sent {report.sent}, nothing to send {report.already}")
            for line in report.refused:
                click.echo(f"  not sent: {line}")
            refused += len(report.refused)
        return refused

    _with_db(ctx, work)
