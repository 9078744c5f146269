"""Call recordings for people: list, play (audited), the retention period, and the purge.

The sealed files live in the :class:`~tsunagi.adapters.telephony.recordings.RecordingVault`
under ``<data_dir>/recordings`` (written by the voice worker). A recording belongs to its
contact, so who may hear it follows the contact: a communicator hears the calls they
handled, the people who coach and check them hear every call of the center
(``voice/grants.py``). Retention is per tenant (``tenants.recording_retention_days``, or
the server's ``recording_retention_days``); :func:`do_purge_recordings` deletes what is
older, one audit entry per deleted recording.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import select

from tsunagi.actions.audit import record
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.telephony.recordings import SUFFIX, RecordingVault
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.permissions import NOBODY, Action, Principal, Resource, authorize

MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    id: str
    contact_id: UUID
    size_bytes: int
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    days: int
    tenant_days: int | None  # None: the server's default applies


@dataclass(frozen=True, slots=True)
class Purged:
    tenant_id: UUID
    deleted: int
    kept: int
    older_than: datetime


async def _check_contact(db: Database, principal: Principal, contact_id: UUID) -> None:
    """The contact exists in the principal's tenant and the principal may hear its calls."""
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(RoutingContact.agent_id, RoutingContact.last_agent_id).where(
                    RoutingContact.id == contact_id
                )
            )
        ).first()
    if row is None:
        raise NotFoundError("contact not found")
    # Nobody handled it (e.g. hung up in the IVR): only those who hear every call may.
    handled_by = row[0] or row[1] or NOBODY
    authorize(
        principal,
        Action.READ,
        Resource("recording", tenant_id=principal.tenant_id, owner_id=handled_by, id=contact_id),
    )


async def list_recordings(
    db: Database, vault: RecordingVault, principal: Principal, contact_id: UUID
) -> list[RecordingInfo]:
    await _check_contact(db, principal, contact_id)
    folder = vault.root / str(principal.tenant_id) / str(contact_id)
    return await asyncio.to_thread(_read_folder, folder, contact_id)


def _read_folder(folder: Path, contact_id: UUID) -> list[RecordingInfo]:
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        stat = path.stat()
        found.append(
            RecordingInfo(
                id=path.name.removesuffix(SUFFIX),
                contact_id=contact_id,
                size_bytes=stat.st_size,
                stored_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            )
        )
    return sorted(found, key=lambda info: info.stored_at)


async def play_recording(
    db: Database,
    vault: RecordingVault,
    principal: Principal,
    contact_id: UUID,
    recording_id: str,
    *,
    ip: str | None = None,
) -> bytes:
    """The WAV to play; the vault audits the read (who, which recording, which contact)."""
    await _check_contact(db, principal, contact_id)
    return await vault.play(principal, contact_id, recording_id, ip=ip)


async def retention_of(db: Database, tenant_id: UUID, default_days: int) -> RetentionPolicy:
    async with db.system(readonly=True) as session:
        days = await session.scalar(
            select(Tenant.recording_retention_days).where(Tenant.id == tenant_id)
        )
    return RetentionPolicy(days=days or default_days, tenant_days=days)


async def do_set_retention(
    db: Database, *, principal: Principal, days: int | None, default_days: int
) -> RetentionPolicy:
    """Set (or with ``None`` clear) the tenant's retention period; audited."""
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInputError(f"days must be between 1 and {MAX_RETENTION_DAYS}")
    authorize(
        principal,
        Action.UPDATE,
        Resource("recording_policy", tenant_id=principal.tenant_id),
    )
    async with db.system() as session, session.begin():
        tenant = await session.get(Tenant, principal.tenant_id)
        if tenant is None:
            raise NotFoundError("tenant not found")
        before = tenant.recording_retention_days
        tenant.recording_retention_days = days
        record(
            session,
            tenant_id=principal.tenant_id,
            action="recording.retention_changed",
            resource_type="recording_policy",
            resource_id=str(principal.tenant_id),
            outcome="ok",
            actor_user_id=principal.user_id,
            reason=f"{before or 'default'} -> {days or 'default'} days",
        )
    return RetentionPolicy(days=days or default_days, tenant_days=days)


async def do_purge_recordings(
    db: Database,
    vault: RecordingVault,
    *,
    default_days: int,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Purged]:
    """Delete every tenant's recordings older than its retention period.

    A recording's age is the time it was sealed into the vault (the file's mtime, set
    once by the atomic write). Each deletion is audited in its tenant (``recording.deleted``,
    no actor user) and committed before the files are unlinked.
    """
    at = now or datetime.now(UTC)
    async with db.system(readonly=True) as session:
        tenants = (await session.execute(select(Tenant.id, Tenant.recording_retention_days))).all()
    results = []
    for tenant_id, days in tenants:
        older_than = at - timedelta(days=days or default_days)
        folder = vault.root / str(tenant_id)
        old, kept = await asyncio.to_thread(_older_than, folder, older_than)
        if not dry_run and old:
            await _delete(db, tenant_id, old)
        results.append(Purged(tenant_id, len(old), kept, older_than))
    return results


def _older_than(folder: Path, limit: datetime) -> tuple[list[Path], int]:
    old: list[Path] = []
    kept = 0
    for path in folder.glob(f"*/*{SUFFIX}"):
        if datetime.fromtimestamp(path.stat().st_mtime, UTC) < limit:
            old.append(path)
        else:
            kept += 1
    return sorted(old), kept


async def _delete(db: Database, tenant_id: UUID, paths: list[Path]) -> None:
    # Audited first, deleted after the commit: a deletion is never unrecorded (a file
    # whose unlink fails is found, and recorded, again by the next purge).
    async with db.scoped(tenant_id) as session, session.begin():
        for path in paths:
            record(
                session,
                tenant_id=tenant_id,
                action="recording.deleted",
                resource_type="recording",
                resource_id=path.name.removesuffix(SUFFIX),
                outcome="ok",
                actor_user_id=None,
                reason=f"retention; contact {path.parent.name}",
            )
    for path in paths:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    for folder in {path.parent for path in paths}:
        if not any(folder.iterdir()):
            await asyncio.to_thread(os.rmdir, folder)


__all__ = [
    "Purged",
    "RecordingInfo",
    "RetentionPolicy",
    "do_purge_recordings",
    "do_set_retention",
    "list_recordings",
    "play_recording",
    "retention_of",
]
