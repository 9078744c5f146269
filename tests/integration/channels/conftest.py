"""Channels tests reuse the live routing floor (SQLite + memory bus, PostgreSQL + Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration.routing.conftest import floor
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing

__all__ = ["floor", "keyring"]


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))
