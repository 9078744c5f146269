"""Credentials at the SIP edge, derived or signed, never stored.

**Desk phones** (SIP over UDP, or plain TCP) register their user name with digest
authentication. Each communicator's phone password is :func:`phone_password`: the first
:data:`PHONE_PASSWORD_HEX` hex digits of ``HMAC-SHA256(secret, "phone:<user name>")``
(80 bits, digits and a-f, typed into a phone). kamailio computes the same per REGISTER
(the generated ``route[PHONE_AUTH]`` in :mod:`.processes`) and checks the digest; the
digest user must be the name registered. The web app shows a communicator their own
(``GET /api/v1/softphone/phone-password``). It changes only when the master key does.

**Browser softphones** get a signed credential instead: the web app issues one to the
signed-in communicator (``POST /api/v1/softphone/credential``);
kamailio checks it on every REGISTER over WebSocket without any lookup (the generated
``route[SOFTPHONE_AUTH]`` in :mod:`.processes`):

* digest user ``<expiry unix seconds>:<user name>`` — the edge refuses an expired one and
  one whose name is not the To/From user being registered;
* password ``base64url(HMAC-SHA256(secret, digest user))`` without padding, as
  kamailio's ``crypto_hmac_sha256`` writes it. It is never sent: digest proves it.

The secret is derived from the installation's master key (the web app and the voice
worker share it), so rotating the master key rotates it; a credential outlives neither
its expiry nor the key. A stolen credential is good for that one name until it expires; a
stolen phone password until the master key changes (no single password can be revoked).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

EDGE_PURPOSE = "sip-edge-softphone"
"""The master key's derivation for the edge secret (named when only softphones used it)."""
EDGE_REALM = "tsunagi"
"""The digest realm of the edge's challenges."""
PHONE_PASSWORD_HEX = 20
"""Hex digits of a desk phone's password (80 bits)."""
CREDENTIAL_TTL_S = 3600
"""How long a credential registers: the softphone asks for a new one well before."""


def edge_secret(derived_key: bytes) -> str:
    """The secret kamailio checks with, from a key derived for :data:`EDGE_PURPOSE`."""
    return base64.urlsafe_b64encode(derived_key).decode().rstrip("=")


def password_for(secret: str, digest_user: str) -> str:
    mac = hmac.new(secret.encode(), digest_user.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def phone_password(secret: str, username: str) -> str:
    """The desk phone password of ``username``, as kamailio derives it per request."""
    mac = hmac.new(secret.encode(), f"phone:{username}".encode(), hashlib.sha256)
    return mac.hexdigest()[:PHONE_PASSWORD_HEX]


@dataclass(frozen=True, slots=True)
class SoftphoneCredential:
    sip_user: str
    """The user name the softphone registers (the agent's phone in the voice plan)."""
    digest_user: str
    password: str
    expires_at: int
    """Unix seconds."""


def issue(
    secret: str, username: str, *, now: float, ttl_s: int = CREDENTIAL_TTL_S
) -> SoftphoneCredential:
    """A credential for ``username`` valid for ``ttl_s`` from ``now``."""
    if not username or ":" in username:
        raise ValueError("a softphone user name has no colon")
    expires = int(now) + ttl_s
    digest_user = f"{expires}:{username}"
    return SoftphoneCredential(username, digest_user, password_for(secret, digest_user), expires)
