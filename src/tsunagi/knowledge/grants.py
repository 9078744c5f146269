"""Grants for knowledge resources, merged into ``tsunagi.domain.permissions.POLICY``.

* ``article`` — manuals, FAQ and scripts. Every staff role and client viewers read them
  (client viewers and customers only the ``public`` ones: the actions filter by
  visibility); supervisors, managers and administrators write and publish them.
* ``article.changes`` — the ``article.*`` events (titles of internal articles too): staff.
* ``knowledge_suggestion`` — category and article suggestions for a contact being
  wrapped up: the communicators and supervisors who wrap up contacts.
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)
_EDITORS = {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL}

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("article", Action.READ): {_C: Grant.ALL, **_EDITORS, _V: Grant.ALL},
    ("article", Action.CREATE): _EDITORS,
    ("article", Action.UPDATE): _EDITORS,
    ("article.changes", Action.READ): {_C: Grant.ALL, **_EDITORS},
    ("knowledge_suggestion", Action.READ): {_C: Grant.ALL, _S: Grant.ALL},
}
