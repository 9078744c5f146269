"""Grants for routing resources, merged into the table of ``tsunagi.domain.permissions``.

* ``contact`` — contacts in the routing engine. Channel adapters and integrations create
  them with an API token (``contact:create``); communicators act on their own offers and
  contacts (the engine checks that the contact is theirs); supervisors on any.
* ``agent`` — agents' routing state: a communicator changes their own (ready, break…),
  a supervisor anyone's.
* ``floor`` — the live wallboard and floor figures; ``floor.supervisor`` — the supervisor
  floor page (act on agents and waiting contacts); ``desk`` — a communicator's desk page.
* ``routing_settings`` — skills/capacities of agents and queue routing settings.
* ``follow_up`` — tasks left at wrap-up. A communicator reads and closes their own and
  their queues' (the action checks the owner), and creates them; supervisors any.
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("contact", Action.READ): {_C: Grant.ALL, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("contact", Action.CREATE): {_C: Grant.ALL, _S: Grant.ALL, _A: Grant.ALL},
    ("contact", Action.UPDATE): {_C: Grant.OWN, _S: Grant.ALL, _A: Grant.ALL},
    ("agent", Action.READ): {_C: Grant.ALL, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("agent", Action.UPDATE): {_C: Grant.OWN, _S: Grant.ALL, _A: Grant.ALL},
    ("floor", Action.READ): {_C: Grant.ALL, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("floor.supervisor", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("desk", Action.READ): {_C: Grant.ALL, _S: Grant.ALL},
    ("routing_settings", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("routing_settings", Action.UPDATE): {_A: Grant.ALL},
    ("follow_up", Action.READ): {_C: Grant.OWN, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("follow_up", Action.CREATE): {_C: Grant.ALL, _S: Grant.ALL, _A: Grant.ALL},
    ("follow_up", Action.UPDATE): {_C: Grant.OWN, _S: Grant.ALL, _A: Grant.ALL},
}
