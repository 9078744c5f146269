"""Grants for figure resources, merged into ``tsunagi.domain.permissions.POLICY``."""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {}
