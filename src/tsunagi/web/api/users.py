"""Users and the caller's own account."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from tsunagi.actions import accounts
from tsunagi.adapters.storage.models import User
from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.users import parse_roles, validate_password
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]


class UserOut(Output):
    id: UUID
    username: str
    display_name: str
    roles: list[str]
    locale: str | None
    active: bool
    created_at: datetime


class UserCreate(Input):
    username: str
    display_name: str
    password: str
    roles: list[str]
    locale: str | None = None


class UserUpdate(Input):
    roles: list[str] | None = None
    password: str | None = None
    active: bool | None = None


class AccountUpdate(Input):
    locale: str


class PasswordChange(Input):
    current_password: str
    new_password: str


def _out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=list(user.roles),
        locale=user.locale,
        active=user.active,
        created_at=user.created_at,
    )


@get("/api/v1/me", opt={"authz": ("read", "account")}, tags=["accounts"])
async def read_me(request: AnyRequest) -> UserOut:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        return _out(await accounts.get_user(session, principal.user_id))


@patch("/api/v1/me", opt={"authz": ("update", "account")}, tags=["accounts"])
async def update_me(request: AnyRequest, data: JSONBody[AccountUpdate]) -> UserOut:
    principal = require_principal(request)
    services = services_of(request)
    await accounts.do_set_locale(services.db, principal=principal, locale=data.locale)
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        return _out(await accounts.get_user(session, principal.user_id))


@post(
    "/api/v1/me/password", opt={"authz": ("update", "account")}, tags=["accounts"], status_code=204
)
async def change_my_password(request: AnyRequest, data: JSONBody[PasswordChange]) -> None:
    """Change your own password. Every session and API token of yours ends, this one included."""
    principal = require_principal(request)
    services = services_of(request)
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        user = await accounts.get_user(session, principal.user_id)
    if not await services.hasher.verify(user.password_hash, data.current_password):
        raise InvalidInputError("the current password is wrong")
    await accounts.do_change_password(
        services.db,
        services.hasher,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        new_password=data.new_password,
        actor=principal.actor,
    )


@get("/api/v1/users", opt={"authz": ("read", "user")}, tags=["users"])
async def list_users(request: AnyRequest) -> list[UserOut]:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        users = (await session.scalars(select(User).order_by(User.username))).all()
    return [_out(user) for user in users]


@get("/api/v1/users/{user_id:uuid}", opt={"authz": ("read", "user")}, tags=["users"])
async def read_user(request: AnyRequest, user_id: FromPath[UUID]) -> UserOut:
    principal = require_principal(request)
    async with services_of(request).db.scoped(principal.tenant_id, readonly=True) as session:
        return _out(await accounts.get_user(session, user_id))


@post("/api/v1/users", opt={"authz": ("create", "user")}, tags=["users"])
async def create_user(request: AnyRequest, data: JSONBody[UserCreate]) -> UserOut:
    principal = require_principal(request)
    services = services_of(request)
    user_id = await accounts.do_create_user(
        services.db,
        services.hasher,
        tenant_id=principal.tenant_id,
        username=data.username,
        display_name=data.display_name,
        password=data.password,
        roles=data.roles,
        locale=data.locale,
        actor=principal.actor,
    )
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        return _out(await accounts.get_user(session, user_id))


@patch("/api/v1/users/{user_id:uuid}", opt={"authz": ("update", "user")}, tags=["users"])
async def update_user(
    request: AnyRequest, user_id: FromPath[UUID], data: JSONBody[UserUpdate]
) -> UserOut:
    principal = require_principal(request)
    services = services_of(request)
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        await accounts.get_user(session, user_id)  # 404 before any change
    # Validate every field before changing anything: a bad field changes nothing.
    if data.password is not None:
        validate_password(data.password)
    if data.roles is not None:
        parse_roles(data.roles)
    if data.active is True:
        raise InvalidInputError("active can only be set to false (deactivate)")
    if data.password is not None:
        await accounts.do_change_password(
            services.db,
            services.hasher,
            tenant_id=principal.tenant_id,
            user_id=user_id,
            new_password=data.password,
            actor=principal.actor,
        )
    if data.roles is not None:
        await accounts.do_set_roles(
            services.db,
            tenant_id=principal.tenant_id,
            user_id=user_id,
            roles=data.roles,
            actor=principal.actor,
        )
    if data.active is False:
        await accounts.do_deactivate_user(
            services.db, tenant_id=principal.tenant_id, user_id=user_id, actor=principal.actor
        )
    async with services.db.scoped(principal.tenant_id, readonly=True) as session:
        return _out(await accounts.get_user(session, user_id))


ROUTES = [read_me, update_me, change_my_password, list_users, read_user, create_user, update_user]
