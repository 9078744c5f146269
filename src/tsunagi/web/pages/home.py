"""A home page per role: what that person needs first when they sign in."""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions.accounts import get_tenant
from tsunagi.adapters.storage.models import AuditEntry, Category, Queue, User
from tsunagi.domain.permissions import Role
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


def _page(role: Role) -> dict[str, Any]:
    return {"authz": ("read", f"home.{role.value}"), "page": True}


async def _context(request: AnyRequest, role: Role) -> dict[str, Any]:
    principal = require_principal(request)
    services = services_of(request)
    tenant = await get_tenant(services.db, principal.tenant_id)
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue).order_by(Queue.code))).all()
        categories = (await session.scalars(select(Category).order_by(Category.sort_order))).all()
        users = (
            []
            if role is Role.CLIENT_VIEWER or role is Role.COMMUNICATOR
            else (await session.scalars(select(User).order_by(User.username))).all()
        )
        audit = (
            []
            if role not in (Role.MANAGER, Role.ADMINISTRATOR)
            else (
                await session.scalars(
                    select(AuditEntry).order_by(AuditEntry.occurred_at.desc()).limit(20)
                )
            ).all()
        )
    role_counts = Counter(r for user in users for r in user.roles)
    return {
        "role": role.value,
        "principal": principal,
        "tenant": tenant,
        "queues": queues,
        "categories": categories,
        "users": users,
        "role_counts": dict(sorted(role_counts.items())),
        "audit": audit,
        "csrf": csrf_for(request),
    }


@get("/home/communicator", opt=_page(Role.COMMUNICATOR))
async def home_communicator(request: AnyRequest) -> Template:
    return Template("home_communicator.html", context=await _context(request, Role.COMMUNICATOR))


@get("/home/supervisor", opt=_page(Role.SUPERVISOR))
async def home_supervisor(request: AnyRequest) -> Template:
    return Template("home_supervisor.html", context=await _context(request, Role.SUPERVISOR))


@get("/home/manager", opt=_page(Role.MANAGER))
async def home_manager(request: AnyRequest) -> Template:
    return Template("home_manager.html", context=await _context(request, Role.MANAGER))


@get("/home/administrator", opt=_page(Role.ADMINISTRATOR))
async def home_administrator(request: AnyRequest) -> Template:
    return Template("home_administrator.html", context=await _context(request, Role.ADMINISTRATOR))


@get("/home/client_viewer", opt=_page(Role.CLIENT_VIEWER))
async def home_client_viewer(request: AnyRequest) -> Template:
    return Template("home_client_viewer.html", context=await _context(request, Role.CLIENT_VIEWER))


ROUTES = [home_communicator, home_supervisor, home_manager, home_administrator, home_client_viewer]
