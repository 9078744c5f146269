"""The knowledge page: search as you type, read an article, fill a script."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.response import Template

from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.knowledge import sees_internal
from tsunagi.actions.suggestion_hits import suggestion_hit_rate
from tsunagi.domain.permissions import Action, Resource, is_allowed
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


@get("/knowledge", opt={"authz": ("read", "article"), "page": True})
async def knowledge_page(request: AnyRequest) -> Template:
    principal = require_principal(request)
    tenant = await get_tenant(services_of(request).db, principal.tenant_id)
    hits = None
    if is_allowed(principal, Action.READ, Resource("figures", principal.tenant_id)):
        # Supervisors see how well the wrap-up category suggestion does (last 7 days).
        now = datetime.now(UTC)
        hits = await suggestion_hit_rate(
            services_of(request).db, principal=principal, since=now - timedelta(days=7), until=now
        )
    return Template(
        "knowledge/knowledge.html",
        context={
            "principal": principal,
            "tenant": tenant,
            "csrf": csrf_for(request),
            "staff": sees_internal(principal),
            "hits": hits,
            "can_edit": is_allowed(
                principal, Action.UPDATE, Resource("article", principal.tenant_id)
            ),
        },
    )


ROUTES = [knowledge_page]
