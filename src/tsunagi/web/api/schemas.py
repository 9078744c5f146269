"""Shared API schema settings: unknown fields are refused, never silently dropped."""

from __future__ import annotations

import msgspec


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body."""


class Output(msgspec.Struct, kw_only=True):
    """Base of every response body."""
