"""Knowledge web feature: article API, search and pages (issue 4)."""

from __future__ import annotations

from typing import Any

from tsunagi.web.knowledge import api, pages
from tsunagi.web.services import Services

ROUTES: list[Any] = [*api.ROUTES, *pages.ROUTES]


async def shutdown(services: Services) -> None:
    api.SUGGESTERS.pop(id(services), None)
