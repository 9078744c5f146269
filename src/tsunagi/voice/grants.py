"""Grants for call recordings, merged into ``tsunagi.domain.permissions.POLICY``.

* ``recording`` — listening to a call's recording (every playback is audited). A
  communicator hears the calls they handled (owner = the contact's agent); supervisors,
  managers and administrators hear any call of the center (coaching, quality, disputes).
  Client viewers do not: recordings are personal data.
* ``call`` — placing an outbound call (click-to-call, or a system through the API): a
  communicator for themselves, supervisors, managers and administrators for anyone.
  ``call`` update — acting on a live call from the web (pausing its recording while
  payment details are read out): the communicator on the call, or a supervisor.
* ``call_monitor`` — listening to, whispering into or barging into a live call from
  the supervisor's phone: supervisors, managers, administrators.
* ``softphone`` — a credential for the desk's browser softphone (create), and the desk
  phone's password (read), always for oneself (the SIP edge registers the signed-in user's
  own name only): every role that takes calls.
* ``recording_policy`` — the tenant's retention period: read by the people who listen,
  changed by administrators.
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("recording", Action.READ): {_C: Grant.OWN, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("call", Action.CREATE): {_C: Grant.OWN, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("call", Action.UPDATE): {_C: Grant.OWN, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("call_monitor", Action.CREATE): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("softphone", Action.CREATE): {_C: Grant.OWN, _S: Grant.OWN, _M: Grant.OWN, _A: Grant.OWN},
    ("softphone", Action.READ): {_C: Grant.OWN, _S: Grant.OWN, _M: Grant.OWN, _A: Grant.OWN},
    ("recording_policy", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("recording_policy", Action.UPDATE): {_A: Grant.ALL},
}
