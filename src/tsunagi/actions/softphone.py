"""A credential for the desk's browser softphone, issued to the signed-in communicator, and
the password of their desk phone at the SIP edge.

The softphone registers at the SIP edge (kamailio over WebSocket) under the user name the
voice worker calls (``VoicePlan.agent_endpoint``). The name comes from the session, never
from the request, so nobody registers as someone else; the edge checks the credential's
signature and expiry (:mod:`tsunagi.adapters.telephony.edge_auth`). API tokens get none:
a softphone is a person at a desk.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from tsunagi.actions.audit import record
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import User
from tsunagi.adapters.telephony.edge_auth import (
    EDGE_PURPOSE,
    SoftphoneCredential,
    edge_secret,
    issue,
    phone_password,
)
from tsunagi.domain.errors import NotFoundError, PermissionDeniedError
from tsunagi.domain.permissions import Action, Principal, Resource, authorize


async def _own_username(db: Database, principal: Principal, action: Action) -> str:
    authorize(
        principal,
        action,
        Resource("softphone", tenant_id=principal.tenant_id, owner_id=principal.user_id),
    )
    if principal.scopes is not None:
        raise PermissionDeniedError("a phone is for a signed-in person, not an API token")
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        username = await session.scalar(select(User.username).where(User.id == principal.user_id))
    if username is None:
        raise NotFoundError("user not found")
    return username


async def do_read_phone_password(
    db: Database, keyring: KeyRing, *, principal: Principal, ip: str | None = None
) -> tuple[str, str]:
    """``(user name, password)`` of the signed-in user's desk phone at the SIP edge, derived
    from the edge secret (nothing stored). A read of a secret: audited
    (``softphone.phone_password_read``)."""
    username = await _own_username(db, principal, Action.READ)
    async with db.scoped(principal.tenant_id) as session, session.begin():
        record(
            session,
            tenant_id=principal.tenant_id,
            action="softphone.phone_password_read",
            resource_type="softphone",
            resource_id=str(principal.user_id),
            outcome="allowed",
            actor_user_id=principal.user_id,
            ip=ip,
        )
    return username, phone_password(edge_secret(keyring.installation_key(EDGE_PURPOSE)), username)


async def do_issue_softphone_credential(
    db: Database, keyring: KeyRing, *, principal: Principal, now: float | None = None
) -> SoftphoneCredential:
    username = await _own_username(db, principal, Action.CREATE)
    secret = edge_secret(keyring.installation_key(EDGE_PURPOSE))
    return issue(secret, username, now=time.time() if now is None else now)
