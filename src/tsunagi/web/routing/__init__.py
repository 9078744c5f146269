"""Routing (ACD) web feature: REST API, floor pages and engine workers (issue 3)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
