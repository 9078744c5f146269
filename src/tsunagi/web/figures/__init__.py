"""Figures web feature: KPI API, dashboards and exports (issue 6).

``startup`` starts the projector that folds contact events into the figures tables in
every process; the checkpoint lock keeps concurrent projectors from folding twice.
"""

from __future__ import annotations

from typing import Any

from tsunagi.actions.figures.projector import FiguresProjector
from tsunagi.web.figures import api, pages, voc
from tsunagi.web.services import Services

ROUTES: list[Any] = [*api.ROUTES, *pages.ROUTES, *voc.ROUTES]

# One projector per running app (keyed by its Services).
PROJECTORS: dict[int, FiguresProjector] = {}


async def startup(services: Services) -> None:
    projector = FiguresProjector(services.db)
    PROJECTORS[id(services)] = projector
    await projector.start()


async def shutdown(services: Services) -> None:
    projector = PROJECTORS.pop(id(services), None)
    if projector is not None:
        await projector.stop()
