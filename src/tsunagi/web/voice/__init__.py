"""Voice web feature: call recordings (list, audited playback, a listening page) and the
tenant's recording retention period. The voice worker itself runs apart
(``tsunagi voice serve``); recordings reach the web through the shared sealed vault
under ``<data_dir>/recordings``."""

from __future__ import annotations

from typing import Any

from tsunagi.web.voice.recordings import ROUTES as RECORDING_ROUTES

ROUTES: list[Any] = [*RECORDING_ROUTES]
