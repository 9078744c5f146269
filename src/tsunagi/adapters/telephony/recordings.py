"""Call recordings at rest: sealed with the tenant's data key, every playback audited.

A finished recording (the engine's WAV) is read once, sealed with the tenant's cipher
(AES-GCM, the same envelope keys as every other piece of personal data, see
``docs/architecture/personal-data.md``) and written as
``<root>/<tenant id>/<contact id>/<recording id>.sealed``; the plain WAV is deleted.
The associated data binds the ciphertext to its contact and recording, so a file moved
to another contact's folder does not open. No table is needed: the folder of a contact
lists its recordings.

Reads (:meth:`RecordingVault.play`) and pause/resume during a call (payment details)
write audit entries: ``recording.read``, ``recording.paused``, ``recording.resumed``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from uuid import UUID

from tsunagi.actions.audit import record
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal

SUFFIX = ".sealed"


class RecordingVault:
    def __init__(self, db: Database, keyring: KeyRing, root: Path) -> None:
        self.db = db
        self.keyring = keyring
        self.root = root

    def _path(self, tenant_id: UUID, contact_id: UUID, recording_id: str) -> Path:
        try:
            UUID(recording_id)
        except ValueError as exc:
            raise InvalidInputError("bad recording id") from exc
        return self.root / str(tenant_id) / str(contact_id) / f"{recording_id}{SUFFIX}"

    async def store(
        self, tenant_id: UUID, contact_id: UUID, recording_id: str, location: str
    ) -> Path:
        """Seal the engine's WAV (``location``) into the vault and delete the plain file."""
        wav = Path(location)
        cipher = await self.keyring.cipher(self.db, tenant_id)
        target = self._path(tenant_id, contact_id, recording_id)
        plain = await asyncio.to_thread(wav.read_bytes)
        sealed = cipher.seal_bytes(
            plain, table="recordings", column=f"audio:{recording_id}", row_id=contact_id
        )
        await asyncio.to_thread(_write_atomically, target, sealed)
        await asyncio.to_thread(wav.unlink, missing_ok=True)
        return target

    def recordings_of(self, tenant_id: UUID, contact_id: UUID) -> list[str]:
        folder = self.root / str(tenant_id) / str(contact_id)
        return sorted(p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}"))

    async def play(
        self, principal: Principal, contact_id: UUID, recording_id: str, *, ip: str | None = None
    ) -> bytes:
        """The recording's WAV for playback; the read is audited (who, which, why)."""
        tenant_id = principal.tenant_id
        path = self._path(tenant_id, contact_id, recording_id)
        async with self.db.scoped(tenant_id) as session, session.begin():
            if await session.get(RoutingContact, contact_id) is None or not path.is_file():
                raise NotFoundError("recording not found")
            record(
                session,
                tenant_id=tenant_id,
                action="recording.read",
                resource_type="recording",
                resource_id=recording_id,
                outcome="ok",
                actor_user_id=principal.user_id,
                ip=ip,
                reason=f"contact {contact_id}",
            )
        cipher = await self.keyring.cipher(self.db, tenant_id)
        sealed = await asyncio.to_thread(path.read_bytes)
        return cipher.open_bytes(
            sealed, table="recordings", column=f"audio:{recording_id}", row_id=contact_id
        )

    async def audit_pause(
        self,
        tenant_id: UUID,
        contact_id: UUID,
        recording_id: str,
        *,
        paused: bool,
        actor_user_id: UUID | None,
    ) -> None:
        async with self.db.scoped(tenant_id) as session, session.begin():
            record(
                session,
                tenant_id=tenant_id,
                action="recording.paused" if paused else "recording.resumed",
                resource_type="recording",
                resource_id=recording_id,
                outcome="ok",
                actor_user_id=actor_user_id,
                reason=f"contact {contact_id}",
            )


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(target)
