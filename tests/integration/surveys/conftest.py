"""The survey tests reuse the live routing floor (the figures fold its events) and the
channels tests' keyring."""

from __future__ import annotations

from integration.channels.conftest import keyring
from integration.routing.conftest import floor

__all__ = ["floor", "keyring"]
