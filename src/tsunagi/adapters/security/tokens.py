"""Random secrets for cookies and API tokens; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "tsu_"  # noqa: S105 - a public prefix, not a secret


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(secret_key: str, bound_to: str) -> str:
    """A CSRF token bound to a cookie value the attacker cannot read (session or pre-session)."""
    return hmac.new(secret_key.encode(), b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, bound_to: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        csrf_token(secret_key, bound_to), presented
    )
