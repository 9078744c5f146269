"""Hypothesis state machine over the whole routing model (:class:`tsunagi.routing.center.Center`).

Operations: contacts arrive (some VIP for a named agent), agents sign in, go ready / not
ready / sign out, accept, reject, hold, resume, end, close, transfer, escalate, abandon,
offers time out and wrap-ups end as the clock advances, a worker dies (``crash``: the
router is rebuilt from the durable facts) and an offer's lease is lost (``reclaim``).

After every step: no contact is lost (each in exactly one state, waiting iff queued, held
by exactly its agent iff offered/connected/on hold/wrap-up), none is held by two agents,
no agent exceeds a channel's capacity, and the state is stable (no waiting contact has an
eligible free agent). At every offer: the agent was ready with room on the channel, and
the contact was first in its line (FIFO within the same need and priority, with aging).
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tsunagi.domain.errors import ConflictError
from tsunagi.routing.agents import NotReadyReason, Presence
from tsunagi.routing.center import Center
from tsunagi.routing.lifecycle import HELD, TERMINAL, ContactState
from tsunagi.routing.policy import Assignment, Need
from tsunagi.routing.reference import eligible_for

PROFILES: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "A0": ({"a": 5}, {"voice": 1}),
    "A1": ({"a": 3, "b": 7}, {"voice": 1, "chat": 2}),
    "A2": ({"b": 4, "en": 6}, {"chat": 3}),
    "A3": ({"a": 8, "b": 1}, {"voice": 1, "chat": 1}),
    "SV": ({"escalation": 9}, {"voice": 1, "chat": 1}),
}

NEEDS = [
    Need("voice", "a"),
    Need("voice", "b"),
    Need("chat", "b"),
    Need("chat", "b", frozenset({"en"})),
    Need("voice", "a", agents=frozenset({"A3"})),  # VIP to a named agent
    Need("chat", "a"),
]
ESCALATION = {"voice": Need("voice", "escalation"), "chat": Need("chat", "escalation")}


class CheckedCenter(Center):
    """Checks every offer against the rules at the moment it is made."""

    def _offer(self, assignment: Assignment) -> None:
        agent = self.agents[assignment.agent_id]
        assert agent.presence is Presence.READY, "offer to an agent who is not ready"
        load = agent.load().get(assignment.channel, 0)
        assert load < agent.capacity.get(assignment.channel, 0), "offer beyond capacity"
        record = self.contacts[assignment.contact_id]
        assert record.state is ContactState.QUEUED
        need = record.need
        if need.agents:
            assert agent.agent_id in need.agents, "VIP contact offered to an agent not named"
        else:
            assert need.skill in agent.skills, "offer to an agent without the skill"
            assert need.extras <= agent.skills.keys(), "offer to an agent without an extra skill"
        key = record.ranked_at - record.priority * self.priority_step_s
        for other in self.router.waiting():
            if other.need == record.need:
                assert other.key >= key, "a contact was served before an earlier one in its line"
        super()._offer(assignment)


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.center = CheckedCenter(offer_timeout_s=15, acw_max_s=30)
        self.next_id = 0
        self.created: set[str] = set()

    def _pick(self, ids: list[str], index: int) -> str | None:
        return sorted(ids)[index % len(ids)] if ids else None

    def _in_state(self, *states: ContactState) -> list[str]:
        return [str(c.contact_id) for c in self.center.contacts.values() if c.state in states]

    @rule(need=st.sampled_from(NEEDS), priority=st.integers(0, 2))
    def arrive(self, need: Need, priority: int) -> None:
        self.next_id += 1
        contact_id = f"c{self.next_id:04d}"
        self.center.create(contact_id, need, priority=priority)
        self.created.add(contact_id)

    @rule(agent=st.sampled_from(sorted(PROFILES)))
    def sign_in_and_ready(self, agent: str) -> None:
        skills, capacity = PROFILES[agent]
        self.center.sign_in(agent, skills, capacity)
        self.center.set_ready(agent)

    @rule(agent=st.sampled_from(sorted(PROFILES)), reason=st.sampled_from(list(NotReadyReason)))
    def not_ready(self, agent: str, reason: NotReadyReason) -> None:
        if (
            agent in self.center.agents
            and self.center.agents[agent].presence is not Presence.SIGNED_OUT
        ):
            self.center.set_not_ready(agent, reason)

    @rule(agent=st.sampled_from(sorted(PROFILES)))
    def sign_out(self, agent: str) -> None:
        if agent not in self.center.agents:
            return
        busy = any(
            self.center.contacts[c].state is not ContactState.OFFERED
            for c in self.center.agents[agent].held
        )
        try:
            self.center.sign_out(agent)
        except ConflictError:
            assert busy
        else:
            assert not busy

    @rule(index=st.integers(0, 100), accept=st.booleans())
    def answer_offer(self, index: int, accept: bool) -> None:
        contact_id = self._pick(self._in_state(ContactState.OFFERED), index)
        if contact_id is None:
            return
        agent_id = self.center.contacts[contact_id].agent_id
        if accept:
            self.center.accept(contact_id, agent_id)
        else:
            self.center.reject(contact_id, agent_id)
            assert self.center.agents[agent_id].presence is not Presence.READY

    @rule(index=st.integers(0, 100))
    def hold_or_resume(self, index: int) -> None:
        contact_id = self._pick(self._in_state(ContactState.CONNECTED, ContactState.ON_HOLD), index)
        if contact_id is None:
            return
        record = self.center.contacts[contact_id]
        if record.state is ContactState.CONNECTED:
            self.center.hold(contact_id, record.agent_id)
        else:
            self.center.resume(contact_id, record.agent_id)

    @rule(index=st.integers(0, 100))
    def end_conversation(self, index: int) -> None:
        contact_id = self._pick(self._in_state(ContactState.CONNECTED, ContactState.ON_HOLD), index)
        if contact_id is not None:
            self.center.end(contact_id, self.center.contacts[contact_id].agent_id)

    @rule(index=st.integers(0, 100))
    def close_wrap_up(self, index: int) -> None:
        contact_id = self._pick(self._in_state(ContactState.WRAP_UP), index)
        if contact_id is not None:
            self.center.close(contact_id, self.center.contacts[contact_id].agent_id)

    @rule(index=st.integers(0, 100), to=st.sampled_from([*NEEDS, None]))
    def transfer(self, index: int, to: Need | None) -> None:
        contact_id = self._pick(self._in_state(ContactState.CONNECTED, ContactState.ON_HOLD), index)
        if contact_id is None:
            return
        record = self.center.contacts[contact_id]
        need = to if to is not None else ESCALATION[record.need.channel]
        if need.channel != record.need.channel:
            need = need._replace(channel=record.need.channel)
        self.center.transfer(contact_id, record.agent_id, need)
        # Queued again, or already offered (possibly back to the same agent if only they fit).
        assert record.state in (ContactState.QUEUED, ContactState.OFFERED)
        assert ContactState.QUEUED in [state for _, state in record.history[-2:]]

    @rule(index=st.integers(0, 100))
    def abandon(self, index: int) -> None:
        contact_id = self._pick(self._in_state(ContactState.QUEUED, ContactState.OFFERED), index)
        if contact_id is not None:
            self.center.abandon(contact_id)

    @rule(seconds=st.sampled_from([0.5, 5.0, 14.0, 16.0, 31.0, 120.0]))
    def advance(self, seconds: float) -> None:
        self.center.advance(seconds)
        for record in self.center.contacts.values():
            if record.state is ContactState.OFFERED:
                assert record.offer_expires_at is not None
                assert record.offer_expires_at > self.center.now
            if record.state is ContactState.WRAP_UP:
                assert record.wrap_up_until is not None
                assert record.wrap_up_until > self.center.now

    @rule()
    def crash(self) -> None:
        self.center.crash()

    @rule(index=st.integers(0, 100))
    def lose_lease(self, index: int) -> None:
        contact_id = self._pick(self._in_state(ContactState.OFFERED), index)
        if contact_id is not None:
            agent_id = self.center.contacts[contact_id].agent_id
            presence = self.center.agents[agent_id].presence
            self.center.reclaim(contact_id)
            assert self.center.agents[agent_id].presence is presence  # nobody blamed

    @invariant()
    def nothing_lost_or_doubled(self) -> None:
        center = self.center
        assert set(map(str, center.contacts)) == self.created
        holders: Counter[str] = Counter()
        for agent in center.agents.values():
            for contact_id in agent.held:
                holders[str(contact_id)] += 1
                assert center.contacts[contact_id].agent_id == agent.agent_id
        assert all(count == 1 for count in holders.values()), "a contact held by two agents"
        for contact_id, record in center.contacts.items():
            assert center.router.is_waiting(contact_id) == (record.state is ContactState.QUEUED)
            assert (str(contact_id) in holders) == (record.state in HELD)
            if record.state in TERMINAL:
                assert record.agent_id is None
            assert record.history[-1][1] == record.state

    @invariant()
    def capacity_respected(self) -> None:
        for agent in self.center.agents.values():
            for channel, load in agent.load().items():
                assert load <= agent.capacity.get(channel, 0)
            slot = self.center.router.agent(agent.agent_id)
            if slot is not None:
                held = agent.load()
                assert all(slot.load.get(c, 0) == held.get(c, 0) for c in slot.load.keys() | held)
                assert slot.ready == (agent.presence is Presence.READY)

    @invariant()
    def stable(self) -> None:
        router = self.center.router
        for waiting in router.waiting():
            for slot in router.agents():
                assert not eligible_for(slot, waiting.need), (
                    f"{waiting.contact_id} waits although {slot.agent_id} could take it"
                )


TestRoutingMachine = RoutingMachine.TestCase
TestRoutingMachine.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
