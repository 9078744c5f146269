"""Web chat feature: the embeddable widget's public endpoints and the staff side of
conversations (REST + live sockets). See docs/architecture/channels.md."""

from __future__ import annotations

from typing import Any

from tsunagi.web.channels import help_pages, staff, widget

ROUTES: list[Any] = [*widget.ROUTES, *staff.ROUTES, *help_pages.ROUTES]

__all__ = ["ROUTES"]
