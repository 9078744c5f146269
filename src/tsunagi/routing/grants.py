"""Grants for routing resources, merged into the table of ``tsunagi.domain.permissions``."""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {}
