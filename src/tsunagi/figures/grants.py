"""Grants for figure resources, merged into ``tsunagi.domain.permissions.POLICY``.

* ``figures`` — interval figures, dashboards, drill-down to the contacts behind a number
  and exports. Supervisors, managers and administrators of the center read them; a client
  viewer of an outsourced center reads its own tenant's (tenancy keeps other clients out).
  Communicators do not: per-communicator figures are for the people who coach them.
* ``figures.admin`` — rebuilding the aggregates from the events (administrators).
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("figures", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL, _V: Grant.ALL},
    ("figures.admin", Action.UPDATE): {_A: Grant.ALL},
}
