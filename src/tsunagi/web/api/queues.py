"""Queues and inquiry categories of the caller's tenant (configuration read side)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get
from sqlalchemy import select

from tsunagi.adapters.storage.models import Category, Queue
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of


class QueueOut(Output):
    id: UUID
    code: str
    name_ja: str
    name_en: str
    channel: str
    priority: int
    sl_target_pct: int
    sl_threshold_s: int


class CategoryOut(Output):
    id: UUID
    code: str
    name_ja: str
    name_en: str


@get("/api/v1/queues", opt={"authz": ("read", "queue")}, tags=["queues"])
async def list_queues(request: Request[Any, Any, Any]) -> list[QueueOut]:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.scalars(select(Queue).order_by(Queue.code))).all()
    return [
        QueueOut(
            id=q.id,
            code=q.code,
            name_ja=q.name_ja,
            name_en=q.name_en,
            channel=q.channel,
            priority=q.priority,
            sl_target_pct=q.sl_target_pct,
            sl_threshold_s=q.sl_threshold_s,
        )
        for q in rows
    ]


@get("/api/v1/categories", opt={"authz": ("read", "category")}, tags=["queues"])
async def list_categories(request: Request[Any, Any, Any]) -> list[CategoryOut]:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.scalars(select(Category).order_by(Category.sort_order))).all()
    return [CategoryOut(id=c.id, code=c.code, name_ja=c.name_ja, name_en=c.name_en) for c in rows]


ROUTES = [list_queues, list_categories]
