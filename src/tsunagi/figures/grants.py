"""Grants for figure resources, merged into ``tsunagi.domain.permissions.POLICY``.

* ``figures`` — interval figures, dashboards, drill-down to the contacts behind a number
  and exports. Supervisors, managers and administrators of the center read them; a client
  viewer of an outsourced center reads its own tenant's (tenancy keeps other clients out).
  Communicators do not: per-communicator figures are for the people who coach them.
* ``figures.admin`` — rebuilding the aggregates from the events (administrators).
* ``survey_response`` — customers' survey answers (scores; comments opened with a reason,
  audited): the people who read the figures, but not client viewers (comments are
  personal data). ``survey_settings`` — which channels of a queue ask: read by
  supervisors, changed by managers and administrators. ``survey_invitation`` — sending a
  survey link to the customer of a contact: every staff role.
* ``report_schedule`` — figure reports mailed on a schedule (recipients are personal
  data, shown masked): read by supervisors, managers and administrators; created,
  changed, paused and deleted by managers and administrators.
* ``team`` — teams of communicators (figures by team): read by supervisors, managers and
  administrators; managed by managers and administrators.
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("figures", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL, _V: Grant.ALL},
    ("figures.admin", Action.UPDATE): {_A: Grant.ALL},
    ("survey_response", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("survey_settings", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("survey_settings", Action.UPDATE): {_M: Grant.ALL, _A: Grant.ALL},
    ("report_schedule", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("report_schedule", Action.CREATE): {_M: Grant.ALL, _A: Grant.ALL},
    ("report_schedule", Action.UPDATE): {_M: Grant.ALL, _A: Grant.ALL},
    ("report_schedule", Action.DELETE): {_M: Grant.ALL, _A: Grant.ALL},
    ("team", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("team", Action.CREATE): {_M: Grant.ALL, _A: Grant.ALL},
    ("team", Action.UPDATE): {_M: Grant.ALL, _A: Grant.ALL},
    ("team", Action.DELETE): {_M: Grant.ALL, _A: Grant.ALL},
    ("survey_invitation", Action.CREATE): {
        _C: Grant.ALL,
        _S: Grant.ALL,
        _M: Grant.ALL,
        _A: Grant.ALL,
    },
}
