"""Voice web feature: the desk softphone's credential, placing outbound calls, call
recordings (list, audited playback, a listening page) and the tenant's recording
retention period. The voice worker itself
runs apart (``tsunagi voice serve``): placed calls reach it as contacts, recordings come
back through the shared sealed vault under ``<data_dir>/recordings``."""

from __future__ import annotations

from typing import Any

from tsunagi.web.voice.calls import ROUTES as CALL_ROUTES
from tsunagi.web.voice.recordings import ROUTES as RECORDING_ROUTES
from tsunagi.web.voice.softphone import ROUTES as SOFTPHONE_ROUTES

ROUTES: list[Any] = [*RECORDING_ROUTES, *CALL_ROUTES, *SOFTPHONE_ROUTES]
