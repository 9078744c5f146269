"""Figures web feature: KPI API, dashboards and exports (issue 6).

``startup`` starts the projector that folds contact events into the figures tables in
every process; the checkpoint lock keeps concurrent projectors from folding twice. It
also starts the scheduled-report sender (compare-and-set claims keep concurrent senders
from mailing a period twice).
"""

from __future__ import annotations

from typing import Any

from tsunagi.actions.figures.projector import FiguresProjector
from tsunagi.actions.figures.report_sender import ReportSender
from tsunagi.web.figures import api, pages, schedules, tables, teams, voc
from tsunagi.web.services import Services

ROUTES: list[Any] = [
    *api.ROUTES,
    *pages.ROUTES,
    *voc.ROUTES,
    *schedules.ROUTES,
    *teams.ROUTES,
    *tables.ROUTES,
]

# One projector and one report sender per running app (keyed by its Services).
PROJECTORS: dict[int, FiguresProjector] = {}
SENDERS: dict[int, ReportSender] = {}


async def startup(services: Services) -> None:
    projector = FiguresProjector(services.db)
    PROJECTORS[id(services)] = projector
    await projector.start()
    sender = ReportSender(services.db, services.keyring)
    SENDERS[id(services)] = sender
    await sender.start()


async def shutdown(services: Services) -> None:
    sender = SENDERS.pop(id(services), None)
    if sender is not None:
        await sender.stop()
    projector = PROJECTORS.pop(id(services), None)
    if projector is not None:
        await projector.stop()
