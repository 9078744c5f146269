"""The policy table and authorize(): tenants, grants, ownership and token scopes."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagi.domain.errors import NotFoundError, PermissionDeniedError
from tsunagi.domain.permissions import (
    POLICY,
    Action,
    Principal,
    Resource,
    Role,
    authorize,
    is_allowed,
)

TENANT, OTHER = uuid.uuid4(), uuid.uuid4()


def principal(*roles: Role, scopes: frozenset[str] | None = None) -> Principal:
    return Principal(user_id=uuid.uuid4(), tenant_id=TENANT, roles=frozenset(roles), scopes=scopes)


@given(
    roles=st.frozensets(st.sampled_from(list(Role)), min_size=1),
    entry=st.sampled_from(sorted(POLICY, key=str)),
)
def test_another_tenants_resource_is_always_missing(roles: frozenset[Role], entry) -> None:  # type: ignore[no-untyped-def]
    kind, action = entry
    someone = Principal(user_id=uuid.uuid4(), tenant_id=TENANT, roles=roles)
    with pytest.raises(NotFoundError):
        authorize(someone, action, Resource(kind, tenant_id=OTHER))


@given(
    roles=st.frozensets(st.sampled_from(list(Role)), min_size=1),
    entry=st.sampled_from(sorted(POLICY, key=str)),
)
def test_authorize_follows_the_table(roles: frozenset[Role], entry) -> None:  # type: ignore[no-untyped-def]
    kind, action = entry
    someone = Principal(user_id=uuid.uuid4(), tenant_id=TENANT, roles=roles)
    expected = any(role in POLICY[entry] for role in roles)
    assert (
        is_allowed(someone, action, Resource(kind, tenant_id=TENANT, owner_id=someone.user_id))
        == expected
    )


def test_own_grants_stop_at_other_peoples_things() -> None:
    supervisor = principal(Role.SUPERVISOR)
    mine = Resource("api_token", tenant_id=TENANT, owner_id=supervisor.user_id)
    theirs = Resource("api_token", tenant_id=TENANT, owner_id=uuid.uuid4())
    authorize(supervisor, Action.DELETE, mine)
    with pytest.raises(PermissionDeniedError):
        authorize(supervisor, Action.DELETE, theirs)
    authorize(principal(Role.ADMINISTRATOR), Action.DELETE, theirs)


def test_token_scopes_narrow_roles() -> None:
    token = principal(Role.ADMINISTRATOR, scopes=frozenset({"queue:read"}))
    authorize(token, Action.READ, Resource("queue", tenant_id=TENANT))
    with pytest.raises(PermissionDeniedError, match="scope user:read"):
        authorize(token, Action.READ, Resource("user", tenant_id=TENANT))
    wildcard = principal(Role.ADMINISTRATOR, scopes=frozenset({"user:*"}))
    authorize(wildcard, Action.CREATE, Resource("user", tenant_id=TENANT))


def test_scopes_never_widen_roles() -> None:
    token = principal(Role.COMMUNICATOR, scopes=frozenset({"user:*"}))
    with pytest.raises(PermissionDeniedError):
        authorize(token, Action.CREATE, Resource("user", tenant_id=TENANT))


def test_unknown_pairs_are_denied() -> None:
    with pytest.raises(PermissionDeniedError):
        authorize(
            principal(Role.ADMINISTRATOR), Action.DELETE, Resource("tenant", tenant_id=TENANT)
        )
