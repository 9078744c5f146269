"""Where the master key comes from and each tenant's data key is kept (wrapped)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tsunagi.adapters.security.crypto import (
    TenantCipher,
    load_or_create_master_key,
    new_data_key,
    parse_master_key,
    unwrap_data_key,
    wrap_data_key,
)
from tsunagi.adapters.storage.crm_models import TenantKey
from tsunagi.adapters.storage.db import Database
from tsunagi.settings import Settings


def master_key_for(settings: Settings) -> bytes:
    """The master key from the settings, or its file (created outside production)."""
    if settings.master_key:
        return parse_master_key(settings.master_key)
    return load_or_create_master_key(
        settings.effective_master_key_file, create=settings.env != "production"
    )


class KeyRing:
    """Opens tenants' data keys with the master key and caches their ciphers."""

    def __init__(self, master_key: bytes) -> None:
        self._master_key = master_key
        self._ciphers: dict[UUID, TenantCipher] = {}
        self._lock = asyncio.Lock()

    def installation_key(self, purpose: str) -> bytes:
        """A key for one installation-wide purpose (shared by the processes that hold the
        master key, e.g. the web app and the voice worker's SIP edge): HKDF of the master
        key, info ``tsunagi installation v1:<purpose>``. No tenant's data key is involved."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"tsunagi installation v1:" + purpose.encode(),
        ).derive(self._master_key)

    async def cipher(self, db: Database, tenant_id: UUID) -> TenantCipher:
        found = self._ciphers.get(tenant_id)
        if found is not None:
            return found
        async with self._lock:
            if tenant_id not in self._ciphers:
                data_key = await self._data_key(db, tenant_id)
                self._ciphers[tenant_id] = TenantCipher(tenant_id, data_key)
        return self._ciphers[tenant_id]

    async def _data_key(self, db: Database, tenant_id: UUID) -> bytes:
        async with db.scoped(tenant_id, readonly=True) as session:
            wrapped = await session.scalar(
                select(TenantKey.wrapped_key).where(TenantKey.version == 1)
            )
        if wrapped is not None:
            return unwrap_data_key(self._master_key, tenant_id, wrapped)
        data_key = new_data_key()
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                session.add(
                    TenantKey(
                        version=1,
                        wrapped_key=wrap_data_key(self._master_key, tenant_id, data_key),
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            # Another process created it first: use theirs.
            return await self._data_key(db, tenant_id)
        return data_key
