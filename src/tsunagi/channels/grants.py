"""Grants for the written channels, merged into ``tsunagi.domain.permissions.POLICY``.

* ``conversation`` — transcripts of chat, email and SMS contacts. Communicators read and
  write the conversations of contacts they hold or held (the actions check the holder:
  ``own``); supervisors, managers and administrators read all; supervisors also write
  (they take escalations). Its events carry no text.
* ``channel_account`` — mailboxes and SMS numbers of queues: administrators.
* ``callback_booking`` — web callback bookings (names and numbers opened, audited):
  supervisors, managers and administrators list and cancel them.
* ``booking_settings`` — a queue's booking settings: supervisors and managers read them,
  managers and administrators change them.
* ``bot`` — the FAQ bot's figures (hand-over rate, share resolved): supervisors,
  managers and administrators. ``bot_settings`` — a queue's bot switch, threshold and
  turn limit: supervisors and managers read them, administrators change them.
"""

from __future__ import annotations

from tsunagi.domain.permission_types import Action, Grant, Role

_C, _S, _M, _A, _V = tuple(Role)

GRANTS: dict[tuple[str, Action], dict[Role, Grant]] = {
    ("conversation", Action.READ): {_C: Grant.OWN, _S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("conversation", Action.UPDATE): {_C: Grant.OWN, _S: Grant.ALL, _A: Grant.ALL},
    ("channel_account", Action.READ): {_A: Grant.ALL},
    ("channel_account", Action.CREATE): {_A: Grant.ALL},
    ("channel_account", Action.UPDATE): {_A: Grant.ALL},
    ("chat_widget", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("chat_widget", Action.CREATE): {_A: Grant.ALL},
    ("chat_widget", Action.UPDATE): {_A: Grant.ALL},
    ("callback_booking", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("callback_booking", Action.DELETE): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("booking_settings", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("booking_settings", Action.UPDATE): {_M: Grant.ALL, _A: Grant.ALL},
    ("bot", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("bot_settings", Action.READ): {_S: Grant.ALL, _M: Grant.ALL, _A: Grant.ALL},
    ("bot_settings", Action.UPDATE): {_A: Grant.ALL},
}
