"""``tsunagi voice`` — check a voice plan; run the voice worker (SIP edge, media plane,
mixer and the call center that turns calls into routing contacts)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import click
import msgspec

from tsunagi.aio import stop_on_signals, stop_tasks
from tsunagi.domain.errors import TsunagiError
from tsunagi.settings import load_settings
from tsunagi.voice.plan import VoicePlan, parse_plan, queues_of, trunk_auth


def read_plan(path: Path) -> VoicePlan:
    """A plan from a ``.toml`` or ``.json`` file, validated."""
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    try:
        return parse_plan(data)
    except TsunagiError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


_PLAN = click.argument("plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@click.group()
def voice() -> None:
    """Voice: inbound calls through the IVR into routing's queues."""


@voice.command("check")
@_PLAN
@click.pass_context
def check(ctx: click.Context, plan_file: Path) -> None:
    """Validate a voice plan and check its tenants and queues exist."""
    plan = read_plan(plan_file)
    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    problems = asyncio.run(_missing(settings.effective_database_url, plan))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(
        f"{len(plan.numbers)} numbers, {len(plan.flows)} flows, "
        f"queues: {', '.join(sorted(queues_of(plan)))}"
    )


async def _missing(database_url: str, plan: VoicePlan) -> list[str]:
    from sqlalchemy import select

    from tsunagi.adapters.storage.db import Database
    from tsunagi.adapters.storage.models import Queue, Tenant

    db = Database(database_url)
    problems: list[str] = []
    try:
        for number, route in sorted(plan.numbers.items()):
            async with db.system(readonly=True) as session:
                tenant_id = await session.scalar(
                    select(Tenant.id).where(Tenant.slug == route.tenant)
                )
            if tenant_id is None:
                problems.append(f"number {number}: no tenant {route.tenant!r}")
                continue
            flow = plan.flows[route.flow]
            wanted = queues_of(msgspec.structs.replace(plan, flows={route.flow: flow}))
            async with db.scoped(tenant_id, readonly=True) as session:
                found = set((await session.scalars(select(Queue.code))).all())
            problems += [
                f"number {number}: tenant {route.tenant} has no queue {code!r}"
                for code in sorted(wanted - found)
            ]
    finally:
        await db.dispose()
    return problems


