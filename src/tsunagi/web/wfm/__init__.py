"""Workforce planning web feature: forecast, staffing, schedule and budget API and pages
(issue 5). Plans are computed on demand from the figures or an uploaded history."""

from __future__ import annotations

from typing import Any

from tsunagi.web.wfm import api, pages

ROUTES: list[Any] = [*api.ROUTES, *pages.ROUTES]
