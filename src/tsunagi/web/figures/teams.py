"""Teams of communicators: ``/api/v1/teams`` (managers and administrators change them,
supervisors read them). Figures group and filter by them (``by=team``, ``team=``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions import teams as actions
from tsunagi.actions.accounts import get_tenant
from tsunagi.adapters.storage.models import User
from tsunagi.domain.permission_types import Action
from tsunagi.domain.permissions import Resource, is_allowed
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["figures"]
BASE = "/api/v1/teams"


class TeamIn(Input):
    """A team: its name and its members' user ids (a user in another team is moved)."""

    name: str
    members: list[UUID] = msgspec.field(default_factory=list)


class TeamOut(Output):
    id: UUID
    name: str
    members: list[UUID]


def _out(view: actions.TeamView) -> TeamOut:
    return TeamOut(id=view.id, name=view.name, members=list(view.members))


@get(BASE, opt={"authz": ("read", "team")}, tags=TAGS)
async def list_teams(request: AnyRequest) -> list[TeamOut]:
    principal = require_principal(request)
    found = await actions.list_teams(services_of(request).db, tenant_id=principal.tenant_id)
    return [_out(view) for view in found]


@post(BASE, opt={"authz": ("create", "team")}, tags=TAGS, status_code=201)
async def create_team(request: AnyRequest, data: JSONBody[TeamIn]) -> TeamOut:
    """Create a team (409 when the name is taken; 422 naming the field)."""
    principal = require_principal(request)
    view = await actions.do_create_team(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        name=data.name,
        members=list(data.members),
        actor_user_id=principal.user_id,
    )
    return _out(view)


@put(f"{BASE}/{{team_id:uuid}}", opt={"authz": ("update", "team")}, tags=TAGS)
async def update_team(
    request: AnyRequest, team_id: FromPath[UUID], data: JSONBody[TeamIn]
) -> TeamOut:
    """Rename the team and replace its members."""
    principal = require_principal(request)
    view = await actions.do_update_team(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        team_id=team_id,
        name=data.name,
        members=list(data.members),
        actor_user_id=principal.user_id,
    )
    return _out(view)


@delete(f"{BASE}/{{team_id:uuid}}", opt={"authz": ("delete", "team")}, tags=TAGS, status_code=204)
async def delete_team(request: AnyRequest, team_id: FromPath[UUID]) -> None:
    principal = require_principal(request)
    await actions.do_delete_team(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        team_id=team_id,
        actor_user_id=principal.user_id,
    )


@get("/figures/teams", opt={"authz": ("read", "team"), "page": True})
async def teams_page(request: AnyRequest) -> Template:
    """Teams and their members; managers create, change and delete them (the API)."""
    principal = require_principal(request)
    db = services_of(request).db
    tenant_id = principal.tenant_id
    async with db.scoped(tenant_id, readonly=True) as session:
        users = (
            await session.scalars(
                select(User).where(User.active.is_(True)).order_by(User.display_name)
            )
        ).all()
    return Template(
        "figures/teams.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(db, tenant_id),
            "csrf": csrf_for(request),
            "teams": await actions.list_teams(db, tenant_id=tenant_id),
            "users": users,
            "user_names": {u.id: u.display_name for u in users},
            "may_change": is_allowed(principal, Action.UPDATE, Resource("team", tenant_id)),
        },
    )


ROUTES = [list_teams, create_team, update_team, delete_team, teams_page]
