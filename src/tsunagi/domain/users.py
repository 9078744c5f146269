"""Users, their roles and the events about them."""

from __future__ import annotations

import re
from typing import ClassVar
from uuid import UUID

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event
from tsunagi.domain.permissions import Role

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD_LENGTH = 10
LOCALES = ("en", "ja")


def validate_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        msg = "username must be 2-63 characters: lower-case letters, digits, '.', '_' or '-'"
        raise InvalidInputError(msg)
    return username


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


def parse_roles(values: list[str] | tuple[str, ...]) -> frozenset[Role]:
    if not values:
        raise InvalidInputError("a user needs at least one role")
    known = {role.value for role in Role}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInputError(
            f"unknown role(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return frozenset(Role(value) for value in values)


class UserCreatedEvent(Event, frozen=True, kw_only=True, tag="user.created"):
    resource: ClassVar[str] = "user"
    user_id: UUID
    username: str
    display_name: str
    roles: list[str]


class UserRolesChangedEvent(Event, frozen=True, kw_only=True, tag="user.roles_changed"):
    resource: ClassVar[str] = "user"
    user_id: UUID
    roles: list[str]


class UserPasswordChangedEvent(Event, frozen=True, kw_only=True, tag="user.password_changed"):
    resource: ClassVar[str] = "user"
    user_id: UUID


class UserDeactivatedEvent(Event, frozen=True, kw_only=True, tag="user.deactivated"):
    resource: ClassVar[str] = "user"
    user_id: UUID
