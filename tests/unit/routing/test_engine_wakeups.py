"""The routing engine wakes for routing events only (a chat message does not make it read
the outbox), and for anything it cannot tell."""

from __future__ import annotations

import uuid

from tsunagi.actions.routing.engine import ROUTING_TYPES, concerns_routing
from tsunagi.adapters.relay import envelope


def test_routing_events_wake_the_engine_and_others_do_not() -> None:
    for kind in ROUTING_TYPES:
        assert concerns_routing(envelope(1, uuid.uuid4(), f'{{"type":"{kind}","a":1}}'))
    for kind in ("conversation.message_added", "email.status_changed", "article.created"):
        assert not concerns_routing(envelope(1, uuid.uuid4(), f'{{"type":"{kind}","a":1}}'))


def test_an_envelope_it_cannot_read_wakes_it() -> None:
    assert concerns_routing(b"{}")
    assert concerns_routing(b'{"event":{"type":"contact.que')