@voice.command("serve")
@_PLAN
@click.option(
    "--media-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Prompts and music: media NAME is NAME.wav here.",
)
@click.option("--workdir", type=click.Path(path_type=Path), help="Default: <data_dir>/voice.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for SIP and RTP.")
@click.option("--sip-port", default=5080, show_default=True, help="The voice worker's SIP port.")
@click.option(
    "--edge-port",
    default=5060,
    show_default=True,
    help="kamailio's SIP port (agents' phones register with their phone password).",
)
@click.option("--no-edge", is_flag=True, help="Run no kamailio (a trunk talks to the worker).")
@click.option("--mixer-port", default=8088, show_default=True, help="Janus HTTP port.")
@click.option("--no-mixer", is_flag=True, help="Run no Janus (no barge or whisper).")
@click.option("--ng-port", default=2223, show_default=True, help="rtpengine's control port.")
@click.option("--dtmf-port", default=2224, show_default=True, help="rtpengine's DTMF log port.")
@click.option("--rtp-ports", default="30000-30999", show_default=True, help="RTP port range.")
@click.option(
    "--media-learning",
    type=click.Choice(["off", "heuristic"]),
    default="off",
    show_default=True,
    help="off: media only from the address in each phone's SDP; heuristic: learn it "
    "from the first packets (phones behind NAT with no SBC).",
)
@click.option(
    "--softphone-port",
    type=int,
    default=None,
    help="kamailio's SIP-over-WebSocket port for the desk's browser softphones "
    "(none when unset; the web app's voice_softphone_ws_url points at it).",
)
@click.option(
    "--web-origin",
    default=None,
    help="Only pages of this origin (https://desk.example.com) may open the softphone socket.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    plan_file: Path,
    media_dir: Path,
    workdir: Path | None,
    host: str,
    sip_port: int,
    edge_port: int,
    no_edge: bool,
    mixer_port: int,
    no_mixer: bool,
    ng_port: int,
    dtmf_port: int,
    rtp_ports: str,
    media_learning: str,
    softphone_port: int | None,
    web_origin: str | None,
) -> None:
    """Run the voice worker until interrupted (components are restarted when they die)."""
    from tsunagi.adapters.telephony.service import VoiceSettings

    plan = read_plan(plan_file)
    try:
        auth = trunk_auth(plan, os.environ)
    except TsunagiError as exc:
        raise click.ClickException(f"{plan_file}: {exc}") from exc
    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    low, _, high = rtp_ports.partition("-")
    if not (low.isdigit() and high.isdigit() and int(low) < int(high)):
        raise click.UsageError("--rtp-ports must be LOW-HIGH, e.g. 30000-30999")
    voice_settings = VoiceSettings(
        workdir=(workdir or settings.data_dir / "voice").resolve(),
        media_dir=media_dir.resolve(),
        host=host,
        worker_sip_port=sip_port,
        edge_sip_port=None if no_edge else edge_port,
        mixer_http_port=None if no_mixer else mixer_port,
        ng_port=ng_port,
        dtmf_log_port=dtmf_port,
        rtp_ports=(int(low), int(high)),
        media_learning=media_learning,
        softphone_ws_port=None if no_edge else softphone_port,
        edge_secret="" if no_edge else _edge_secret(settings),
        web_origin=web_origin,
    )
    if plan.agent_domain is None and not no_edge:
        plan = msgspec.structs.replace(plan, agent_domain=f"{host}:{edge_port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(_serve(settings, voice_settings, plan, auth))
    except TsunagiError as exc:
        raise click.ClickException(str(exc)) from exc


def _edge_secret(settings: Any) -> str:
    """The edge secret, derived from the master key the web app holds too (desk phone
    passwords and softphone credentials)."""
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.telephony.edge_auth import EDGE_PURPOSE, edge_secret

    return edge_secret(KeyRing(master_key_for(settings)).installation_key(EDGE_PURPOSE))


PURGE_EVERY_S = 3600.0


async def _report_status(service: Any, center: Any, data_dir: Path, voice_settings: Any) -> None:
    """Write the components' health for the web's status page every few seconds."""
    from tsunagi.adapters.telephony.status import REPORT_EVERY_S, status_path, write_status

    path = status_path(data_dir)
    sip = f"{voice_settings.host}:{voice_settings.worker_sip_port}"
    try:
        while True:
            try:
                await asyncio.to_thread(
                    write_status,
                    path,
                    components=service.health(),
                    restarts=service.restarts,
                    live_calls=center.live_calls,
                    sip=sip,
                )
            except OSError:
                logging.getLogger(__name__).exception("could not write the voice status file")
            await asyncio.sleep(REPORT_EVERY_S)
    finally:
        path.unlink(missing_ok=True)  # stopped on purpose: "not running", not "stale"


async def _purge_every(db: Any, vault: Any, default_days: int) -> None:
    """Apply the recording retention periods now and every hour while the worker runs."""
    from tsunagi.actions.recordings import do_purge_recordings

    while True:
        try:
            for purged in await do_purge_recordings(db, vault, default_days=default_days):
                if purged.deleted:
                    logging.getLogger(__name__).info(
                        "tenant %s: %d recordings past retention deleted",
                        purged.tenant_id,
                        purged.deleted,
                    )
        except Exception:
            logging.getLogger(__name__).exception("the recording purge failed; retrying later")
        await asyncio.sleep(PURGE_EVERY_S)


@voice.command("purge-recordings")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.pass_context
def purge_recordings(ctx: click.Context, dry_run: bool) -> None:
    """Delete call recordings older than each tenant's retention period (audited).

    The voice worker does this every hour; run it from cron where no worker runs.
    """
    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    results = asyncio.run(_purge_once(settings, dry_run=dry_run))
    verb = "would delete" if dry_run else "deleted"
    for tenant_slug, purged in results:
        click.echo(
            f"{tenant_slug}: {verb} {purged.deleted}, kept {purged.kept} "
            f"(older than {purged.older_than:%Y-%m-%d %H:%M} UTC)"
        )


async def _purge_once(settings: Any, *, dry_run: bool) -> list[tuple[str, Any]]:
    from sqlalchemy import select

    from tsunagi.actions.recordings import do_purge_recordings
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.storage.db import Database
    from tsunagi.adapters.storage.models import Tenant
    from tsunagi.adapters.telephony.recordings import RecordingVault

    db = Database(settings.effective_database_url)
    try:
        vault = RecordingVault(
            db, KeyRing(master_key_for(settings)), settings.data_dir / "recordings"
        )
        results = await do_purge_recordings(
            db, vault, default_days=settings.recording_retention_days, dry_run=dry_run
        )
        async with db.system(readonly=True) as session:
            slugs = dict((await session.execute(select(Tenant.id, Tenant.slug))).all())
        return [(slugs.get(p.tenant_id, str(p.tenant_id)), p) for p in results]
    finally:
        await db.dispose()


async def _serve(
    settings: Any, voice_settings: Any, plan: VoicePlan, auth: tuple[str, str] | None
) -> None:
    from tsunagi.adapters.bus.memory import MemoryBus
    from tsunagi.adapters.bus.redis import RedisBus
    from tsunagi.adapters.security.keyring import KeyRing, master_key_for
    from tsunagi.adapters.storage.db import Database
    from tsunagi.adapters.telephony.channel import DatabaseCallContacts
    from tsunagi.adapters.telephony.processes import ComponentError
    from tsunagi.adapters.telephony.recordings import RecordingVault
    from tsunagi.adapters.telephony.service import VoiceService
    from tsunagi.voice.center import CallCenter

    stop = stop_on_signals()
    db = Database(settings.effective_database_url)
    bus = RedisBus(settings.redis_url) if settings.redis_url else MemoryBus()
    await bus.start()
    keyring = KeyRing(master_key_for(settings))
    contacts = DatabaseCallContacts(db, keyring, bus=bus)
    vault = RecordingVault(db, keyring, settings.data_dir / "recordings")
    service = VoiceService(voice_settings)
    try:
        try:
            engine = await service.start()
        except ComponentError as exc:
            raise click.ClickException(str(exc)) from exc
        center = CallCenter(engine, contacts, plan, recordings=vault, trunk_auth=auth)
        tasks = [
            asyncio.create_task(center.run()),
            asyncio.create_task(service.supervise()),
            asyncio.create_task(_purge_every(db, vault, settings.recording_retention_days)),
            asyncio.create_task(_report_status(service, center, settings.data_dir, voice_settings)),
        ]
        click.echo(f"voice worker on {voice_settings.host}:{voice_settings.worker_sip_port}")
        await stop.wait()
        await stop_tasks(tasks)
    finally:
        await service.stop()
        await contacts.close()
        await bus.stop()
        await db.dispose()
