"""Routing (ACD), pure: no I/O, no clock — times are passed in as plain seconds.

What to import:

* :class:`tsunagi.routing.policy.Router` and :class:`~tsunagi.routing.policy.Need` — the
  queue discipline over in-memory state: ``enqueue``, ``set_agent`` / ``agent_ready`` /
  ``agent_not_ready`` / ``release``, then ``next_assignment()`` until ``None``. The
  discipline is written in that module's docstring. The simulator uses this directly.
* :class:`tsunagi.routing.center.Center` — a whole center in memory (lifecycle, offers with
  timeouts, after-call work, transfers, crash recovery) on a caller-driven clock; the
  reference of the durable engine's rules, usable by the simulator for richer models.
* :mod:`tsunagi.routing.lifecycle` (contact states and allowed transitions),
  :mod:`tsunagi.routing.agents` (presence, states, reason codes, profiles),
  :mod:`tsunagi.routing.queues` (queue routing settings, business hours, admission),
  :mod:`tsunagi.routing.events` (the ``contact.*`` and ``agent.*`` events),
  :mod:`tsunagi.routing.reference` (the brute-force statement of the discipline).

The durable engine that applies these rules to the database is ``tsunagi.actions.routing``.
"""
