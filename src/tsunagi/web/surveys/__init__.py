"""Surveys (issue 6): the public answer page for email/SMS links, the chat widget's
survey after a chat, and the staff API (settings per queue, invitations, answers).
See ``docs/architecture/figures.md`` (Surveys)."""

from __future__ import annotations

from typing import Any

from tsunagi.web.surveys import api, pages, widget

ROUTES: list[Any] = [*pages.ROUTES, *widget.ROUTES, *api.ROUTES]
