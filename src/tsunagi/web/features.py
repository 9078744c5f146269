"""Feature packages plug into the app here: routes plus optional start/stop hooks.

A feature is a module that defines ``ROUTES`` (route handlers, each with an ``authz`` opt)
and may define ``async def startup(services)`` and ``async def shutdown(services)``, run in
the app's lifespan after the bus and relay start and before they stop.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

from tsunagi.web.services import Services

FEATURE_MODULES: tuple[str, ...] = (
    "tsunagi.web.routing",
    "tsunagi.web.knowledge",
    "tsunagi.web.figures",
    "tsunagi.web.booking",
    "tsunagi.web.wfm",
    "tsunagi.web.channels",
    "tsunagi.web.bot",
    "tsunagi.web.sms",
    "tsunagi.web.email",
    "tsunagi.web.surveys",
    "tsunagi.web.voice",
)

Hook = Callable[[Services], Awaitable[None]]


def load_features(names: Sequence[str] = FEATURE_MODULES) -> list[ModuleType]:
    return [importlib.import_module(name) for name in names]


def feature_routes(features: Sequence[ModuleType]) -> list[Any]:
    return [handler for feature in features for handler in getattr(feature, "ROUTES", [])]


def feature_hooks(features: Sequence[ModuleType], name: str) -> list[Hook]:
    return [hook for feature in features if (hook := getattr(feature, name, None)) is not None]
