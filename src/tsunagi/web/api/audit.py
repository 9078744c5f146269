"""The audit log, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import select

from tsunagi.adapters.storage.models import AuditEntry
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of


class AuditOut(Output):
    id: UUID
    occurred_at: datetime
    actor_user_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    ip: str | None
    reason: str | None
    detail: dict[str, Any]


@get("/api/v1/audit", opt={"authz": ("read", "audit_log")}, tags=["audit"])
async def list_audit(
    request: Request[Any, Any, Any],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    action: FromQuery[str | None] = None,
) -> list[AuditOut]:
    principal = require_principal(request)
    query = select(AuditEntry).order_by(AuditEntry.occurred_at.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.scalars(query)).all()
    return [
        AuditOut(
            id=r.id,
            occurred_at=r.occurred_at,
            actor_user_id=r.actor_user_id,
            action=r.action,
            resource_type=r.resource_type,
            resource_id=r.resource_id,
            outcome=r.outcome,
            ip=r.ip,
            reason=r.reason,
            detail=r.detail,
        )
        for r in rows
    ]


ROUTES = [list_audit]
