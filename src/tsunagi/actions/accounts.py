"""Tenants, users, sign-in sessions and API tokens.

Changing a user's password or roles revokes all of that user's sessions and API
tokens in the same transaction, so a demoted or compromised account loses access at once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions import audit
from tsunagi.actions.events import emit
from tsunagi.adapters.security.passwords import PasswordHasher
from tsunagi.adapters.security.tokens import digest, new_api_token, new_secret
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import ApiToken, Tenant, User, UserSession
from tsunagi.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from tsunagi.domain.permissions import ALL_SCOPES, Principal, Role
from tsunagi.domain.users import (
    LOCALES,
    UserCreatedEvent,
    UserDeactivatedEvent,
    UserPasswordChangedEvent,
    UserRolesChangedEvent,
    parse_roles,
    validate_password,
    validate_username,
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_token: str
    principal: Principal


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    token_id: UUID


async def do_create_tenant(
    db: Database, *, slug: str, name: str, timezone: str = "Asia/Tokyo", default_locale: str = "ja"
) -> UUID:
    async with db.system() as session, session.begin():
        if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
            raise ConflictError(f"tenant {slug!r} already exists")
        tenant = Tenant(
            slug=slug,
            name=name,
            timezone=timezone,
            default_locale=default_locale,
            created_at=_now(),
        )
        session.add(tenant)
    return tenant.id


async def find_tenant_by_slug(db: Database, slug: str) -> Tenant | None:
    async with db.system(readonly=True) as session:
        return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def get_tenant(db: Database, tenant_id: UUID) -> Tenant:
    async with db.system(readonly=True) as session:
        tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found")
    return tenant


async def do_create_user(
    db: Database,
    hasher: PasswordHasher,
    *,
    tenant_id: UUID,
    username: str,
    display_name: str,
    password: str,
    roles: list[str],
    locale: str | None = None,
    actor: str | None = None,
) -> UUID:
    validate_username(username)
    validate_password(password)
    role_set = parse_roles(roles)
    if locale is not None and locale not in LOCALES:
        raise InvalidInputError(f"locale must be one of {', '.join(LOCALES)}")
    password_hash = await hasher.hash(password)
    async with db.system() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == username)):
            raise ConflictError(f"username {username!r} is taken")
    async with db.scoped(tenant_id) as session, session.begin():
        now = _now()
        user = User(
            tenant_id=tenant_id,
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            roles=sorted(role_set),
            locale=locale,
            active=True,
            created_at=now,
            password_changed_at=now,
        )
        session.add(user)
        await session.flush()
        emit(
            session,
            UserCreatedEvent(
                tenant_id=tenant_id,
                occurred_at=now,
                actor=actor,
                user_id=user.id,
                username=username,
                display_name=display_name,
                roles=sorted(role_set),
            ),
        )
    return user.id


async def get_user(session: AsyncSession, user_id: UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError("user not found")
    return user


async def _revoke_everything(session: AsyncSession, user_id: UUID, now: datetime) -> None:
    await session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def do_change_password(
    db: Database,
    hasher: PasswordHasher,
    *,
    tenant_id: UUID,
    user_id: UUID,
    new_password: str,
    actor: str | None,
) -> None:
    validate_password(new_password)
    password_hash = await hasher.hash(new_password)
    async with db.scoped(tenant_id) as session, session.begin():
        user = await get_user(session, user_id)
        now = _now()
        user.password_hash = password_hash
        user.password_changed_at = now
        await _revoke_everything(session, user_id, now)
        emit(
            session,
            UserPasswordChangedEvent(
                tenant_id=tenant_id, occurred_at=now, actor=actor, user_id=user_id
            ),
        )


async def do_set_roles(
    db: Database, *, tenant_id: UUID, user_id: UUID, roles: list[str], actor: str | None
) -> None:
    role_set = sorted(str(role) for role in parse_roles(roles))
    async with db.scoped(tenant_id) as session, session.begin():
        user = await get_user(session, user_id)
        if sorted(user.roles) == role_set:
            return
        now = _now()
        user.roles = role_set
        await _revoke_everything(session, user_id, now)
        emit(
            session,
            UserRolesChangedEvent(
                tenant_id=tenant_id, occurred_at=now, actor=actor, user_id=user_id, roles=role_set
            ),
        )


async def do_deactivate_user(
    db: Database, *, tenant_id: UUID, user_id: UUID, actor: str | None
) -> None:
    async with db.scoped(tenant_id) as session, session.begin():
        user = await get_user(session, user_id)
        if not user.active:
            return
        now = _now()
        user.active = False
        await _revoke_everything(session, user_id, now)
        emit(
            session,
            UserDeactivatedEvent(
                tenant_id=tenant_id, occurred_at=now, actor=actor, user_id=user_id
            ),
        )


async def do_set_locale(db: Database, *, principal: Principal, locale: str) -> None:
    if locale not in LOCALES:
        raise InvalidInputError(f"locale must be one of {', '.join(LOCALES)}")
    async with db.scoped(principal.tenant_id) as session, session.begin():
        user = await get_user(session, principal.user_id)
        user.locale = locale


async def do_sign_in(
    db: Database,
    hasher: PasswordHasher,
    *,
    username: str,
    password: str,
    max_age_s: int,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SignedIn:
    """Check the password and open a fresh session (a new random id every time: no fixation)."""
    async with db.system(readonly=True) as session:
        user = await session.scalar(select(User).where(User.username == username))
    valid = await hasher.verify(user.password_hash if user else None, password)
    if user is None or not valid or not user.active:
        if user is not None:
            async with db.scoped(user.tenant_id) as session, session.begin():
                audit.record(
                    session,
                    tenant_id=user.tenant_id,
                    action="auth.sign_in_failed",
                    resource_type="account",
                    resource_id=str(user.id),
                    outcome="denied",
                    actor_user_id=user.id,
                    ip=ip,
                    reason="inactive account" if valid else "wrong password",
                )
        raise AuthenticationError("wrong username or password")
    token = new_secret()
    now = _now()
    async with db.scoped(user.tenant_id) as session, session.begin():
        row = UserSession(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + timedelta(seconds=max_age_s),
            last_seen_at=now,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
        session.add(row)
        audit.record(
            session,
            tenant_id=user.tenant_id,
            action="auth.signed_in",
            resource_type="account",
            resource_id=str(user.id),
            outcome="allowed",
            actor_user_id=user.id,
            ip=ip,
        )
    return SignedIn(token, _principal(user, session_id=row.id))


async def do_sign_out(db: Database, *, principal: Principal) -> None:
    if principal.session_id is None:
        return
    async with db.scoped(principal.tenant_id) as session, session.begin():
        await session.execute(delete(UserSession).where(UserSession.id == principal.session_id))
        audit.record(
            session,
            tenant_id=principal.tenant_id,
            action="auth.signed_out",
            resource_type="account",
            resource_id=str(principal.user_id),
            outcome="allowed",
            actor_user_id=principal.user_id,
        )


async def resolve_session(db: Database, token: str) -> Principal | None:
    """The principal behind a session cookie, or None if unknown, expired or revoked.

    Runs on every request: one indexed query for the few columns a principal needs (no
    ORM objects)."""
    return await _resolve(db, "session", token)


async def resolve_api_token(db: Database, token: str) -> Principal | None:
    """The principal behind an API token, or None if unknown, expired or revoked."""
    return await _resolve(db, "token", token)


async def _resolve(db: Database, kind: str, value: str) -> Principal | None:
    # Every request runs it: one indexed statement (built once, the one resolve_many uses),
    # inline — on SQLite on the loop's thread, no hand-overs.
    statement = _TOKENS_LOOKUP if kind == "token" else _SESSIONS_LOOKUP
    async with db.system(readonly=True, snapshot=False, inline=True) as session:
        row = (await session.execute(statement, {"hashes": [digest(value)]})).first()
    return None if row is None else _principal_of_row(kind, row, _now())


async def resolve_many(
    db: Database, *, tokens: Collection[str] = (), sessions: Collection[str] = ()
) -> dict[tuple[str, str], Principal | None]:
    """:func:`resolve_api_token` and :func:`resolve_session` for many credentials at once
    (one statement per kind and up to 500 credentials): the open desk sockets of a process
    re-check theirs together. Keys: ``("token", token)`` and ``("session", cookie)``."""
    now = _now()
    found: dict[tuple[str, str], Principal | None] = {}
    for kind, values in (("token", sorted(tokens)), ("session", sorted(sessions))):
        for start in range(0, len(values), 500):
            chunk = {digest(value): value for value in values[start : start + 500]}
            statement = _TOKENS_LOOKUP if kind == "token" else _SESSIONS_LOOKUP
            async with db.system(readonly=True, snapshot=False) as session:
                rows = (await session.execute(statement, {"hashes": list(chunk)})).all()
            by_hash = {row[0]: row for row in rows}
            for hashed, value in chunk.items():
                row = by_hash.get(hashed)
                found[kind, value] = None if row is None else _principal_of_row(kind, row, now)
    return found


def _principal_of_row(kind: str, row: Any, now: datetime) -> Principal | None:
    if kind == "token":
        _hash, token_id, expires_at, revoked_at, scopes, *user = row
        if revoked_at is not None or (expires_at is not None and expires_at <= now):
            return None
        return _principal_of(user, token_id=token_id, scopes=frozenset(scopes))
    _hash, session_id, expires_at, *user = row
    if expires_at <= now:
        return None
    return _principal_of(user, session_id=session_id)


_PRINCIPAL_COLUMNS = (
    User.id,
    User.tenant_id,
    User.roles,
    User.locale,
    User.display_name,
    User.active,
)


# Built once: every request runs one of them, and a statement object reused as it is is
# neither rebuilt nor given a new cache key by SQLAlchemy (a system session adds no criteria).
_TOKENS_LOOKUP = (
    select(
        ApiToken.token_hash,
        ApiToken.id,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.scopes,
        *_PRINCIPAL_COLUMNS,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash.in_(bindparam("hashes", expanding=True)))
)
_SESSIONS_LOOKUP = (
    select(UserSession.token_hash, UserSession.id, UserSession.expires_at, *_PRINCIPAL_COLUMNS)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash.in_(bindparam("hashes", expanding=True)))
)


def _principal_of(
    user: list[Any],
    *,
    session_id: UUID | None = None,
    token_id: UUID | None = None,
    scopes: frozenset[str] | None = None,
) -> Principal | None:
    """A principal from the :data:`_PRINCIPAL_COLUMNS` of an active user (else None)."""
    user_id, tenant_id, roles, locale, display_name, active = user
    if not active:
        return None
    return Principal(
        user_id=user_id,
        tenant_id=tenant_id,
        roles=frozenset(Role(r) for r in roles),
        session_id=session_id,
        token_id=token_id,
        scopes=scopes,
        locale=locale,
        display_name=display_name,
    )


async def do_create_api_token(
    db: Database, *, principal: Principal, name: str, scopes: list[str], expires_in_days: int | None
) -> IssuedToken:
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise InvalidInputError(f"unknown scope(s): {', '.join(unknown)}")
    if not scopes:
        raise InvalidInputError("a token needs at least one scope")
    token = new_api_token()
    now = _now()
    async with db.scoped(principal.tenant_id) as session, session.begin():
        row = ApiToken(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            name=name,
            token_hash=digest(token),
            scopes=sorted(set(scopes)),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
        session.add(row)
    return IssuedToken(token, row.id)


def _principal(user: User, *, session_id: UUID | None) -> Principal:
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        roles=frozenset(Role(r) for r in user.roles),
        session_id=session_id,
        locale=user.locale,
        display_name=user.display_name,
    )
