"""Knowledge web feature: article API, search and pages (issue 4)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
