"""Domain errors. The web layer maps each to one HTTP status; the CLI prints the message."""

from __future__ import annotations


class TsunagiError(Exception):
    """Base of every error Tsunagi raises on purpose."""


class NotFoundError(TsunagiError):
    """The thing does not exist in the caller's tenant (also used to hide other tenants' data)."""


class PermissionDeniedError(TsunagiError):
    """The principal may not do this."""


class AuthenticationError(TsunagiError):
    """The credentials are wrong or missing."""


class ConflictError(TsunagiError):
    """The change conflicts with existing state (duplicate, stale version, illegal transition)."""


class InvalidInputError(TsunagiError):
    """The input is well-formed but not acceptable; the message names the field."""


class TenantScopeMissingError(TsunagiError):
    """Data access was attempted without a tenant scope: fail closed."""
