"""The audit log: sign-ins, permission denials and reads of personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry


def record(
    session: AsyncSession,
    *,
    tenant_id: UUID,
    action: str,
    resource_type: str,
    outcome: str,
    actor_user_id: UUID | None = None,
    resource_id: str | None = None,
    ip: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            occurred_at=datetime.now(UTC),
            actor_user_id=actor_user_id,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            ip=ip,
            reason=reason[:300] if reason else None,
            detail=detail or {},
        )
    )


async def do_record_denial(
    db: Database,
    *,
    tenant_id: UUID,
    actor_user_id: UUID,
    resource_type: str,
    action: str,
    reason: str,
    ip: str | None,
    path: str,
) -> None:
    """A permission denial, in its own transaction (the denied request changes nothing else)."""
    async with db.scoped(tenant_id) as session, session.begin():
        record(
            session,
            tenant_id=tenant_id,
            action="authz.denied",
            resource_type=resource_type,
            outcome="denied",
            actor_user_id=actor_user_id,
            ip=ip,
            reason=reason,
            detail={"action": action, "path": path},
        )
