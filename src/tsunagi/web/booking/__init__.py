"""Web callback booking (issue 8, 電話予約(WEB)): the public booking pages and the staff
list and settings. See ``docs/architecture/booking.md``."""

from __future__ import annotations

from typing import Any

from tsunagi.web.booking import pages, staff

ROUTES: list[Any] = [*pages.ROUTES, *staff.ROUTES]
