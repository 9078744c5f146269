"""Floor pages: the wallboard, the supervisor floor and the communicator's desk.

Each page is rendered once with static context; live state comes from the events WebSocket
(the ``routing`` snapshot, then ``contact.*`` and ``agent.*`` events), applied by
``static/routing/floor.js``. Nothing polls the database.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions.accounts import get_tenant
from tsunagi.adapters.storage.models import Category, Queue, User
from tsunagi.routing.agents import NotReadyReason
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


async def _context(request: AnyRequest, view: str) -> dict[str, Any]:
    principal = require_principal(request)
    services = services_of(request)
    tenant = await get_tenant(services.db, principal.tenant_id)
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue).order_by(Queue.code))).all()
        categories = (await session.scalars(select(Category).order_by(Category.sort_order))).all()
        users = (await session.scalars(select(User).order_by(User.username))).all()
    return {
        "view": view,
        "principal": principal,
        "tenant": tenant,
        "csrf": csrf_for(request),
        "queues": queues,
        # For floor.js: a contact's queue by name, in the page's language.
        "queue_names": {
            str(q.id): q.name_ja if current_locale.get() == "ja" else q.name_en for q in queues
        },
        "categories": categories,
        "agents": [u for u in users if "communicator" in u.roles or "supervisor" in u.roles],
        "reasons": [r.value for r in NotReadyReason if r.value not in ("missed_offer",)],
        "desk_phone_edge": services.settings.voice_edge_sip,
    }


@get("/routing/wallboard", opt={"authz": ("read", "floor"), "page": True})
async def wallboard(request: AnyRequest) -> Template:
    """For the wall monitor: large figures per queue and agents by state, no interaction."""
    return Template("routing/wallboard.html", context=await _context(request, "wallboard"))


@get("/routing/floor", opt={"authz": ("read", "floor.supervisor"), "page": True})
async def supervisor_floor(request: AnyRequest) -> Template:
    """Supervisors: queues, waiting contacts, agents with time in state, actions, escalations."""
    return Template("routing/floor.html", context=await _context(request, "floor"))


@get("/routing/desk", opt={"authz": ("read", "desk"), "page": True})
async def desk(request: AnyRequest) -> Template:
    """A communicator's desk: state, offers to accept, contacts in progress, wrap-up."""
    return Template("routing/desk.html", context=await _context(request, "desk"))


ROUTES = [wallboard, supervisor_floor, desk]
