"""Who may do what: the role × resource × action table and :func:`authorize`.

The table below is the contract. ``docs/authorization.md`` renders it for people and
the tests check that the document, the table and every route agree. Access is always
within the principal's tenant; a resource of another tenant is reported as missing,
not forbidden, so its existence leaks nothing.

Grants:
    ``ALL``  any resource of that kind in the tenant;
    ``OWN``  only resources the principal owns (their own account, their own tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from tsunagi.channels.grants import GRANTS as CHANNEL_GRANTS
from tsunagi.domain.errors import NotFoundError, PermissionDeniedError
from tsunagi.domain.permission_types import Action, Grant, Role
from tsunagi.figures.grants import GRANTS as FIGURES_GRANTS
from tsunagi.knowledge.grants import GRANTS as KNOWLEDGE_GRANTS
from tsunagi.routing.grants import GRANTS as ROUTING_GRANTS
from tsunagi.voice.grants import GRANTS as VOICE_GRANTS
from tsunagi.wfm.grants import GRANTS as WFM_GRANTS

__all__ = [
    "NOBODY",
    "Action",
    "Grant",
    "Principal",
    "Resource",
    "Role",
    "authorize",
    "grant_for",
    "is_allowed",
]

ROLES: tuple[Role, ...] = tuple(Role)
_C, _S, _M, _A, _V = ROLES
_EVERY_STAFF = {_C: Grant.ALL, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL}
_EVERYONE_OWN = dict.fromkeys(ROLES, Grant.OWN)

# (resource, action) -> role -> grant. A missing role means "denied".
POLICY: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("account", Action.READ): _EVERYONE_OWN,
    ("account", Action.UPDATE): _EVERYONE_OWN,
    ("api_token", Action.READ): {**_EVERYONE_OWN, _A: Grant.ALL},
    ("api_token", Action.CREATE): {_S: Grant.OWN, _M: Grant.OWN, _A: Grant.OWN},
    ("api_token", Action.DELETE): {_S: Grant.OWN, _M: Grant.OWN, _A: Grant.ALL},
    ("user", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("user", Action.CREATE): {_A: Grant.ALL},
    ("user", Action.UPDATE): {_A: Grant.ALL},
    ("audit_log", Action.READ): {_M: Grant.ALL, _A: Grant.ALL},
    ("event", Action.SUBSCRIBE): {**_EVERY_STAFF, _V: Grant.ALL},
    ("system", Action.READ): {_A: Grant.ALL},
    ("queue", Action.READ): {**_EVERY_STAFF, _V: Grant.ALL},
    ("queue", Action.CREATE): {_A: Grant.ALL},
    ("queue", Action.UPDATE): {_A: Grant.ALL},
    ("category", Action.READ): {**_EVERY_STAFF, _V: Grant.ALL},
    ("customer", Action.READ): _EVERY_STAFF,
    ("customer", Action.CREATE): _EVERY_STAFF,
    ("customer", Action.UPDATE): _EVERY_STAFF,
    ("customer", Action.DELETE): {_M: Grant.ALL, _A: Grant.ALL},
    ("home.communicator", Action.READ): {_C: Grant.ALL},
    ("home.supervisor", Action.READ): {_S: Grant.ALL},
    ("home.manager", Action.READ): {_M: Grant.ALL},
    ("home.administrator", Action.READ): {_A: Grant.ALL},
    ("home.client_viewer", Action.READ): {_V: Grant.ALL},
    **ROUTING_GRANTS,
    **KNOWLEDGE_GRANTS,
    **FIGURES_GRANTS,
    **CHANNEL_GRANTS,
    **WFM_GRANTS,
    **VOICE_GRANTS,
}

# Scopes an API token may carry: "<resource>:<action>" or "<resource>:*".
ALL_SCOPES: tuple[str, ...] = tuple(
    sorted({f"{r}:{a}" for r, a in POLICY} | {f"{r}:*" for r, _ in POLICY})
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Someone acting: a signed-in user (``scopes is None``) or an API token (limited by scopes)."""

    user_id: UUID
    tenant_id: UUID
    roles: frozenset[Role]
    scopes: frozenset[str] | None = None
    session_id: UUID | None = None
    token_id: UUID | None = None
    locale: str | None = None
    display_name: str = ""

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


# The owner of a resource that nobody owns (a call nobody answered): ``OWN`` grants never
# match it, ``ALL`` grants do. (``owner_id=None`` means a kind-level check instead.)
NOBODY = UUID(int=0)


@dataclass(frozen=True, slots=True)
class Resource:
    """What is acted on: its kind, its tenant (``None`` for a kind-level check) and its owner."""

    kind: str
    tenant_id: UUID | None = None
    owner_id: UUID | None = None
    id: UUID | None = field(default=None)


def authorize(principal: Principal, action: Action, resource: Resource) -> None:
    """Raise unless ``principal`` may do ``action`` on ``resource``.

    Another tenant's resource raises :class:`NotFoundError` (it does not exist for the
    caller); a missing grant or scope raises :class:`PermissionDeniedError`.
    """
    if resource.tenant_id is not None and resource.tenant_id != principal.tenant_id:
        raise NotFoundError(f"{resource.kind} not found")
    grants = POLICY.get((resource.kind, action))
    if grants is None:
        raise PermissionDeniedError(f"no policy for {action} on {resource.kind}")
    best = _best_grant(grants, principal.roles)
    if best is None:
        raise PermissionDeniedError(f"{action} on {resource.kind} is not allowed for your role")
    if (
        best is Grant.OWN
        and resource.owner_id is not None
        and resource.owner_id != principal.user_id
    ):
        raise PermissionDeniedError(f"{action} on another user's {resource.kind} is not allowed")
    if principal.scopes is not None and not _scope_allows(principal.scopes, resource.kind, action):
        raise PermissionDeniedError(f"the API token lacks the scope {resource.kind}:{action}")


def is_allowed(principal: Principal, action: Action, resource: Resource) -> bool:
    try:
        authorize(principal, action, resource)
    except (PermissionDeniedError, NotFoundError):
        return False
    return True


def grant_for(roles: frozenset[Role], resource_kind: str, action: Action) -> Grant | None:
    """The widest grant any of ``roles`` has (used by the route matrix test and the docs)."""
    grants = POLICY.get((resource_kind, action))
    return None if grants is None else _best_grant(grants, roles)


def _best_grant(grants: dict[Role, Grant], roles: frozenset[Role]) -> Grant | None:
    found = [grants[role] for role in roles if role in grants]
    if Grant.ALL in found:
        return Grant.ALL
    return Grant.OWN if found else None


def _scope_allows(scopes: frozenset[str], kind: str, action: Action) -> bool:
    return f"{kind}:{action}" in scopes or f"{kind}:*" in scopes


def render_policy_markdown() -> str:
    """The table as Markdown, the body of ``docs/authorization.md``."""
    header = "| resource | action | " + " | ".join(role.value for role in ROLES) + " |"
    rule = "|" + "---|" * (len(ROLES) + 2)
    rows = [
        f"| {kind} | {action.value} | "
        + " | ".join(grants[role].value if role in grants else "-" for role in ROLES)
        + " |"
        for (kind, action), grants in sorted(
            POLICY.items(), key=lambda item: (item[0][0], item[0][1])
        )
    ]
    return "\n".join([header, rule, *rows]) + "\n"
