"""A credential for the desk's browser softphone, issued to the signed-in communicator.

The softphone registers at the SIP edge (kamailio over WebSocket) under the user name the
voice worker calls (``VoicePlan.agent_endpoint``). The name comes from the session, never
from the request, so nobody registers as someone else; the edge checks the credential's
signature and expiry (:mod:`tsunagi.adapters.telephony.edge_auth`). API tokens get none:
a softphone is a person at a desk.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import User
from tsunagi.adapters.telephony.edge_auth import (
    EDGE_PURPOSE,
    SoftphoneCredential,
    edge_secret,
    issue,
)
from tsunagi.domain.errors import NotFoundError, PermissionDeniedError
from tsunagi.domain.permissions import Action, Principal, Resource, authorize


async def do_issue_softphone_credential(
    db: Database, keyring: KeyRing, *, principal: Principal, now: float | None = None
) -> SoftphoneCredential:
    authorize(
        principal,
        Action.CREATE,
        Resource("softphone", tenant_id=principal.tenant_id, owner_id=principal.user_id),
    )
    if principal.scopes is not None:
        raise PermissionDeniedError("a softphone is for a signed-in person, not an API token")
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        username = await session.scalar(select(User.username).where(User.id == principal.user_id))
    if username is None:
        raise NotFoundError("user not found")
    secret = edge_secret(keyring.installation_key(EDGE_PURPOSE))
    return issue(secret, username, now=time.time() if now is None else now)
