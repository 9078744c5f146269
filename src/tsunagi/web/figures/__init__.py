"""Figures web feature: KPI API, dashboards and exports (issue 6)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
