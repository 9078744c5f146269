"""The words of the authorization table: roles, actions, grants."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    COMMUNICATOR = "communicator"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMINISTRATOR = "administrator"
    CLIENT_VIEWER = "client_viewer"


class Action(enum.StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SUBSCRIBE = "subscribe"


class Grant(enum.StrEnum):
    ALL = "all"
    OWN = "own"
