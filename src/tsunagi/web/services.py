"""What request handlers need, built once per app by the factory (never at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from tsunagi.adapters.ratelimit import AttemptLimiter
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.security.passwords import PasswordHasher
from tsunagi.adapters.storage.db import Database
from tsunagi.ports.bus import EventBus
from tsunagi.settings import Settings
from tsunagi.web.i18n import Catalogues


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    relay: OutboxRelay
    hasher: PasswordHasher
    login_limiter: AttemptLimiter
    public_limiter: AttemptLimiter
    catalogues: Catalogues
    keyring: KeyRing


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services
