"""FAQ bot web feature: its figures for supervisors and its per-queue setting (issue 8)."""

from __future__ import annotations

from typing import Any

from tsunagi.web.bot import api

ROUTES: list[Any] = [*api.ROUTES]
