"""A signed-in visitor: the client's site vouches for who is chatting.

The client's own server signs a short claim with the widget's identity secret and puts it
on the script tag (``data-identity``). The widget sends it with the pre-chat form; the
center checks the signature and the expiry and then matches the customer by the claimed
member number or e-mail as *verified* (``matched_by = "sign_in"``) instead of taking a
typed number on trust.

Format: ``base64url(JSON claims) + "." + base64url(HMAC-SHA-256(secret, first part))``;
claims ``{"member_no"?: str, "email"?: str, "name"?: str, "exp": unix seconds}``. The
secret is the widget's, shown once to an administrator (never stored in the page).
Pure: no I/O; the secret comes from the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from tsunagi.domain.errors import InvalidInputError

# A claim may not be valid for longer than this (a page left open for a day is fine).
MAX_LIFETIME_S = 24 * 3600
MAX_TOKEN = 2048


@dataclass(frozen=True, slots=True)
class Identity:
    member_no: str | None
    email: str | None
    name: str | None
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_identity(secret: bytes, claims: dict[str, object]) -> str:
    """What the client's server does (shown in the docs; used by the tests)."""
    body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    return body + "." + _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def verify_identity(secret: bytes, token: str, *, now: float) -> Identity:
    """The claims of a token signed with ``secret``; InvalidInputError naming what is wrong."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise InvalidInputError("identity: not a signed identity")
    body, signature = token.split(".")
    try:
        given = _unb64(signature)
        claims = json.loads(_unb64(body))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("identity: not a signed identity") from exc
    expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise InvalidInputError("identity: the signature does not match this widget")
    if not isinstance(claims, dict):
        raise InvalidInputError("identity: the claims must be an object")
    expires = claims.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise InvalidInputError("identity: exp (unix seconds) is missing")
    if expires <= now:
        raise InvalidInputError("identity: expired; sign a fresh one")
    if expires > now + MAX_LIFETIME_S:
        raise InvalidInputError("identity: exp is more than a day ahead")
    fields = {}
    for key in ("member_no", "email", "name"):
        value = claims.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInputError(f"identity: {key} must be a non-empty string")
        fields[key] = value.strip() if isinstance(value, str) else None
    if fields["member_no"] is None and fields["email"] is None:
        raise InvalidInputError("identity: name a member_no or an email")
    return Identity(fields["member_no"], fields["email"], fields["name"], expires)


__all__ = ["MAX_LIFETIME_S", "Identity", "sign_identity", "verify_identity"]
