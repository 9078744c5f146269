"""Public pages of the chat channel: a public knowledge article (the link a communicator
or the bot sends a customer) and a page that embeds a widget (for trying it out)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.conversations import check_staff_access
from tsunagi.actions.knowledge import get_article
from tsunagi.adapters.storage.models import Tenant
from tsunagi.domain.errors import NotFoundError
from tsunagi.domain.permissions import Principal
from tsunagi.web.auth import PUBLIC, csrf_for, require_principal
from tsunagi.web.channels.cors import REFS
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
PAGE = {"authz": PUBLIC, "page": True, "rate_limit": "help"}
NOBODY = UUID(int=0)


async def _tenant(request: AnyRequest, slug: str) -> Tenant:
    async with services_of(request).db.system(readonly=True) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFoundException("page not found")
    return tenant


@get("/help/{tenant_slug:str}/articles/{article_id:uuid}", opt=PAGE)
async def public_article(
    request: AnyRequest, tenant_slug: FromPath[str], article_id: FromPath[UUID]
) -> Template:
    """A published public article, readable by anyone with the link."""
    tenant = await _tenant(request, tenant_slug)
    visitor = Principal(user_id=NOBODY, tenant_id=tenant.id, roles=frozenset())
    try:
        article = await get_article(services_of(request).db, visitor, article_id)
    except NotFoundError as exc:
        raise NotFoundException("page not found") from exc
    return Template(
        "chat/help_article.html",
        context={"tenant": tenant, "article": article, "csrf": csrf_for(request)},
    )


@get("/widget/{widget_id:uuid}/try", opt=PAGE)
async def widget_page(request: AnyRequest, widget_id: FromPath[UUID]) -> Template:
    """A plain page with the widget embedded, as on a client's site."""
    ref = await REFS.get(services_of(request), widget_id)
    if ref is None or not ref.enabled:
        raise NotFoundException("widget not found")
    return Template(
        "chat/try.html", context={"widget_id": str(widget_id), "csrf": csrf_for(request)}
    )


@get("/conversations/{conversation_id:uuid}", opt={"authz": ("read", "conversation"), "page": True})
async def conversation_page(request: AnyRequest, conversation_id: FromPath[UUID]) -> Template:
    """One conversation, live: supervisors follow a chat (and answer in it, to take an
    escalation); communicators see the ones they hold or held."""
    principal = require_principal(request)
    services = services_of(request)
    conversation = await check_staff_access(services.db, principal, conversation_id, write=False)
    tenant = await get_tenant(services.db, principal.tenant_id)
    return Template(
        "chat/conversation.html",
        context={
            "principal": principal,
            "tenant": tenant,
            "csrf": csrf_for(request),
            "conversation_id": str(conversation_id),
            "conversation_channel": conversation.channel,
        },
    )


ROUTES = [public_article, widget_page, conversation_page]
