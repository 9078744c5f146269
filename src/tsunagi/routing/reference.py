"""A brute-force statement of the queue discipline in :mod:`tsunagi.routing.policy`.

It scans every waiting contact or every agent for each decision, which makes it slow and
obviously right. Tests and the benchmark replay the same stream through both and require
identical choices. It keeps the same trigger order as :class:`~tsunagi.routing.policy.Router`.
"""

from __future__ import annotations

from tsunagi.routing.policy import AgentSlot, Assignment, Id, Need, WaitingContact


class ReferenceRouter:
    def __init__(self, *, priority_step_s: float = 60.0) -> None:
        self.priority_step_s = priority_step_s
        self.waiting: dict[Id, WaitingContact] = {}
        self.agents: dict[Id, AgentSlot] = {}
        self._agent_triggers: dict[Id, None] = {}
        self._contact_triggers: dict[Id, None] = {}
        self._seq = 0
        self._ordinal = 0

    def enqueue(self, contact_id: Id, need: Need, *, priority: int = 0, ranked_at: float) -> None:
        self.remove(contact_id)
        self._seq += 1
        key = ranked_at - priority * self.priority_step_s
        self.waiting[contact_id] = WaitingContact(
            contact_id, need, priority, ranked_at, key, self._seq
        )
        self._contact_triggers[contact_id] = None

    def remove(self, contact_id: Id) -> bool:
        self._contact_triggers.pop(contact_id, None)
        return self.waiting.pop(contact_id, None) is not None

    def set_agent(
        self,
        agent_id: Id,
        *,
        skills: dict[str, int],
        capacity: dict[str, int],
        ready: bool,
        load: dict[str, int] | None = None,
        idle_since: float = 0.0,
    ) -> None:
        slot = self.agents.get(agent_id)
        if slot is None:
            self._ordinal += 1
            slot = self.agents[agent_id] = AgentSlot(agent_id, self._ordinal, {}, {})
        slot.skills, slot.capacity, slot.ready = dict(skills), dict(capacity), ready
        slot.load, slot.idle_since = dict(load or {}), idle_since
        self._touch(slot)

    def remove_agent(self, agent_id: Id) -> None:
        self.agents.pop(agent_id, None)
        self._agent_triggers.pop(agent_id, None)

    def agent_ready(self, agent_id: Id, *, now: float) -> None:
        slot = self.agents[agent_id]
        if not slot.ready:
            slot.ready, slot.idle_since = True, now
            self._touch(slot)

    def agent_not_ready(self, agent_id: Id) -> None:
        self.agents[agent_id].ready = False
        self._agent_triggers.pop(agent_id, None)

    def release(self, agent_id: Id, channel: str, *, now: float) -> None:
        slot = self.agents[agent_id]
        if slot.load.get(channel, 0) <= 0:
            raise ValueError(f"agent {agent_id!r} holds nothing on {channel}")
        slot.load[channel] -= 1
        slot.idle_since = now
        self._touch(slot)

    def _touch(self, slot: AgentSlot) -> None:
        if slot.ready and any(slot.free_on(channel) for channel in slot.capacity):
            self._agent_triggers[slot.agent_id] = None
        else:
            self._agent_triggers.pop(slot.agent_id, None)

    def next_assignment(self) -> Assignment | None:
        while self._agent_triggers:
            agent_id = next(iter(self._agent_triggers))
            slot = self.agents.get(agent_id)
            eligible = [
                w for w in self.waiting.values() if slot is not None and eligible_for(slot, w.need)
            ]
            del self._agent_triggers[agent_id]
            if not eligible:
                continue
            assert slot is not None
            return self._assign(min(eligible, key=lambda w: (w.key, w.seq)), slot)
        while self._contact_triggers:
            contact_id = next(iter(self._contact_triggers))
            del self._contact_triggers[contact_id]
            waiting = self.waiting.get(contact_id)
            if waiting is None:
                continue
            need = waiting.need
            agents = [a for a in self.agents.values() if eligible_for(a, need)]
            if agents:
                best = min(agents, key=lambda a: a.rank(need.channel, need.skill))
                return self._assign(waiting, best)
        return None

    def _assign(self, waiting: WaitingContact, slot: AgentSlot) -> Assignment:
        del self.waiting[waiting.contact_id]
        self._contact_triggers.pop(waiting.contact_id, None)
        channel = waiting.need.channel
        slot.load[channel] = slot.load.get(channel, 0) + 1
        self._touch(slot)
        return Assignment(waiting.contact_id, slot.agent_id, channel)


def eligible_for(slot: AgentSlot, need: Need) -> bool:
    """Rule 2 of the discipline: ready, below capacity, and skilled or named."""
    if not slot.free_on(need.channel):
        return False
    if need.agents:
        return slot.agent_id in need.agents
    return need.skill in slot.skills and need.extras.issubset(slot.skills)
