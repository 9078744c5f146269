"""Figures web feature: KPI API, dashboards and exports (issue 6).

``startup`` starts the projector that folds contact events into the figures tables in
every process — in a child process of its own when ``figures_projector`` is ``"child"``
(decision 0012), else as a task here; the checkpoint lock keeps concurrent projectors from
folding twice. It also starts the scheduled-report sender (compare-and-set claims keep
concurrent senders from mailing a period twice).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tsunagi.actions.figures.projector import FiguresProjector
from tsunagi.actions.figures.report_sender import ReportSender
from tsunagi.adapters.child_process import ChildProcess
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
PROJECTORS: dict[int, FiguresProjector | ChildProcess] = {}
SENDERS: dict[int, ReportSender] = {}


def projector_process(database_url: str) -> ChildProcess:
    """The figures projector as a child process (``tsunagi.actions.figures.worker``)."""
    return ChildProcess(
        "figures projector",
        [sys.executable, "-m", "tsunagi.actions.figures.worker"],
        {
            **os.environ,
            "TSUNAGI_DATABASE_URL": database_url,
            "TSUNAGI_PARENT_PID": str(os.getpid()),
        },
    )


def projector_status(services: Services) -> tuple[bool, dict[str, Any]]:
    """(running, detail) of this app's projector, for the status page."""
    return describe(PROJECTORS.get(id(services)))


def describe(projector: FiguresProjector | ChildProcess | None) -> tuple[bool, dict[str, Any]]:
    """(running, detail) of a projector: where it folds and, for a child process, its pid
    (None between a death and the restart) and how many times it was started."""
    if not isinstance(projector, ChildProcess):
        return projector is not None, {"projector": "in process"}
    detail = {
        "projector": "child process",
        "projector_pid": projector.pid,
        "projector_starts": projector.starts,
    }
    return projector.running, detail


async def startup(services: Services) -> None:
    projector: FiguresProjector | ChildProcess
    if services.settings.figures_projector == "child":
        projector = projector_process(services.settings.effective_database_url)
    else:
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
