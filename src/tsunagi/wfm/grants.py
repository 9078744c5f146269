"""Grants for workforce planning, merged into ``tsunagi.domain.permissions.POLICY``.

* ``wfm`` — forecasts, staffing, shift schedules and budgets computed from the center's
  figures or an uploaded history. Plans are computed on demand and never stored, so
  every planning call, even a POST with the plan's inputs, is a read. Supervisors and
  managers plan; administrators may too. Communicators and client viewers do not: the
  history behind a plan is the center's own figures.
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("wfm", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
}
