"""SMS web feature: provider webhooks, the desk's reply endpoint, a queue's SMS number.

``startup`` makes the feature's HTTP client and the sender loop that retries queued
replies (see ``tsunagi.actions.sms``); ``shutdown`` stops both.
"""

from __future__ import annotations

from typing import Any

from tsunagi.web.services import Services
from tsunagi.web.sms.api import ROUTES as API_ROUTES
from tsunagi.web.sms.hooks import ROUTES as HOOK_ROUTES
from tsunagi.web.sms.sender import start_sender, stop_sender

ROUTES: list[Any] = [*HOOK_ROUTES, *API_ROUTES]


async def startup(services: Services) -> None:
    await start_sender(services)


async def shutdown(services: Services) -> None:
    await stop_sender(services)
