"""API tokens: created by their owner, shown once, limited by scopes, revocable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from tsunagi.actions import accounts
from tsunagi.adapters.storage.models import ApiToken
from tsunagi.domain.errors import NotFoundError
from tsunagi.domain.permissions import Action, Grant, Resource, grant_for
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import check, require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


class TokenCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: list[str]
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class TokenOut(Output):
    id: UUID
    user_id: UUID
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(Output):
    id: UUID
    token: str


def _out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


@get("/api/v1/tokens", opt={"authz": ("read", "api_token")}, tags=["accounts"])
async def list_tokens(request: AnyRequest) -> list[TokenOut]:
    principal = require_principal(request)
    query = select(ApiToken).order_by(ApiToken.created_at)
    if grant_for(principal.roles, "api_token", Action.READ) is Grant.OWN:
        query = query.where(ApiToken.user_id == principal.user_id)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        rows = (await session.scalars(query)).all()
    return [_out(row) for row in rows]


@post("/api/v1/tokens", opt={"authz": ("create", "api_token")}, tags=["accounts"])
async def create_token(request: AnyRequest, data: JSONBody[TokenCreate]) -> TokenIssued:
    principal = require_principal(request)
    issued = await accounts.do_create_api_token(
        services_of(request).db,
        principal=principal,
        name=data.name,
        scopes=data.scopes,
        expires_in_days=data.expires_in_days,
    )
    return TokenIssued(id=issued.token_id, token=issued.token)


@delete("/api/v1/tokens/{token_id:uuid}", opt={"authz": ("delete", "api_token")}, tags=["accounts"])
async def revoke_token(request: AnyRequest, token_id: FromPath[UUID]) -> None:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id) as session, session.begin():
        row = await session.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError("token not found")
        check(principal, Action.DELETE, Resource("api_token", row.tenant_id, owner_id=row.user_id))
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)


ROUTES = [list_tokens, create_token, revoke_token]
